package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.elf.CoreFile;
import java.io.Closeable;
import java.io.IOException;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Everything the formats need about one guest, found in one process core: its memory, platform, VMCOREINFO and
 * what we learnt about the QEMU that held it. Immutable and thread-safe.
 *
 * @param memory      guest RAM blocks over the core
 * @param platform    guest architecture, byte order and page size
 * @param vmcoreinfo  the guest kernel's VMCOREINFO note, if found
 * @param qemuVersion QEMU's version string, if found in the core
 * @param vcpuFinder  finds the vCPUs on first use ({@link #vcpus()}): a mount lists its files before anything
 *                    asks for the notes, so start-up does not wait for the scan of QEMU's heap
 * @param blocksSource how the blocks were obtained: "discovered (layout …)" or "from FILE"
 */
public record GuestDump(GuestMemory memory, GuestPlatform platform, Optional<VmcoreInfo> vmcoreinfo,
        Optional<String> qemuVersion, Supplier<Vcpus> vcpuFinder, String blocksSource) implements Closeable {

    public GuestDump {
        vcpuFinder = once(Objects.requireNonNull(vcpuFinder, "vcpuFinder"));
    }

    /** A dump whose vCPUs are already known. */
    public GuestDump(GuestMemory memory, GuestPlatform platform, Optional<VmcoreInfo> vmcoreinfo,
            Optional<String> qemuVersion, Vcpus vcpus, String blocksSource) {
        this(memory, platform, vmcoreinfo, qemuVersion, () -> vcpus, blocksSource);
    }

    /**
     * Returns the vCPUs and their registers, or why they were not found; found on the first call (tens of
     * milliseconds), then the same value. Never throws: a failure to read the core is a reason like any other.
     */
    public Vcpus vcpus() {
        return vcpuFinder.get();
    }

    public CoreFile core() {
        return memory.core();
    }

    @Override
    public void close() throws IOException {
        memory.core().close();
    }

    /** Returns {@code s} computed at most once, thread-safe; a thrown exception becomes the reason. */
    private static Supplier<Vcpus> once(Supplier<Vcpus> s) {
        if (s instanceof Once) {
            return s;
        }
        return new Once(s);
    }

    private static final class Once implements Supplier<Vcpus> {
        private final Supplier<Vcpus> find;
        /** Written once under the lock, read without it: Vcpus is immutable, so publication via volatile is safe. */
        private volatile Vcpus found;

        Once(Supplier<Vcpus> find) {
            this.find = find;
        }

        @Override
        public Vcpus get() {
            Vcpus v = found;
            if (v == null) {
                // One finder at a time: concurrent first readers (FUSE threads) wait for the one scan.
                synchronized (this) {
                    v = found;
                    if (v == null) {
                        try {
                            v = find.get();
                        } catch (RuntimeException e) {
                            v = Vcpus.none("vCPU discovery failed: " + e.getMessage());
                        }
                        found = v;
                    }
                }
            }
            return v;
        }
    }
}

package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.ProcessCore;
import java.nio.ByteOrder;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the {@link GuestPlatform} of the guest in a QEMU process core: the architecture from the QEMU executable
 * (each target is its own binary, qemu-system-TARGET), the page size from the guest's VMCOREINFO.
 *
 * <p>The host process's own structures (AddressSpace, RAMBlock, …) look the same whatever the target, so a core of
 * an unknown target would otherwise yield dump files labelled with the wrong machine: we refuse it instead.
 */
public final class PlatformFinder {

    /** Architectures whose dump files we can write correctly today. */
    static final Set<GuestArch> SERVED = EnumSet.of(GuestArch.X86_64);

    private static final Pattern QEMU_SYSTEM = Pattern.compile("qemu-system-([A-Za-z0-9_]+)");

    private PlatformFinder() {
    }

    /** The architecture and why we believe it. */
    public record ArchEvidence(GuestArch arch, String evidence) {

        /**
         * Returns the byte order the guest runs in, as far as the architecture tells before the guest's own data is
         * read: s390x is big-endian only; the others QEMU serves here run little-endian guests.
         */
        public ByteOrder byteOrder() {
            return arch == GuestArch.S390X ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
        }
    }

    /**
     * Returns the guest's architecture from the executable's name (NT_FILE), or from the process name when the core
     * lacks NT_FILE.
     *
     * @throws BadCoreException UNSUPPORTED for a QEMU target we do not serve (riscv64, …)
     */
    public static ArchEvidence arch(ProcessCore core) {
        Optional<String> exe = core.executablePath();
        String name = exe.map(p -> p.substring(p.lastIndexOf('/') + 1)).or(core::programName).orElse("");
        Matcher m = QEMU_SYSTEM.matcher(name);
        if (m.find()) {
            String target = m.group(1);
            for (GuestArch a : GuestArch.values()) {
                if (a.qemuTarget.equals(target)) {
                    return served(core, new ArchEvidence(a, "executable " + name));
                }
            }
            // NT_PRPSINFO's pr_fname keeps 15 characters: "qemu-system-aar"
            if (exe.isEmpty()) {
                for (GuestArch a : GuestArch.values()) {
                    if (a.qemuTarget.startsWith(target) && target.length() >= 3) {
                        return served(core, new ArchEvidence(a, "process name " + name));
                    }
                }
            }
            throw new BadCoreException(Kind.UNSUPPORTED, core.path(), "core of " + name + ": " + target
                    + " guests are not supported (supported: " + supportedList() + ")");
        }
        // qemu-kvm (RHEL), kvm, or a renamed binary: KVM runs guests of the host's own architecture only, and a core
        // of any other program fails discovery later with its own message.
        return new ArchEvidence(GuestArch.X86_64, name.isEmpty() ? "an x86_64 host process"
                : "executable " + name + " on an x86_64 host");
    }

    /**
     * Returns the platform: {@code arch} with its byte order and the page size from {@code vmcoreinfo} (PAGESIZE),
     * else the architecture's usual one.
     */
    public static GuestPlatform platform(ArchEvidence arch, Optional<VmcoreInfo> vmcoreinfo) {
        ByteOrder order = arch.byteOrder();
        int pageSize = vmcoreinfo.map(v -> v.pageSize(arch.arch().defaultPageSize))
                .orElse(arch.arch().defaultPageSize);
        if (Integer.bitCount(pageSize) != 1 || pageSize < 512 || pageSize > (1 << 20)) {
            pageSize = arch.arch().defaultPageSize;
        }
        return new GuestPlatform(arch.arch(), order, pageSize, arch.evidence());
    }

    private static ArchEvidence served(ProcessCore core, ArchEvidence a) {
        if (!SERVED.contains(a.arch())) {
            throw new BadCoreException(Kind.UNSUPPORTED, core.path(), "core of a " + a.arch().qemuTarget
                    + " guest (" + a.evidence() + "): only " + supportedList() + " guests are supported");
        }
        return a;
    }

    private static String supportedList() {
        return String.join(", ", SERVED.stream().map(a -> a.qemuTarget).toList());
    }
}

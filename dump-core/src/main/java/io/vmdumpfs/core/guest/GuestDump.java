package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.elf.CoreFile;
import java.io.Closeable;
import java.io.IOException;
import java.util.Optional;

/**
 * Everything the formats need about one guest, found in one process core: its memory, platform, VMCOREINFO and
 * what we learnt about the QEMU that held it. Immutable and thread-safe.
 *
 * @param memory      guest RAM blocks over the core
 * @param platform    guest architecture, byte order and page size
 * @param vmcoreinfo  the guest kernel's VMCOREINFO note, if found
 * @param qemuVersion QEMU's version string, if found in the core
 * @param vcpus       the vCPUs and their registers, or why they were not found
 * @param blocksSource how the blocks were obtained: "discovered (layout …)" or "from FILE"
 */
public record GuestDump(GuestMemory memory, GuestPlatform platform, Optional<VmcoreInfo> vmcoreinfo,
        Optional<String> qemuVersion, Vcpus vcpus, String blocksSource) implements Closeable {

    public CoreFile core() {
        return memory.core();
    }

    @Override
    public void close() throws IOException {
        memory.core().close();
    }
}

package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.Elf64Phdr;
import io.vmdumpfs.core.elf.ProcessCore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/** Opens a QEMU process core as a {@link GuestDump}: reads the ELF core, finds guest RAM and VMCOREINFO. */
public final class GuestDumps {

    private GuestDumps() {
    }

    /**
     * Opens {@code core}. With {@code blocksFile}, the block table is read from that file (blocks.txt format)
     * instead of being discovered.
     *
     * @throws BadCoreException with a one-line message naming the file and the problem
     */
    public static GuestDump open(Path core, Optional<Path> blocksFile) {
        return open(core, blocksFile, false);
    }

    /**
     * Opens {@code core} as {@link #open(Path, Optional)} does; with {@code withQemuFacts} also looks for QEMU's
     * version ({@link QemuFacts}), which costs a scan of QEMU's heap.
     */
    public static GuestDump open(Path core, Optional<Path> blocksFile, boolean withQemuFacts) {
        ProcessCore pc = ProcessCore.open(core);
        try {
            PlatformFinder.ArchEvidence arch = PlatformFinder.arch(pc);
            requireComplete(pc);
            List<GuestPhysBlock> blocks;
            String source;
            long heapHint = 0;
            if (blocksFile.isPresent()) {
                blocks = readBlocksFile(blocksFile.get());
                for (GuestPhysBlock b : blocks) {
                    if (b.fileOffset() < 0 || Long.compareUnsigned(b.fileOffset() + b.size(), pc.file().size()) > 0) {
                        throw new BadCoreException(Kind.CORRUPT, blocksFile.get(), "block " + b.name() + " at core offset 0x"
                                + Long.toHexString(b.fileOffset()) + " lies beyond the end of " + core);
                    }
                }
                source = "from " + blocksFile.get();
            } else {
                RamDiscovery.Result r = RamDiscovery.discover(pc);
                blocks = r.blocks();
                heapHint = r.addressSpaceVaddr();
                source = "discovered (" + r.layout().name() + ", AddressSpace at 0x"
                        + Long.toHexString(r.addressSpaceVaddr()) + ")";
            }
            GuestMemory memory = new GuestMemory(pc.file(), blocks);
            Optional<VmcoreInfo> vmcoreinfo = VmcoreInfoFinder.find(pc, memory, heapHint, arch.byteOrder());
            // Costs a scan of QEMU's heap (tens of MiB): only for those who ask, not on every mount.
            Optional<String> version = withQemuFacts ? QemuFacts.version(pc, heapHint) : Optional.empty();
            // Found when first asked for (the notes, status, info): a scan of QEMU's heap that stops at the first
            // mapping holding a vCPU, a few MiB whatever the guest's size. pc stays reachable for it; its file is
            // the dump's, closed with the dump.
            long hint = heapHint;
            Supplier<Vcpus> vcpus = () -> VcpuDiscovery.discover(pc, arch.arch(), hint);
            return new GuestDump(memory, PlatformFinder.platform(arch, vmcoreinfo), vmcoreinfo, version, vcpus,
                    source);
        } catch (RuntimeException e) {
            try {
                pc.close();
            } catch (IOException ignored) {
                // the original error is the one to report
            }
            throw e;
        }
    }

    /** Rejects a core whose segments promise more data than the file holds: it was cut short while written. */
    static void requireComplete(ProcessCore pc) {
        long need = 0;
        for (Elf64Phdr ph : pc.loads()) {
            if (ph.pFilesz() > 0) {
                need = Math.max(need, ph.pOffset() + ph.pFilesz());
            }
        }
        if (need > pc.file().size()) {
            throw new BadCoreException(Kind.CORRUPT, pc.path(), "core is truncated: " + pc.file().size()
                    + " bytes, but its program headers describe " + need + " bytes");
        }
    }

    private static List<GuestPhysBlock> readBlocksFile(Path file) {
        try {
            return BlocksText.parse(file, Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new BadCoreException(Kind.IO, file, "cannot read block table: " + e.getMessage(), e);
        }
    }
}

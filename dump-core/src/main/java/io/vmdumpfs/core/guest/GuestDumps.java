package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.ProcessCore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Opens a QEMU process core as a {@link GuestDump}: reads the ELF core, finds guest RAM and VMCOREINFO. A core that
 * holds only part of the guest's RAM (cut short, or a mapping without data) is opened for that part; the rest is
 * {@link GuestMemory#absent() absent}, and every format leaves it out.
 */
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
            GuestMemory memory;
            String source;
            long heapHint = 0;
            if (blocksFile.isPresent()) {
                memory = fromBlocksFile(pc, blocksFile.get());
                source = "from " + blocksFile.get();
            } else {
                // A core cut short is served for what it holds: discovery lists the RAM past the cut as absent, and
                // fails (saying the core is truncated) only when QEMU's own structures or all of the RAM are gone.
                RamDiscovery.Result r = RamDiscovery.discover(pc);
                memory = new GuestMemory(pc.file(), r.blocks(), r.absent());
                heapHint = r.addressSpaceVaddr();
                source = "discovered (" + r.layout().name() + ", AddressSpace at 0x"
                        + Long.toHexString(r.addressSpaceVaddr()) + ")";
            }
            Optional<VmcoreInfo> vmcoreinfo = VmcoreInfoFinder.find(pc, memory, heapHint);
            GuestPlatform platform = PlatformFinder.platform(pc.path(), arch, vmcoreinfo, memory.blocks());
            // Only now is the guest's page size known: a page the core holds only part of is absent as a whole.
            memory = memory.withWholePages(platform.pageSize());
            if (memory.blocks().isEmpty()) {
                throw new BadCoreException(Kind.MISSING, pc.path(), "not one whole guest page is in the core ("
                        + RamCoverage.summary(memory) + ")");
            }
            // Costs a scan of QEMU's heap (tens of MiB): only for those who ask, not on every mount.
            Optional<String> version = withQemuFacts ? QemuFacts.version(pc, heapHint) : Optional.empty();
            // Found when first asked for (the notes, status, info): a scan of QEMU's heap that stops at the first
            // mapping holding a vCPU, a few MiB whatever the guest's size. pc stays reachable for it; its file is
            // the dump's, closed with the dump. The register layout is the executable's target's (an i386 guest of
            // qemu-system-x86_64 has x86_64 CPU structures), not the guest platform's.
            long hint = heapHint;
            GuestMemory ram = memory;
            Supplier<Vcpus> vcpus = () -> VcpuDiscovery.discover(pc, arch.arch(), hint, ram);
            return new GuestDump(memory, platform, vmcoreinfo, version, vcpus, source);
        } catch (RuntimeException e) {
            try {
                pc.close();
            } catch (IOException ignored) {
                // the original error is the one to report
            }
            throw e;
        }
    }

    /**
     * Returns the memory a block table names. A block must lie within the file the program headers describe (else
     * the table is wrong for this core); the part of it past the end of a file cut short is absent.
     */
    private static GuestMemory fromBlocksFile(ProcessCore pc, Path blocksFile) {
        long fileSize = pc.file().size();
        long described = Long.compareUnsigned(pc.describedBytes(), fileSize) > 0 ? pc.describedBytes() : fileSize;
        List<GuestPhysBlock> held = new ArrayList<>();
        List<AbsentRange> absent = new ArrayList<>();
        for (GuestPhysBlock b : readBlocksFile(blocksFile)) {
            if (b.fileOffset() < 0 || Long.compareUnsigned(b.fileOffset() + b.size(), described) > 0) {
                throw new BadCoreException(Kind.CORRUPT, blocksFile, "block " + b.name() + " at core offset 0x"
                        + Long.toHexString(b.fileOffset()) + " lies beyond the end of " + pc.path());
            }
            long inFile = Math.max(0, Math.min(b.size(), fileSize - b.fileOffset()));
            if (inFile > 0) {
                held.add(new GuestPhysBlock(b.guestPaddrStart(), b.guestPaddrStart() + inFile, b.hostVaddr(),
                        b.fileOffset(), b.name()));
            }
            if (inFile < b.size()) {
                absent.add(new AbsentRange(b.guestPaddrStart() + inFile, b.guestPaddrEnd(), b.hostVaddr() + inFile,
                        b.fileOffset() + inFile, b.name(), AbsentRange.Why.TRUNCATED));
            }
        }
        if (held.isEmpty()) {
            throw new BadCoreException(Kind.CORRUPT, pc.path(), "core is truncated at offset 0x"
                    + Long.toHexString(fileSize) + " before any block " + blocksFile + " lists");
        }
        return new GuestMemory(pc.file(), held, absent);
    }

    private static List<GuestPhysBlock> readBlocksFile(Path file) {
        try {
            return BlocksText.parse(file, Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new BadCoreException(Kind.IO, file, "cannot read block table: " + e.getMessage(), e);
        }
    }
}

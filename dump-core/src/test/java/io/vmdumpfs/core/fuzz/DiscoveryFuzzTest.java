package io.vmdumpfs.core.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.vmdumpfs.core.elf.HostMemory;
import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.RamDiscovery;
import io.vmdumpfs.core.guest.Vcpus;
import io.vmdumpfs.core.guest.VmcoreInfo;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;


/**
 * Guest RAM discovery on a synthetic QEMU core whose structures the fuzzer damages in place (see
 * {@link DamagedCore}): the AddressSpace, FlatView, FlatRanges, MemoryRegions, RAMBlocks, the vmcoreinfo device, the
 * ELF header, program headers and notes, and guest RAM.
 *
 * <p>Invariant: {@link RamDiscovery#discover} gives blocks or a BadCoreException. When it gives blocks, every block maps
 * host memory that is really in the core at exactly the block's file offset (so vmcore.elf can only serve the
 * core's own bytes), vmcore.elf's header and segments read, and damage confined to guest RAM leaves the block table
 * exactly as it was.
 */
class DiscoveryFuzzTest {

    private static final DamagedCore CORE = DamagedCore.create("discovery.core");

    @FuzzTest
    void discover_damagedStructures(FuzzedDataProvider data) {
        try {
            boolean ramOnly = CORE.damage(data, 6, a -> true);
            FuzzSupport.check("DiscoveryFuzzTest.discover_damagedStructures", () -> discoverAndCheck(ramOnly));
        } finally {
            CORE.restore();
        }
    }

    /** Discovery alone (what this target fuzzes), then the checks on what it accepted. */
    private static void discoverAndCheck(boolean ramOnly) throws Exception {
        try (ProcessCore pc = ProcessCore.open(CORE.file())) {
            List<GuestPhysBlock> blocks = RamDiscovery.discover(pc).blocks();
            GuestMemory memory = new GuestMemory(pc.file(), blocks);
            check(pc, new GuestDump(memory, GuestPlatform.X86_64, Optional.empty(), Optional.empty(), Vcpus.none("fuzz"),
                    "fuzz"), ramOnly);
        }
    }

    /** The whole open path, discovery and VMCOREINFO, as the CLI and the mount run it. */
    static void openAndCheck(boolean ramOnly) throws Exception {
        try (GuestDump dump = GuestDumps.open(CORE.file(), Optional.empty());
                ProcessCore pc = ProcessCore.open(CORE.file())) {
            check(pc, dump, ramOnly);
            dump.vmcoreinfo().ifPresent(DiscoveryFuzzTest::touch);
        }
    }

    private static void check(ProcessCore pc, GuestDump dump, boolean ramOnly) {
        HostMemory mem = pc.memory();
        for (GuestPhysBlock b : dump.memory().blocks()) {
            assertEquals(b.fileOffset(), mem.fileOffsetOf(b.hostVaddr(), b.size()),
                    "block " + b + " serves the core's bytes of its host range");
        }
        if (ramOnly) {
            assertEquals(CORE.blocks(), dump.memory().blocks(), "damage in guest RAM only changes no block");
        }
        View elf = DumpFormat.ELF.open(dump, FormatContext.uncached());
        ByteBuffer buf = ByteBuffer.allocate(8192);
        elf.read(0, buf);
        elf.read(Math.max(0, elf.size() - 100), buf.clear());
        View table = DumpFormat.BLOCKS.open(dump, FormatContext.uncached());
        assertTrue(table.size() > 0);
    }

    static void touch(VmcoreInfo v) {
        v.text();
        v.entries();
        v.osRelease();
        v.pageSize(4096);
        v.kernelOffset();
        v.physBase();
        v.textBytes();
    }
}

package io.vmdumpfs.core.guest;

import static io.vmdumpfs.core.testing.SyntheticCore.KiB;
import static io.vmdumpfs.core.testing.SyntheticCore.L;
import static io.vmdumpfs.core.testing.SyntheticCore.MiB;
import static io.vmdumpfs.core.testing.SyntheticCore.RAM_BASE;
import static io.vmdumpfs.core.testing.SyntheticCore.assertBadCore;
import static io.vmdumpfs.core.testing.SyntheticCore.ramBytes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.testing.SyntheticCore;
import io.vmdumpfs.core.testing.SyntheticCore.Flag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * RamDiscovery on synthetic QEMU cores: the blocks equal what the spec maps, merged exactly like QEMU's
 * guest_phys_blocks_region_add; and each inconsistency in QEMU's structures is refused with its own message.
 */
@Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RamDiscoveryTest {

    @TempDir
    Path dir;

    private SyntheticCore write(SyntheticCore.Builder spec) {
        return spec.write(dir.resolve("core"));
    }

    private static RamDiscovery.Result discover(SyntheticCore core) {
        try (ProcessCore pc = ProcessCore.open(core.path())) {
            return RamDiscovery.discover(pc);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static void discoverAndClose(SyntheticCore core) {
        discover(core);
    }

    // ---------------------------------------------------------------- what is found

    @Test
    void discover_oneRamRegion_oneBlock() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB));
        RamDiscovery.Result r = discover(c);
        assertEquals(List.of(c.block("pc.ram", 0, 0, 2 * MiB)), r.blocks());
        assertEquals(QemuLayout.QEMU_6_2_TO_10, r.layout());
        assertEquals(c.addressSpace().hostVaddr(), r.addressSpaceVaddr());
    }

    @Test
    void discover_sameRegionContiguousInGuestAndHost_mergedIntoOneBlock() {
        SyntheticCore c = write(SyntheticCore.qemu().region("pc.ram", 2 * MiB)
                .map("pc.ram", 0, 0, 640 * KiB)
                .map("pc.ram", 640 * KiB, 640 * KiB, 2 * MiB - 640 * KiB));
        assertEquals(List.of(c.block("pc.ram", 0, 0, 2 * MiB)), discover(c).blocks());
    }

    @Test
    void discover_sameRegionContiguousInGuestWithHostGap_twoBlocks() {
        SyntheticCore c = write(SyntheticCore.qemu().region("pc.ram", 4 * MiB)
                .map("pc.ram", 0, 0, MiB)
                .map("pc.ram", MiB, 2 * MiB, MiB));
        assertEquals(List.of(c.block("pc.ram", 0, 0, MiB), c.block("pc.ram", MiB, 2 * MiB, MiB)), discover(c).blocks());
    }

    @Test
    void discover_sameRegionContiguousInHostWithGuestGap_twoBlocks() {
        SyntheticCore c = write(SyntheticCore.qemu().region("pc.ram", 2 * MiB)
                .map("pc.ram", 0, 0, MiB)
                .map("pc.ram", 3 * MiB, MiB, MiB));
        assertEquals(List.of(c.block("pc.ram", 0, 0, MiB), c.block("pc.ram", 3 * MiB, MiB, MiB)), discover(c).blocks());
    }

    @Test
    void discover_differentRegionsAdjacentInGuestAndHost_twoBlocks() {
        SyntheticCore c = write(SyntheticCore.qemu()
                .ram("a", 0, MiB).hostAt("a", RAM_BASE)
                .ram("b", MiB, MiB).hostAt("b", RAM_BASE + MiB));
        assertEquals(c.ram("a").fileOffset() + MiB, c.ram("b").fileOffset(), "file-contiguous too");
        assertEquals(List.of(c.block("a", 0, 0, MiB), c.block("b", MiB, 0, MiB)), discover(c).blocks());
    }

    @Test
    void discover_romRange_counts() {
        SyntheticCore c = write(SyntheticCore.qemu()
                .ram("pc.ram", 0, MiB)
                .ram("pc.bios", 0xfffc0000L, 256 * KiB, Flag.ROM));
        assertEquals(List.of(c.block("pc.ram", 0, 0, MiB), c.block("pc.bios", 0xfffc0000L, 0, 256 * KiB)),
                discover(c).blocks());
    }

    @Test
    void discover_ioRange_skipped() {
        SyntheticCore c = write(SyntheticCore.qemu()
                .ram("pc.ram", 0, MiB)
                .io("ioapic", 0xfec00000L, 4 * KiB));
        assertEquals(List.of(c.block("pc.ram", 0, 0, MiB)), discover(c).blocks());
    }

    @Test
    void discover_nonvolatileRange_skipped() {
        SyntheticCore c = write(SyntheticCore.qemu()
                .ram("pc.ram", 0, MiB)
                .ram("nvdimm0", 4 * MiB, MiB, Flag.NONVOLATILE));
        assertEquals(List.of(c.block("pc.ram", 0, 0, MiB)), discover(c).blocks());
    }

    @Test
    void discover_ramDeviceRange_skipped() {
        SyntheticCore c = write(SyntheticCore.qemu()
                .ram("pc.ram", 0, MiB)
                .ram("0000:00:05.0 BAR 2 mmaps[0]", 0xe0000000L, MiB, Flag.RAM_DEVICE));
        assertEquals(List.of(c.block("pc.ram", 0, 0, MiB)), discover(c).blocks());
    }

    @Test
    void discover_offsetInRegion_honoured() throws IOException {
        SyntheticCore c = write(SyntheticCore.qemu().region("pc.ram", 4 * MiB)
                .map("pc.ram", 0x100000000L, 3 * MiB, MiB));
        List<GuestPhysBlock> blocks = discover(c).blocks();
        assertEquals(List.of(c.block("pc.ram", 0x100000000L, 3 * MiB, MiB)), blocks);
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            GuestMemory g = new GuestMemory(pc.file(), blocks);
            ByteBuffer b = ByteBuffer.allocate(64);
            g.read(0x100000000L + 0x1238, b);
            assertArrayEquals(ramBytes("pc.ram", 3 * MiB + 0x1238, 64), b.array());
        }
    }

    /** What a small pc machine's FlatView looks like: RAM split around the VGA window, isa-bios aliasing pc.bios. */
    @Test
    void discover_pcMachineLayout() {
        SyntheticCore c = write(SyntheticCore.qemu()
                .region("pc.ram", 8 * MiB)
                .region("pc.bios", 256 * KiB, Flag.ROM)
                .region("pc.rom", 128 * KiB, Flag.ROM)
                .map("pc.ram", 0, 0, 0xa0000)
                .io("vga-lowmem", 0xa0000, 0x20000)
                .map("pc.rom", 0xc0000, 0, 0x20000)
                .map("pc.bios", 0xe0000, 0x20000, 0x20000)             // isa-bios: the top 128 KiB
                .map("pc.ram", 0x100000, 0x100000, 7 * MiB)
                .io("ioapic", 0xfec00000L, 0x1000)
                .map("pc.bios", 0xfffc0000L, 0, 256 * KiB));
        assertEquals(List.of(
                c.block("pc.ram", 0, 0, 0xa0000),
                c.block("pc.rom", 0xc0000, 0, 0x20000),
                c.block("pc.bios", 0xe0000, 0x20000, 0x20000),
                c.block("pc.ram", 0x100000, 0x100000, 7 * MiB),
                c.block("pc.bios", 0xfffc0000L, 0, 256 * KiB)), discover(c).blocks());
    }

    @ParameterizedTest
    @ValueSource(ints = {96, 112, 128})
    void discover_memoryRegionSizeAtEachCandidate(int sizeOffset) {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB).mrSizeOffset(sizeOffset));
        assertEquals(List.of(c.block("pc.ram", 0, 0, MiB)), discover(c).blocks());
    }

    @Test
    void discover_flatViewRootedAtTheRootsLoneChild_found() {
        // s390-ccw-virtio: "system" holds only s390.ram, so QEMU renders the FlatView from s390.ram
        // (memory_region_get_flatview_root); its container leads back to the AddressSpace's root.
        SyntheticCore c = write(SyntheticCore.qemu().executable("/usr/bin/qemu-system-s390x")
                .ram("s390.ram", 0, 2 * MiB).flatViewRoot("s390.ram"));
        assertEquals(List.of(c.block("s390.ram", 0, 0, 2 * MiB)), discover(c).blocks());
    }

    @Test
    void discover_flatViewRootedAtAnUnrelatedRegion_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("s390.ram", 0, 2 * MiB).flatViewRoot("s390.ram"));
        c.putU64(c.memoryRegion("s390.ram").at(L.memoryRegion().containerCandidates().get(1)), 0);
        assertBadCore(Kind.CORRUPT, c.path(), "no QEMU \"memory\" AddressSpace found", () -> discoverAndClose(c));
    }

    @Test
    void discover_withoutFileNote_searchesOtherWritableSegments() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB).withoutFileNote());
        RamDiscovery.Result r = discover(c);
        assertEquals(List.of(c.block("pc.ram", 0, 0, MiB)), r.blocks());
        assertEquals(c.addressSpace().hostVaddr(), r.addressSpaceVaddr());
    }

    @Test
    void discover_ramPartlyAbsentButUnusedPartPresent_notNeeded() {
        // Only mapped ranges must be in the core: a region's unmapped tail may be absent.
        SyntheticCore c = write(SyntheticCore.qemu().region("pc.ram", 2 * MiB).map("pc.ram", 0, 0, MiB));
        c.putU64(c.phdr(c.phnum() - 2) + SyntheticCore.P_FILESZ, MiB);   // the RAM segment, before the stack
        assertEquals(List.of(c.block("pc.ram", 0, 0, MiB)), discover(c).blocks());
    }

    // ---------------------------------------------------------------- what is refused

    @Test
    void discover_coreOfAnotherProgram_unsupported() {
        SyntheticCore c = write(SyntheticCore.process("sleep"));
        assertBadCore(Kind.UNSUPPORTED, c.path(), "core of 'sleep', not of a QEMU process",
                () -> discoverAndClose(c));
    }

    @Test
    void discover_qemuWithoutMemoryAddressSpace_corruptSuggestingBlocksFile() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putBytes(c.addressSpaceName().fileOffset(), "memorx".getBytes());
        assertBadCore(Kind.CORRUPT, c.path(), "no QEMU \"memory\" AddressSpace found in the core of 'qemu-system-x86'",
                () -> discoverAndClose(c));
    }

    @Test
    void discover_guestRamNotDumped_missingWithDumpGuestCoreHint() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB).absent("pc.ram"));
        assertBadCore(Kind.MISSING, c.path(), "guest RAM was not dumped (2 MiB missing, first at host 0x"
                + Long.toHexString(c.ram("pc.ram").hostVaddr()) + "); next time run QEMU with -machine dump-guest-core=on",
                () -> discoverAndClose(c));
    }

    @Test
    void discover_allOfASmallGuestNotDumped_sizeInItsOwnUnitNotZeroMiB() {
        // The message said "0 MiB missing" for less than a MiB.
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.rom", 0xc0000, 128 * KiB).absent("pc.rom"));
        assertBadCore(Kind.MISSING, c.path(), "guest RAM was not dumped (128 KiB missing, first at host 0x",
                () -> discoverAndClose(c));
    }

    // ---------------------------------------------------------------- partial cores: what the core holds is served

    @Test
    void discover_truncatedInsideRam_heldUpToTheCutRestTruncated() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, 4 * MiB)
                .ram("pc.bios", 0xfffc0000L, 256 * KiB, Flag.ROM).hostAt("pc.bios", RAM_BASE + 8 * MiB));
        long cut = c.ram("pc.ram").fileOffset() + MiB + 0x123;   // mid-page: discovery keeps the byte it ends at
        c.truncate(cut);
        RamDiscovery.Result r = discover(c);
        assertEquals(List.of(c.block("pc.ram", 0, 0, MiB + 0x123)), r.blocks());
        long host = c.ram("pc.ram").hostVaddr();
        assertEquals(List.of(
                new AbsentRange(MiB + 0x123, 4 * MiB, host + MiB + 0x123, cut, "pc.ram", AbsentRange.Why.TRUNCATED),
                new AbsentRange(0xfffc0000L, 1L << 32, RAM_BASE + 8 * MiB, c.ram("pc.bios").fileOffset(), "pc.bios",
                        AbsentRange.Why.TRUNCATED)), r.absent());
    }

    @Test
    void discover_ramSegmentWithFileszBelowMemsz_tailNotDumped() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, 4 * MiB).dumpedBytes("pc.ram", 3 * MiB));
        RamDiscovery.Result r = discover(c);
        assertEquals(List.of(c.block("pc.ram", 0, 0, 3 * MiB)), r.blocks());
        assertEquals(List.of(new AbsentRange(3 * MiB, 4 * MiB, c.ram("pc.ram").hostVaddr() + 3 * MiB, -1, "pc.ram",
                AbsentRange.Why.NOT_DUMPED)), r.absent());
    }

    @Test
    void discover_oneSmallRegionNotDumped_restServed() {
        // The 1 TiB guest stopped before it ran: pc.rom was never written, so the kernel wrote no data for it.
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB)
                .ram("pc.rom", 0xc0000L + 2 * MiB, 128 * KiB, Flag.ROM).absent("pc.rom"));
        RamDiscovery.Result r = discover(c);
        assertEquals(List.of(c.block("pc.ram", 0, 0, 2 * MiB)), r.blocks());
        assertEquals(List.of(new AbsentRange(0xc0000L + 2 * MiB, 0xe0000L + 2 * MiB, c.ram("pc.rom").hostVaddr(), -1,
                "pc.rom", AbsentRange.Why.NOT_DUMPED)), r.absent());
    }

    @Test
    void discover_mappingMissingFromTheCore_absentNotMapped() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB)
                .ram("pc.bios", 0xfffc0000L, 256 * KiB, Flag.ROM).notInCore("pc.bios"));
        RamDiscovery.Result r = discover(c);
        assertEquals(List.of(c.block("pc.ram", 0, 0, 2 * MiB)), r.blocks());
        assertEquals(List.of(new AbsentRange(0xfffc0000L, 1L << 32, c.ram("pc.bios").hostVaddr(), -1, "pc.bios",
                AbsentRange.Why.NOT_MAPPED)), r.absent());
    }

    @Test
    void discover_absentMiddleOfARange_twoBlocksAroundIt() {
        // One region whose mapping the core holds as three segments: data, no data, data.
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, 3 * MiB).notInCore("pc.ram")
                .segment(RAM_BASE, MiB, SyntheticCore.RW, MiB)
                .segment(RAM_BASE + MiB, MiB, SyntheticCore.RW, 0)
                .segment(RAM_BASE + 2 * MiB, MiB, SyntheticCore.RW, MiB));
        RamDiscovery.Result r = discover(c);
        assertEquals(List.of(new GuestPhysBlock(0, MiB, RAM_BASE, c.fileOffsetOf(RAM_BASE), "pc.ram"),
                new GuestPhysBlock(2 * MiB, 3 * MiB, RAM_BASE + 2 * MiB, c.fileOffsetOf(RAM_BASE + 2 * MiB), "pc.ram")),
                r.blocks());
        assertEquals(List.of(new AbsentRange(MiB, 2 * MiB, RAM_BASE + MiB, -1, "pc.ram", AbsentRange.Why.NOT_DUMPED)),
                r.absent());
    }

    @Test
    void discover_truncatedInsideQemuStructures_failsSayingTheCoreIsTruncated() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB));
        long cut = c.flatRange(0).fileOffset() + 8;
        c.truncate(cut);
        assertBadCore(Kind.CORRUPT, c.path(), "core is truncated at offset 0x" + Long.toHexString(cut)
                + " (its program headers describe 0x", () -> discoverAndClose(c));
        BadCoreException e = assertThrows(BadCoreException.class, () -> discoverAndClose(c));
        assertTrue(e.getMessage().contains("guest RAM cannot be found in what is left: "), e.getMessage());
    }

    @Test
    void discover_truncatedBeforeAnyRam_failsSayingSo() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB));
        long cut = c.ram("pc.ram").fileOffset();
        c.truncate(cut);
        assertBadCore(Kind.MISSING, c.path(), "core is truncated at offset 0x" + Long.toHexString(cut)
                + " (its program headers describe 0x", () -> discoverAndClose(c));
        BadCoreException e = assertThrows(BadCoreException.class, () -> discoverAndClose(c));
        assertTrue(e.getMessage().endsWith("bytes) before any guest RAM (2 MiB missing)"), e.getMessage());
    }

    @Test
    void discover_flatViewNr2to31_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU32(c.flatView().at(L.flatView().nr()), 1L << 31);
        assertBadCore(Kind.CORRUPT, c.path(), "FlatView has 2147483648 ranges", () -> discoverAndClose(c));
    }

    @Test
    void discover_flatViewNrZero_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU32(c.flatView().at(L.flatView().nr()), 0);
        assertBadCore(Kind.CORRUPT, c.path(), "FlatView has 0 ranges", () -> discoverAndClose(c));
    }

    @Test
    void discover_flatViewRangesUnmapped_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.flatView().at(L.flatView().ranges()), 0x1000);
        assertBadCore(Kind.CORRUPT, c.path(), "FlatView ranges at 0x1000 not in the core", () -> discoverAndClose(c));
    }

    @Test
    void discover_flatViewRootDiffers_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.flatView().at(L.flatView().root()), c.flatView().hostVaddr());
        assertBadCore(Kind.CORRUPT, c.path(), "no QEMU \"memory\" AddressSpace found", () -> discoverAndClose(c));
    }

    @Test
    void discover_flatRangePointingAtItself_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.flatRange(0).at(0), c.flatRange(0).hostVaddr());
        assertBadCore(Kind.CORRUPT, c.path(), "QEMU's memory map is inconsistent", () -> discoverAndClose(c));
    }

    @Test
    void discover_memoryRegionPointerIntoNowhere_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.flatRange(0).at(0), 0xdead0000L);
        assertBadCore(Kind.CORRUPT, c.path(), "FlatRange 0: MemoryRegion 0xdead0000 not in the core",
                () -> discoverAndClose(c));
    }

    @Test
    void discover_memoryRegionAtEndOfHeap_corruptNotMissing() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        // 64 bytes before the heap's end: ram_block is readable, the size fields after it are not.
        c.putU64(c.flatRange(0).at(0), SyntheticCore.HEAP + SyntheticCore.HEAP_SIZE - 64);
        assertBadCore(Kind.CORRUPT, c.path(), "not in the core", () -> discoverAndClose(c));
    }

    @Test
    void discover_flatRangeBeyond64Bits_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.flatRange(0).at(L.flatRange().start() + 8), 1);
        assertBadCore(Kind.CORRUPT, c.path(), "FlatRange 0: address range beyond 64 bits", () -> discoverAndClose(c));
    }

    @Test
    void discover_flatRangesUnsorted_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("a", 0, MiB).ram("b", 2 * MiB, MiB));
        c.putU64(c.flatRange(1).at(L.flatRange().start()), MiB / 2);
        assertBadCore(Kind.CORRUPT, c.path(), "FlatRange 1: ranges not sorted", () -> discoverAndClose(c));
    }

    @Test
    void discover_memoryRegionFlagNotBoolean_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU8(c.memoryRegion("pc.ram").at(L.memoryRegion().ram()), 7);
        assertBadCore(Kind.CORRUPT, c.path(), "MemoryRegion flags are not booleans", () -> discoverAndClose(c));
    }

    @Test
    void discover_ramRegionWithoutRamBlock_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.memoryRegion("pc.ram").at(L.memoryRegion().ramBlock()), 0);
        assertBadCore(Kind.CORRUPT, c.path(), "RAM region without a readable RAMBlock", () -> discoverAndClose(c));
    }

    @Test
    void discover_ramBlockBackPointerMismatch_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.ramBlock("pc.ram").at(L.ramBlock().mr()), c.memoryRegion("pc.ram").hostVaddr() + 64);
        assertBadCore(Kind.CORRUPT, c.path(), "RAMBlock 0x" + Long.toHexString(c.ramBlock("pc.ram").hostVaddr())
                + " does not point back to its region", () -> discoverAndClose(c));
    }

    @Test
    void discover_unalignedHost_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.ramBlock("pc.ram").at(L.ramBlock().host()), c.ram("pc.ram").hostVaddr() + 8);
        assertBadCore(Kind.CORRUPT, c.path(), "does not start a mapping", () -> discoverAndClose(c));
    }

    @Test
    void discover_hostShiftedByAPage_corruptRatherThanShiftedMemory() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.ramBlock("pc.ram").at(L.ramBlock().host()), c.ram("pc.ram").hostVaddr() + 4096);
        assertBadCore(Kind.CORRUPT, c.path(), "does not start a mapping", () -> discoverAndClose(c));
    }

    @Test
    void discover_memoryRegionInsideFlatRangeArray_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.flatRange(0).at(0), c.flatRange(0).hostVaddr());
        assertBadCore(Kind.CORRUPT, c.path(), "lies inside the FlatRange array", () -> discoverAndClose(c));
    }

    @Test
    void discover_usedLengthAboveMaxLength_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.ramBlock("pc.ram").at(L.ramBlock().maxLength()), MiB / 2);
        assertBadCore(Kind.CORRUPT, c.path(), "RAMBlock sizes or host address not page-aligned",
                () -> discoverAndClose(c));
    }

    @Test
    void discover_usedLengthSmallerThanRange_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.ramBlock("pc.ram").at(L.ramBlock().usedLength()), MiB / 2);
        assertBadCore(Kind.CORRUPT, c.path(), "FlatRange 0: range exceeds its RAMBlock's used_length",
                () -> discoverAndClose(c));
    }

    @Test
    void discover_idstrNotAString_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU8(c.ramBlock("pc.ram").at(L.ramBlock().idstr()), 0x07);
        assertBadCore(Kind.CORRUPT, c.path(), "RAMBlock idstr is not a string", () -> discoverAndClose(c));
    }

    @Test
    void discover_memoryRegionSizeMismatch_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().ram("pc.ram", 0, MiB));
        c.putU64(c.memoryRegion("pc.ram").at(112), 2 * MiB);    // larger than the RAMBlock's used_length
        assertBadCore(Kind.CORRUPT, c.path(), "MemoryRegion size does not match its RAMBlock",
                () -> discoverAndClose(c));
    }

    @Test
    void discover_onlyIoRanges_corrupt() {
        SyntheticCore c = write(SyntheticCore.qemu().io("ioapic", 0xfec00000L, 0x1000));
        assertBadCore(Kind.CORRUPT, c.path(), "no RAM ranges", () -> discoverAndClose(c));
    }
}

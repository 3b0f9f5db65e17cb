package io.vmdumpfs.core.guest;

import static io.vmdumpfs.core.testing.SyntheticCore.KiB;
import static io.vmdumpfs.core.testing.SyntheticCore.MiB;
import static io.vmdumpfs.core.testing.SyntheticCore.assertBadCore;
import static io.vmdumpfs.core.testing.SyntheticCore.ramBytes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.testing.SyntheticCore;
import io.vmdumpfs.core.testing.SyntheticCore.Flag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** GuestDumps.open, the entry point: a synthetic QEMU core in, blocks and VMCOREINFO out; bad input refused. */
@Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class GuestDumpsTest {

    @TempDir
    Path dir;

    private SyntheticCore sample() {
        return SyntheticCore.qemu()
                .ram("pc.ram", 0, 2 * MiB)
                .ram("pc.bios", 0xfffc0000L, 256 * KiB, Flag.ROM)
                .vmcoreinfo(true)
                .write(dir.resolve("core"));
    }

    private static void openAndClose(Path core, Optional<Path> blocks) throws IOException {
        GuestDumps.open(core, blocks).close();
    }

    @Test
    void open_qemuCore_blocksVmcoreinfoAndSource() throws IOException {
        SyntheticCore c = sample();
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            assertEquals(List.of(c.block("pc.ram", 0, 0, 2 * MiB), c.block("pc.bios", 0xfffc0000L, 0, 256 * KiB)),
                    d.memory().blocks());
            assertEquals(2 * MiB + 256 * KiB, d.memory().totalBytes());
            assertEquals(GuestArch.X86_64, d.platform().arch());
            VmcoreInfo v = d.vmcoreinfo().orElseThrow();
            assertEquals("vmcoreinfo device", v.source());
            assertEquals("6.1.0-test", v.osRelease());
            assertTrue(d.blocksSource().startsWith("discovered (qemu-6.2+, AddressSpace at 0x"
                    + Long.toHexString(c.addressSpace().hostVaddr())), d.blocksSource());
            assertEquals(c.path(), d.core().path());
        }
    }

    @Test
    void open_qemuCore_guestReadsReturnRamContent() throws IOException {
        SyntheticCore c = sample();
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            ByteBuffer b = ByteBuffer.allocate(8192);
            assertEquals(8192, d.memory().read(0x1ff000 - 4096, b));
            assertArrayEquals(ramBytes("pc.ram", 0x1ff000 - 4096, 8192), b.array());
            ByteBuffer tail = ByteBuffer.allocate(100);
            assertEquals(16, d.memory().read(0xfffffff0L, tail), "stops at the end of the block");
            assertArrayEquals(ramBytes("pc.bios", 256 * KiB - 16, 16), java.util.Arrays.copyOf(tail.array(), 16));
            assertThrows(IllegalArgumentException.class, () -> d.memory().read(0xa0000000L, ByteBuffer.allocate(1)));
        }
    }

    /** The spec's example, at a realistic guest size: must stay within a couple of seconds. */
    @Test
    @Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void open_64MiBGuest() throws IOException {
        SyntheticCore c = SyntheticCore.qemu()
                .ram("pc.ram", 0, 64 * MiB)
                .ram("pc.bios", 0xfffc0000L, 256 * KiB, Flag.ROM)
                .vmcoreinfo(true).vmcoreinfoDevice(false)
                .write(dir.resolve("core"));
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            assertEquals(List.of(c.block("pc.ram", 0, 0, 64 * MiB), c.block("pc.bios", 0xfffc0000L, 0, 256 * KiB)),
                    d.memory().blocks());
            assertEquals("guest RAM scan", d.vmcoreinfo().orElseThrow().source());
            assertEquals(32 * MiB, d.vmcoreinfo().orElseThrow().guestPaddr());
        }
    }

    @Test
    void open_withoutVmcoreinfo_emptyNotError() throws IOException {
        SyntheticCore c = SyntheticCore.qemu().ram("pc.ram", 0, MiB).write(dir.resolve("core"));
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            assertTrue(d.vmcoreinfo().isEmpty());
        }
    }

    @Test
    void open_blocksFile_replacesDiscovery() throws IOException {
        SyntheticCore c = sample();
        // Only the BIOS, to show the table comes from the file and not from QEMU's structures.
        List<GuestPhysBlock> listed = List.of(c.block("pc.bios", 0xfffc0000L, 0, 256 * KiB));
        Path blocks = Files.writeString(dir.resolve("blocks.txt"), BlocksText.render(listed, true));
        c.putU64(c.flatView().at(SyntheticCore.L.flatView().nr()), 0);   // discovery would fail
        try (GuestDump d = GuestDumps.open(c.path(), Optional.of(blocks))) {
            assertEquals(listed, d.memory().blocks());
            assertEquals("from " + blocks, d.blocksSource());
        }
    }

    // ---------------------------------------------------------------- what is refused

    // ---------------------------------------------------------------- partial cores: served for what they hold

    @Test
    void open_coreTruncatedMidPageInRam_wholePagesHeldRestAbsent() throws IOException {
        SyntheticCore c = sample();
        long ramOffset = c.ram("pc.ram").fileOffset();
        long host = c.ram("pc.ram").hostVaddr();
        c.truncate(ramOffset + 3 * MiB / 2 + 100);
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            GuestMemory m = d.memory();
            // The page the cut falls in is absent as a whole: 100 of its bytes are no page to serve.
            assertEquals(List.of(c.block("pc.ram", 0, 0, 3 * MiB / 2)), m.blocks());
            assertEquals(List.of(
                    new AbsentRange(3 * MiB / 2, 2 * MiB, host + 3 * MiB / 2, ramOffset + 3 * MiB / 2, "pc.ram",
                            AbsentRange.Why.TRUNCATED),
                    new AbsentRange(0xfffc0000L, 1L << 32, c.ram("pc.bios").hostVaddr(), c.ram("pc.bios").fileOffset(),
                            "pc.bios", AbsentRange.Why.TRUNCATED)), m.absent());
            assertTrue(m.isPartial());
            assertEquals(3 * MiB / 2, m.totalBytes());
            assertEquals(MiB / 2 + 256 * KiB, m.absentBytes());
            ByteBuffer b = ByteBuffer.allocate(4096);
            assertEquals(4096, m.read(3 * MiB / 2 - 4096, b));
            assertArrayEquals(ramBytes("pc.ram", 3 * MiB / 2 - 4096, 4096), b.array());
            assertThrows(IllegalArgumentException.class, () -> m.read(3 * MiB / 2, ByteBuffer.allocate(1)),
                    "absent RAM is not readable: never zeros");
            assertEquals("6.1.0-test", d.vmcoreinfo().orElseThrow().osRelease(), "VMCOREINFO lies in the held part");
            assertEquals("partial: 1.5 of 2.3 MiB in the core; 768 KiB absent: core truncated at offset 0x"
                    + Long.toHexString(ramOffset + 3 * MiB / 2 + 100) + " (768 KiB: pc.ram, pc.bios, 2 ranges from"
                    + " guest 0x180000, host 0x" + Long.toHexString(host + 3 * MiB / 2) + ")", RamCoverage.summary(m));
        }
    }

    @Test
    void open_coreTruncatedPastGuestRam_complete() throws IOException {
        SyntheticCore c = sample();
        c.truncate(c.size() - 4096);   // inside the stack, the last mapping
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            assertEquals(List.of(c.block("pc.ram", 0, 0, 2 * MiB), c.block("pc.bios", 0xfffc0000L, 0, 256 * KiB)),
                    d.memory().blocks());
            assertEquals(List.of(), d.memory().absent());
        }
    }

    @Test
    void open_oneRegionNotDumped_restServedAndItsRangeAbsent() throws IOException {
        SyntheticCore c = SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB).ram("pc.rom", 0xc0000L + 2 * MiB, 128 * KiB)
                .absent("pc.rom").write(dir.resolve("core"));
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            assertEquals(List.of(c.block("pc.ram", 0, 0, 2 * MiB)), d.memory().blocks());
            assertEquals(List.of(new AbsentRange(0xc0000L + 2 * MiB, 0xe0000L + 2 * MiB, c.ram("pc.rom").hostVaddr(),
                    -1, "pc.rom", AbsentRange.Why.NOT_DUMPED)), d.memory().absent());
        }
    }

    @Test
    void open_lessThanAPageOfRamHeld_missing() {
        SyntheticCore c = sample();
        c.truncate(c.ram("pc.ram").fileOffset() + 100);
        assertBadCore(Kind.MISSING, c.path(), "not one whole guest page is in the core (partial: 0 of 2.3 MiB",
                () -> openAndClose(c.path(), Optional.empty()));
    }

    @Test
    void open_blocksFileOnTruncatedCore_tailPastTheCutAbsent() throws IOException {
        SyntheticCore c = sample();
        List<GuestPhysBlock> listed = List.of(c.block("pc.ram", 0, 0, 2 * MiB),
                c.block("pc.bios", 0xfffc0000L, 0, 256 * KiB));
        Path blocks = Files.writeString(dir.resolve("blocks.txt"), BlocksText.render(listed, true));
        long bios = c.ram("pc.bios").fileOffset();
        c.truncate(bios + 64 * KiB + 1);
        try (GuestDump d = GuestDumps.open(c.path(), Optional.of(blocks))) {
            assertEquals(List.of(listed.get(0), c.block("pc.bios", 0xfffc0000L, 0, 64 * KiB)), d.memory().blocks());
            assertEquals(List.of(new AbsentRange(0xfffd0000L, 1L << 32, c.ram("pc.bios").hostVaddr() + 64 * KiB,
                    bios + 64 * KiB, "pc.bios", AbsentRange.Why.TRUNCATED)), d.memory().absent());
        }
    }

    @Test
    void open_guestRamNotDumped_missing() {
        SyntheticCore c = SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB).absent("pc.ram").write(dir.resolve("core"));
        assertBadCore(Kind.MISSING, c.path(), "-machine dump-guest-core=on",
                () -> openAndClose(c.path(), Optional.empty()));
    }

    @Test
    void open_coreOfAnotherProgram_unsupported() {
        SyntheticCore c = SyntheticCore.process("sleep").write(dir.resolve("core"));
        assertBadCore(Kind.UNSUPPORTED, c.path(), "'sleep'", () -> openAndClose(c.path(), Optional.empty()));
    }

    @Test
    void open_notACore_unsupported() throws IOException {
        Path p = Files.writeString(dir.resolve("notes.txt"), "not a core at all, just some text that is long enough");
        assertBadCore(Kind.UNSUPPORTED, p, "not an ELF file", () -> openAndClose(p, Optional.empty()));
    }

    @Test
    void open_directory_io() {
        assertBadCore(Kind.IO, dir, "is a directory", () -> openAndClose(dir, Optional.empty()));
    }

    @Test
    void open_fifo_failsFast() throws Exception {
        Path fifo = dir.resolve("fifo");
        assumeTrue(new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor() == 0, "mkfifo failed");
        assertTimeoutPreemptively(Duration.ofSeconds(2), () -> assertBadCore(Kind.IO, fifo, "not a regular file",
                () -> openAndClose(fifo, Optional.empty())));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            too few columns     | 0 100000 7f0000000000 pc.ram                                      | line 2: expected 5 columns
            not hex             | 0 1000zz 7f0000000000 1000 pc.ram                                 | line 2: target_end '1000zz' is not a hex number
            17 digits           | 0 10000000000000000 7f0000000000 1000 pc.ram                      | line 2: target_end '10000000000000000'
            end below start     | 2000 1000 7f0000000000 1000 pc.ram                                | line 2: target_end 0x1000 is not above target_start 0x2000
            empty block         | 1000 1000 7f0000000000 1000 pc.ram                                | line 2: target_end 0x1000 is not above
            size disagrees      | 0 1000 7f0000000000 1000 2000 pc.ram                              | line 2: size 0x2000 does not match
            offset overflows    | 0 1000 7f0000000000 7ffffffffffff800 pc.ram                       | line 2: core_offset 0x7ffffffffffff800
            beyond the core     | 0 1000 7f0000000000 7ffffff000 pc.ram                             | block pc.ram at core offset 0x7ffffff000 lies beyond the end of
            """)
    void open_blocksFileBadLine_corrupt(String what, String row, String phrase) throws IOException {
        SyntheticCore c = sample();
        Path blocks = Files.writeString(dir.resolve("blocks.txt"),
                "# target_start target_end host_addr core_offset name\n" + row.strip() + "\n");
        assertBadCore(Kind.CORRUPT, blocks, phrase, () -> openAndClose(c.path(), Optional.of(blocks)));
    }

    @Test
    void open_blocksFileUnsorted_corrupt() throws IOException {
        SyntheticCore c = sample();
        Path blocks = Files.writeString(dir.resolve("blocks.txt"), """
                100000 200000 7f0000100000 101000 pc.ram
                0 1000 7f0000000000 1000 pc.ram
                """);
        assertBadCore(Kind.CORRUPT, blocks, "line 2: target_start 0x0 is below the previous block's 0x100000 (line 1)",
                () -> openAndClose(c.path(), Optional.of(blocks)));
    }

    @Test
    void open_blocksFileOverlapping_corrupt() throws IOException {
        SyntheticCore c = sample();
        Path blocks = Files.writeString(dir.resolve("blocks.txt"), """
                0 2000 7f0000000000 1000 pc.ram

                1000 3000 7f0000001000 2000 pc.ram
                """);
        assertBadCore(Kind.CORRUPT, blocks, "line 3: block 0x1000-0x3000 overlaps the block on line 1",
                () -> openAndClose(c.path(), Optional.of(blocks)));
    }

    @Test
    void open_blocksFileWithoutRows_corrupt() throws IOException {
        SyntheticCore c = sample();
        Path blocks = Files.writeString(dir.resolve("blocks.txt"), "# only a header\n\n");
        assertBadCore(Kind.CORRUPT, blocks, "no blocks listed", () -> openAndClose(c.path(), Optional.of(blocks)));
    }

    @Test
    void open_blocksFileMissing_io() {
        SyntheticCore c = sample();
        Path blocks = dir.resolve("no-such-blocks.txt");
        assertBadCore(Kind.IO, blocks, "cannot read block table", () -> openAndClose(c.path(), Optional.of(blocks)));
    }
}

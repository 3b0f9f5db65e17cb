package io.vmdumpfs.core.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.guest.AbsentRange.Why;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GuestMemory with absent ranges: a page only partly held becomes absent as a whole, blocks give those bytes up,
 * and the coverage is told in words (status, info) and in blocks.txt's comment lines.
 */
class PartialGuestMemoryTest {

    private static final long HOST = 0x7f0000000000L;

    @TempDir
    Path dir;
    private CoreFile core;

    @BeforeEach
    void setUp() throws IOException {
        Path p = dir.resolve("core");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(1 << 24);
        }
        core = CoreFile.open(p);
    }

    @AfterEach
    void tearDown() throws IOException {
        core.close();
    }

    private static GuestPhysBlock block(long start, long end) {
        return new GuestPhysBlock(start, end, HOST + start, 0x1000 + start, "pc.ram");
    }

    private static AbsentRange absent(long start, long end, Why why) {
        return new AbsentRange(start, end, HOST + start, why == Why.TRUNCATED ? 0x1000 + start : -1, "pc.ram", why);
    }

    @Test
    void withWholePages_cutMidPage_theWholePageAbsent() {
        GuestMemory m = new GuestMemory(core, List.of(block(0, 0x5123)),
                List.of(absent(0x5123, 0x9000, Why.TRUNCATED)));
        GuestMemory w = m.withWholePages(4096);
        assertEquals(List.of(block(0, 0x5000)), w.blocks());
        assertEquals(List.of(absent(0x5000, 0x9000, Why.TRUNCATED)), w.absent());
        assertEquals(0x5000, w.totalBytes());
        assertEquals(0x4000, w.absentBytes());
    }

    @Test
    void withWholePages_absentInsideABlockBetweenPageBoundaries_blockSplitAroundWholePages() {
        GuestMemory m = new GuestMemory(core, List.of(block(0, 0x2800), block(0x4100, 0x8000)),
                List.of(absent(0x2800, 0x4100, Why.NOT_DUMPED)));
        GuestMemory w = m.withWholePages(4096);
        assertEquals(List.of(block(0, 0x2000), block(0x5000, 0x8000)), w.blocks());
        assertEquals(List.of(absent(0x2000, 0x5000, Why.NOT_DUMPED)), w.absent());
    }

    @Test
    void withWholePages_twoAbsentRangesInOnePage_theBytesBetweenGoToo() {
        GuestMemory m = new GuestMemory(core, List.of(block(0, 0x1100), block(0x1200, 0x1300), block(0x1400, 0x3000)),
                List.of(absent(0x1100, 0x1200, Why.NOT_DUMPED), absent(0x1300, 0x1400, Why.NOT_MAPPED)));
        GuestMemory w = m.withWholePages(4096);
        assertEquals(List.of(block(0, 0x1000), block(0x2000, 0x3000)), w.blocks());
        assertEquals(List.of(absent(0x1000, 0x2000, Why.NOT_DUMPED)), w.absent(),
                "the second range lies in the first's page");
    }

    @Test
    void withWholePages_largerGuestPage_roundsToIt() {
        GuestMemory m = new GuestMemory(core, List.of(block(0, 0x11000)),
                List.of(absent(0x11000, 0x20000, Why.TRUNCATED)));
        GuestMemory w = m.withWholePages(64 * 1024);
        assertEquals(List.of(block(0, 0x10000)), w.blocks());
        assertEquals(List.of(absent(0x10000, 0x20000, Why.TRUNCATED)), w.absent());
    }

    @Test
    void withWholePages_pageAlignedOrComplete_unchanged() {
        GuestMemory complete = new GuestMemory(core, List.of(block(0, 0x1234)));
        assertSame(complete, complete.withWholePages(4096), "nothing absent: a block ending mid-page stays as it is");
        GuestMemory aligned = new GuestMemory(core, List.of(block(0, 0x3000)),
                List.of(absent(0x3000, 0x5000, Why.TRUNCATED)));
        GuestMemory w = aligned.withWholePages(4096);
        assertEquals(aligned.blocks(), w.blocks());
        assertEquals(aligned.absent(), w.absent());
    }

    @Test
    void new_absentOverlappingABlock_rejected() {
        assertThrows(IllegalArgumentException.class, () -> new GuestMemory(core, List.of(block(0, 0x3000)),
                List.of(absent(0x2000, 0x4000, Why.TRUNCATED))));
        assertThrows(IllegalArgumentException.class, () -> new GuestMemory(core, List.of(block(0x3000, 0x4000)),
                List.of(absent(0x2000, 0x5000, Why.TRUNCATED))), "a block inside the absent range");
        assertThrows(IllegalArgumentException.class, () -> new GuestMemory(core, List.of(block(0, 0x1000)),
                List.of(absent(0x3000, 0x4000, Why.TRUNCATED), absent(0x2000, 0x5000, Why.TRUNCATED))));
    }

    @Test
    void summary_completeAndPartial() {
        assertEquals("complete: 20 KiB", RamCoverage.summary(new GuestMemory(core, List.of(block(0, 0x5000)))));
        GuestMemory m = new GuestMemory(core, List.of(block(0, 0x3000)), List.of(absent(0x3000, 0x5000, Why.TRUNCATED),
                absent(0x6000, 0x7000, Why.NOT_DUMPED)));
        assertFalse(new GuestMemory(core, List.of(block(0, 0x5000))).isPartial());
        assertTrue(m.isPartial());
        assertEquals("partial: 12 of 24 KiB in the core; 12 KiB absent: core truncated at offset 0x1000000 (8 KiB:"
                + " pc.ram from guest 0x3000, host 0x7f0000003000); not dumped (4 KiB: pc.ram from guest 0x6000, host"
                + " 0x7f0000006000; the writer left the mapping's data out: never written to, or MADV_DONTDUMP)",
                RamCoverage.summary(m));
    }

    @Test
    void render_partial_tableOfHeldBlocksThenAbsentAsComments_parsesBackToTheHeldBlocks() {
        GuestMemory m = new GuestMemory(core, List.of(block(0, 0x3000)), List.of(absent(0x3000, 0x5000, Why.TRUNCATED),
                absent(0x6000, 0x7000, Why.NOT_MAPPED)));
        String text = BlocksText.render(m, true);
        assertEquals("""
                # target_start     target_end       host_addr        core_offset      size             name
                0000000000000000 0000000000003000 00007f0000000000 0000000000001000 0000000000003000 pc.ram
                # PARTIAL
                # absent, in no row above (readers see these pages as not in the dump):
                # 0000000000003000 0000000000005000 00007f0000003000 0000000000004000 0000000000002000 pc.ram core truncated
                # 0000000000006000 0000000000007000 00007f0000006000 -                0000000000001000 pc.ram mapping not in the core
                """.replace("PARTIAL", RamCoverage.summary(m)), text);
        assertEquals(m.blocks(), BlocksText.parse(dir.resolve("blocks.txt"), text));
        assertEquals(BlocksText.render(m.blocks(), false), BlocksText.render(new GuestMemory(core, m.blocks()), false),
                "a complete guest's table has no comment lines");
    }

    @Test
    void size_largestUnitAtOrAboveOne() {
        assertEquals("0 bytes", RamCoverage.size(0));
        assertEquals("1023 bytes", RamCoverage.size(1023));
        assertEquals("128 KiB", RamCoverage.size(128 << 10));
        assertEquals("1.5 GiB", RamCoverage.size(3L << 29));
        assertEquals("1 TiB", RamCoverage.size(1L << 40));
    }
}

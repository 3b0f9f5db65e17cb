package io.vmdumpfs.core.elf;

import static io.vmdumpfs.core.testing.SyntheticCore.RW;
import static io.vmdumpfs.core.testing.SyntheticCore.assertBadCore;
import static io.vmdumpfs.core.testing.SyntheticCore.hostBytes;
import static io.vmdumpfs.core.testing.SyntheticCore.hostWord;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.HostExtent.Presence;
import io.vmdumpfs.core.testing.SyntheticCore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** HostMemory over synthetic cores: address → file offset across segments, absent parts, strings. */
@Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HostMemoryTest {

    /** Three mappings back to back, the middle one half absent, then a lone one after a gap. */
    private static final long A = 0x10000;
    private static final long B = 0x11000;
    private static final long C = 0x13000;
    private static final long D = 0x40000;
    /** The x86_64 vsyscall page: a mapping above 2^63, where signed comparisons break. */
    private static final long VSYSCALL = 0xffffffffff600000L;

    @TempDir
    Path dir;
    private ProcessCore pc;
    private SyntheticCore core;

    private HostMemory open(SyntheticCore.Builder spec) {
        core = spec.write(dir.resolve("core"));
        pc = ProcessCore.open(core.path());
        return pc.memory();
    }

    private HostMemory sample() {
        return open(SyntheticCore.elf()
                .segment(A, 0x1000, RW, 0x1000)     // file-contiguous with B
                .segment(B, 0x2000, RW, 0x1000)     // second page absent
                .segment(C, 0x1000, RW, 0x1000)     // adjacent to B in memory, but B's tail is not in the file
                .segment(D, 0x2000, RW, 0x2000));
    }

    @AfterEach
    void close() throws IOException {
        if (pc != null) {
            pc.close();
        }
    }

    @Test
    void fileOffsetOf_withinSegment() {
        HostMemory m = sample();
        assertEquals(core.segments().get(0).fileOffset() + 0x10, m.fileOffsetOf(A + 0x10, 8));
        assertEquals(core.segments().get(3).fileOffset() + 0x1ff8, m.fileOffsetOf(D + 0x1ff8, 8));
    }

    @Test
    void fileOffsetOf_acrossAdjacentFileContiguousSegments() {
        HostMemory m = sample();
        assertEquals(core.segments().get(1).fileOffset(), core.segments().get(0).fileOffset() + 0x1000,
                "the spec lays A and B out back to back in the file");
        assertEquals(core.segments().get(0).fileOffset() + 0x800, m.fileOffsetOf(A + 0x800, 0x1000));
        assertArrayEquals(hostBytes(A + 0x800, 0x1000), bytes(m.read(A + 0x800, 0x1000)));
    }

    @Test
    void fileOffsetOf_intoAbsentPart_isMissing() {
        HostMemory m = sample();
        assertEquals(-1, m.fileOffsetOf(B + 0x1000, 1));
        assertEquals(-1, m.fileOffsetOf(B + 0xff8, 16), "straddles present and absent");
        assertTrue(m.isPresent(B + 0xff8, 8));
        assertTrue(m.isMapped(B + 0x1000), "absent is still mapped");
        assertFalse(m.isPresent(B + 0x1000, 1));
    }

    @Test
    void fileOffsetOf_adjacentInMemoryButNotInFile_isMissing() {
        HostMemory m = sample();
        // B's absent tail ends where C starts, but the bytes between are not in the file.
        assertEquals(-1, m.fileOffsetOf(B + 0x1ff8, 16));
        assertEquals(core.segments().get(2).fileOffset(), m.fileOffsetOf(C, 8));
    }

    @Test
    void fileOffsetOf_unmapped() {
        HostMemory m = sample();
        assertEquals(-1, m.fileOffsetOf(0, 1));
        assertEquals(-1, m.fileOffsetOf(A - 1, 1));
        assertEquals(-1, m.fileOffsetOf(0x20000, 1), "in the gap between C and D");
        assertEquals(-1, m.fileOffsetOf(D + 0x2000, 1), "just past the last mapping");
        assertEquals(-1, m.fileOffsetOf(D + 0x1000, 0x2000), "runs off the end");
        assertEquals(-1, m.segmentIndexOf(0x20000));
        assertFalse(m.isMapped(-1L));
    }

    @Test
    void fileOffsetOf_negativeLength_isMissing() {
        HostMemory m = sample();
        assertEquals(-1, m.fileOffsetOf(A, -1));
    }

    @Test
    void segmentIndexOf_addressesAbove2to63() {
        HostMemory m = open(SyntheticCore.elf()
                .segment(0x7ffc00000000L, 0x1000, RW, 0x1000)
                .segment(VSYSCALL, 0x1000, SyntheticCore.PF_R | SyntheticCore.PF_X, 0x1000));
        assertEquals(1, m.segmentIndexOf(VSYSCALL + 0xfff));
        assertEquals(0, m.segmentIndexOf(0x7ffc00000000L));
        assertEquals(-1, m.segmentIndexOf(VSYSCALL - 1));
        assertEquals(-1, m.segmentIndexOf(VSYSCALL + 0x1000));
        assertEquals(hostWord(VSYSCALL + 0x10), m.u64(VSYSCALL + 0x10));
    }

    @Test
    void fileOffsetOf_lengthWrappingPast2to64_isMissing() {
        HostMemory m = open(SyntheticCore.elf().segment(VSYSCALL, 0x1000, RW, 0x1000));
        assertEquals(-1, m.fileOffsetOf(VSYSCALL + 0x800, 1L << 40));
        assertEquals(-1, m.fileOffsetOf(VSYSCALL + 0x800, 0x1000));
    }

    @Test
    void read_presentBytes_equalSegmentContent() {
        HostMemory m = sample();
        assertArrayEquals(hostBytes(D + 3, 5000), bytes(m.read(D + 3, 5000)));
        assertEquals(hostWord(B + 0x100), m.u64(B + 0x100));
    }

    @Test
    void read_absent_missingNamingFileAndAddress() {
        HostMemory m = sample();
        assertBadCore(Kind.MISSING, core.path(), "host address 0x12000 (+8) is not in the core", () -> m.u64(B + 0x1000));
    }

    @Test
    void readSegment_returnsPresentPartOnly() {
        HostMemory m = sample();
        assertEquals(0x1000, m.presentLength(1));
        ByteBuffer b = m.readSegment(1);
        assertEquals(0x1000, b.remaining());
        assertArrayEquals(hostBytes(B, 0x1000), bytes(b));
    }

    @Test
    void cString_terminatedWithinMax() {
        HostMemory m = open(SyntheticCore.elf().segment(A, 0x1000, RW, 0x1000)
                .poke(A + 0x100, "memory\0".getBytes(StandardCharsets.US_ASCII))
                .poke(A + 0xffc, "abcd".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("memory", m.cString(A + 0x100, 16));
        assertEquals("", m.cString(A + 0x106, 16));
        assertNull(m.cString(A + 0x100, 5), "longer than max");
        assertNull(m.cString(A + 0xffc, 16), "runs off the segment without a NUL");
        assertNull(m.cString(0x5000, 16), "unmapped");
    }

    @Test
    void fileOffsetOf_truncatedCore_clampsToFile() {
        core = SyntheticCore.elf().segment(A, 0x1000, RW, 0x1000).segment(D, 0x4000, RW, 0x4000)
                .write(dir.resolve("core"));
        core.truncate(core.segments().get(1).fileOffset() + 0x1800);
        pc = ProcessCore.open(core.path());
        HostMemory m = pc.memory();
        assertTrue(m.isPresent(D, 0x1800));
        assertFalse(m.isPresent(D, 0x1801));
        assertEquals(0x1800, m.presentLength(1));
    }

    // ---------------------------------------------------------------- extents: what the core holds, run by run

    @Test
    void extents_acrossPresentNotDumpedAndUnmapped_coverTheRangeInOrder() {
        HostMemory m = sample();
        long a = core.segments().get(0).fileOffset();
        assertEquals(List.of(
                new HostExtent(A, 0x2000, Presence.PRESENT, a),                  // A and B's first page, file-contiguous
                new HostExtent(B + 0x1000, 0x1000, Presence.NOT_DUMPED, -1),     // B past p_filesz
                new HostExtent(C, 0x1000, Presence.PRESENT, core.segments().get(2).fileOffset()),
                new HostExtent(C + 0x1000, D - C - 0x1000, Presence.NOT_MAPPED, -1),
                new HostExtent(D, 0x1800, Presence.PRESENT, core.segments().get(3).fileOffset())),
                m.extents(A, D + 0x1800 - A));
    }

    @Test
    void extents_startingInAGap_notMappedUpToTheNextSegment() {
        HostMemory m = sample();
        assertEquals(List.of(new HostExtent(0x8000, A - 0x8000, Presence.NOT_MAPPED, -1),
                new HostExtent(A, 0x10, Presence.PRESENT, core.segments().get(0).fileOffset())),
                m.extents(0x8000, A + 0x10 - 0x8000));
        assertEquals(List.of(new HostExtent(D + 0x2000, 0x1000, Presence.NOT_MAPPED, -1)),
                m.extents(D + 0x2000, 0x1000), "past the last mapping");
    }

    @Test
    void extents_truncatedMidPage_presentUpToTheCutThenTruncatedWithItsFileOffset() {
        core = SyntheticCore.elf().segment(A, 0x1000, RW, 0x1000).segment(D, 0x4000, RW, 0x3000)
                .write(dir.resolve("core"));
        long d = core.segments().get(1).fileOffset();
        core.truncate(d + 0x1234);
        pc = ProcessCore.open(core.path());
        assertEquals(List.of(new HostExtent(D, 0x1234, Presence.PRESENT, d),
                new HostExtent(D + 0x1234, 0x3000 - 0x1234, Presence.TRUNCATED, d + 0x1234),
                new HostExtent(D + 0x3000, 0x1000, Presence.NOT_DUMPED, -1)),
                pc.memory().extents(D, 0x4000));
        assertTrue(pc.isTruncated());
        assertEquals(d + 0x3000, pc.describedBytes());
    }

    @Test
    void extents_emptyOrWrapping_rejected() {
        HostMemory m = open(SyntheticCore.elf().segment(VSYSCALL, 0x1000, RW, 0x1000));
        assertThrows(IllegalArgumentException.class, () -> m.extents(A, 0));
        assertThrows(IllegalArgumentException.class, () -> m.extents(VSYSCALL + 0x800, 1L << 40));
        assertEquals(List.of(new HostExtent(VSYSCALL, 0x1000, Presence.PRESENT, core.segments().get(0).fileOffset())),
                m.extents(VSYSCALL, 0x1000), "a mapping that ends at 2^64");
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }
}

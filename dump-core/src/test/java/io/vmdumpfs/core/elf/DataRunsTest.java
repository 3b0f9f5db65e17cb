package io.vmdumpfs.core.elf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Holes of the core found with lseek, and the file identity everything derived from a core is keyed by. */
class DataRunsTest {

    static final long MiB = 1 << 20;

    @TempDir
    Path tmp;

    /** Writes a sparse file of {@code size} bytes with 1 MiB of data at each of {@code at}. */
    static Path sparse(Path file, long size, long... at) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
            byte[] data = new byte[(int) MiB];
            java.util.Arrays.fill(data, (byte) 0x5a);
            for (long a : at) {
                f.seek(a);
                f.write(data);
            }
        }
        return file;
    }

    @Test
    void dataRuns_sparseFile_findsExactlyTheWrittenRuns() throws IOException {
        Path p = sparse(tmp.resolve("core"), 64 * MiB, 0, 10 * MiB, 11 * MiB, 63 * MiB);
        try (CoreFile core = CoreFile.open(p)) {
            DataRuns r = core.dataRuns();
            assertEquals(3, r.runCount(), "adjacent writes are one run");
            assertEquals(0, r.start(0));
            assertEquals(MiB, r.end(0));
            assertEquals(10 * MiB, r.start(1));
            assertEquals(12 * MiB, r.end(1));
            assertEquals(63 * MiB, r.start(2));
            assertEquals(64 * MiB, r.end(2));
            assertEquals(4 * MiB, r.dataBytes());
            assertTrue(r.isHole(MiB, 9 * MiB));
            assertFalse(r.isHole(MiB, 9 * MiB + 1));
            assertFalse(r.isHole(12 * MiB - 1, 1));
            assertTrue(r.isHole(12 * MiB, 4096));
            assertTrue(r.isHole(5, 0));
            assertEquals(1, r.firstRunEndingAfter(MiB));
            assertEquals(3, r.firstRunEndingAfter(64 * MiB));
        }
    }

    @Test
    void dataRuns_allHoles_noRuns() throws IOException {
        Path p = sparse(tmp.resolve("core"), 1L << 40); // 1 TiB of nothing: ext4 and tmpfs allow it
        try (CoreFile core = CoreFile.open(p)) {
            assertEquals(0, core.dataRuns().runCount());
            assertTrue(core.dataRuns().isHole(0, 1L << 40));
            assertEquals(0, core.read((1L << 40) - 8, 8).getLong(0), "a hole reads as zeros");
        }
    }

    @Test
    void dataRuns_denseFile_oneRun() throws IOException {
        Path p = Files.write(tmp.resolve("core"), new byte[100_000]);
        try (CoreFile core = CoreFile.open(p)) {
            assertEquals(1, core.dataRuns().runCount(), "written zeros are data, not holes");
            assertFalse(core.dataRuns().isHole(99_999, 1));
        }
    }

    @Test
    void scan_seekerFindsNoData_whole() {
        assertEquals(0, DataRuns.scan((off, whence) -> -1, 1000).runCount());
        DataRuns w = DataRuns.whole(1000);
        assertEquals(1, w.runCount());
        assertEquals(1000, w.dataBytes());
        assertEquals(0, DataRuns.whole(0).runCount());
    }

    @Test
    void scan_holeBeforeData_rejected() {
        assertThrows(IllegalStateException.class,
                () -> DataRuns.scan((off, whence) -> whence == DataRuns.SEEK_DATA ? 100 : 50, 1000));
    }

    @Test
    void scan_dataPastTheSizeAtOpen_clipped() {
        // the file grew after open: what lies past the size we read is not ours
        List<long[]> calls = new ArrayList<>();
        DataRuns r = DataRuns.scan((off, whence) -> {
            calls.add(new long[] {off, whence});
            return whence == DataRuns.SEEK_DATA ? (off == 0 ? 0 : -1) : 5000;
        }, 1000);
        assertEquals(1, r.runCount());
        assertEquals(1000, r.end(0));
    }

    @Test
    void identity_sameFile_equal_rewritten_differs() throws Exception {
        Path p = Files.write(tmp.resolve("f"), new byte[10]);
        FileIdentity a = FileIdentity.of(p);
        assertEquals(a, FileIdentity.of(p));
        assertEquals(10, a.size());
        Files.setLastModifiedTime(p, FileTime.from(Files.getLastModifiedTime(p).toInstant().plusNanos(1000)));
        assertNotEquals(a, FileIdentity.of(p), "mtime at sub-millisecond precision");
        assertTrue(a.toString().matches("\\d+:\\d+:10:\\d+"), a.toString());
        Path link = Files.createSymbolicLink(tmp.resolve("link"), p);
        assertEquals(FileIdentity.of(p), FileIdentity.of(link), "a link names its target");
    }

    @Test
    void identity_missingFile_io() {
        BadCoreException e = assertThrows(BadCoreException.class, () -> FileIdentity.of(tmp.resolve("none")));
        assertEquals(BadCoreException.Kind.IO, e.kind());
    }

    @Test
    void identity_coreFile_asAtOpen() throws Exception {
        Path p = Files.write(tmp.resolve("f"), new byte[10]);
        try (CoreFile core = CoreFile.open(p)) {
            assertEquals(FileIdentity.of(p), core.identity());
            Files.write(p, new byte[20]);
            assertEquals(10, core.identity().size(), "the identity of the file as it was opened");
        }
    }
}

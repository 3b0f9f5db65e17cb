package io.vmdumpfs.cache.compressed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SparseWriterTest {

    @TempDir
    Path tmp;

    @Test
    void write_zeroBlocks_areNotWritten() throws IOException {
        byte[] data = new byte[4 * 4096];
        data[4096] = 1;           // block 1 holds data
        data[3 * 4096 + 4095] = 2; // block 3 holds data
        Path f = Files.createFile(tmp.resolve("f"));

        try (SparseWriter w = new SparseWriter(f, Long.MAX_VALUE)) {
            w.write(data, 0, data.length);
            w.finish();
            assertEquals(2 * 4096, w.writtenBytes());
            assertEquals(data.length, w.size());
        }
        assertArrayEquals(data, Files.readAllBytes(f));
    }

    @Test
    void write_unalignedPieces_giveTheSameBytes() throws IOException {
        byte[] data = CoreSourceTest.fakeCore(8, 77);
        Path f = Files.createFile(tmp.resolve("f"));

        try (SparseWriter w = new SparseWriter(f, Long.MAX_VALUE)) {
            for (int off = 0; off < data.length; off += 1000) {
                w.write(data, off, Math.min(1000, data.length - off));
            }
            w.finish();
        }
        assertArrayEquals(data, Files.readAllBytes(f));
    }

    @Test
    void finish_trailingHole_setsTheLength() throws IOException {
        byte[] data = new byte[10_000];
        data[0] = 9;
        Path f = Files.createFile(tmp.resolve("f"));

        try (SparseWriter w = new SparseWriter(f, Long.MAX_VALUE)) {
            w.write(data, 0, data.length);
            w.finish();
        }
        assertEquals(10_000, Files.size(f));
        assertArrayEquals(data, Files.readAllBytes(f));
    }

    @Test
    void write_pastLimit_throwsAndWritesNothingMore() throws IOException {
        Path f = Files.createFile(tmp.resolve("f"));
        byte[] ones = new byte[4096];
        Arrays.fill(ones, (byte) 1);

        try (SparseWriter w = new SparseWriter(f, 8192)) {
            w.write(ones, 0, 4096);
            w.write(new byte[4096], 0, 4096); // a hole takes no space
            w.write(ones, 0, 4096);
            assertThrows(SparseWriter.LimitExceededException.class, () -> w.write(ones, 0, 1));
            assertEquals(8192, w.writtenBytes());
        }
    }
}

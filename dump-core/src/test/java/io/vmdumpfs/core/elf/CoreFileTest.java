package io.vmdumpfs.core.elf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The core's native descriptor (for splice and fadvise) and its current size. */
class CoreFileTest {

    @TempDir
    Path tmp;

    private Path path;
    private byte[] bytes;

    @BeforeEach
    void write() throws IOException {
        path = tmp.resolve("core");
        bytes = new byte[100_000];
        new Random(1).nextBytes(bytes);
        Files.write(path, bytes);
    }

    /** Reads through the descriptor, as the kernel's splice would, via /proc/self/fd. */
    private static byte[] readFd(int fd, long pos, int len) throws IOException {
        try (FileChannel ch = FileChannel.open(Path.of("/proc/self/fd/" + fd))) {
            ByteBuffer b = ByteBuffer.allocate(len);
            while (b.hasRemaining() && ch.read(b, pos + b.position()) > 0) {
                // until full
            }
            return b.array();
        }
    }

    @Test
    void descriptor_sameFile_readsItsBytes_stableAcrossCalls() throws IOException {
        try (CoreFile core = CoreFile.open(path)) {
            int fd = core.descriptor();
            assertTrue(fd >= 0);
            assertEquals(fd, core.descriptor());
            assertArrayEquals(java.util.Arrays.copyOfRange(bytes, 5000, 9000), readFd(fd, 5000, 4000));
        }
    }

    @Test
    void descriptor_pathNowNamesAnotherFile_none() throws IOException {
        try (CoreFile core = CoreFile.open(path)) {
            Path other = tmp.resolve("other");
            Files.write(other, bytes);
            Files.move(other, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            assertEquals(-1, core.descriptor(), "same size and bytes, but not the file that was opened");
        }
    }

    @Test
    void descriptor_pathGone_none_readsStillWork() throws IOException {
        try (CoreFile core = CoreFile.open(path)) {
            Files.delete(path);
            assertEquals(-1, core.descriptor());
            assertEquals(bytes[77], core.read(77, 1).get(0));
        }
    }

    @Test
    void descriptor_afterClose_none() throws IOException {
        CoreFile core = CoreFile.open(path);
        int fd = core.descriptor();
        assertTrue(fd >= 0);
        core.close();
        assertEquals(-1, core.descriptor());
        assertTrue(Files.notExists(Path.of("/proc/self/fd/" + fd)) || !Files.isSameFile(Path.of("/proc/self/fd/" + fd), path),
                "the descriptor was closed");
    }

    @Test
    void currentSize_afterTruncate_shrinks() throws IOException {
        try (CoreFile core = CoreFile.open(path)) {
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.WRITE)) {
                ch.truncate(10_000);
            }
            assertEquals(100_000, core.size(), "size is as at open");
            assertEquals(10_000, core.currentSize());
        }
    }
}

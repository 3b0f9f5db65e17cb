package io.vmdumpfs.cache.compressed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.luben.zstd.Zstd;
import io.vmdumpfs.cache.compressed.CoreCache.Options;
import io.vmdumpfs.cache.compressed.CoreCache.Resolved;
import io.vmdumpfs.core.elf.Compression;
import io.vmdumpfs.core.elf.CoreSource;
import io.vmdumpfs.core.testing.CompressedCores;
import io.vmdumpfs.core.BadCoreException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class CoreSourceTest {

    /** 2 MiB + 123 bytes: blocks of random data between zero runs, and an unaligned tail. */
    static final byte[] CORE = fakeCore(512, 123);

    @TempDir
    Path tmp;

    Path cacheDir;
    Options options;

    @BeforeEach
    void setUp() {
        cacheDir = tmp.resolve("cache/vmdumpfs/cores");
        options = new Options(cacheDir, Progress.NONE, Long.MAX_VALUE);
    }

    /**
     * Returns a fake ELF core of {@code blocks} 4 KiB blocks plus {@code tail} bytes: the ELF magic, then one block
     * in four random and the rest zero (as in a QEMU core, where untouched guest RAM is zero), a random tail.
     */
    static byte[] fakeCore(int blocks, int tail) {
        return CompressedCores.fakeCore(blocks, tail);
    }

    /**
     * Compresses {@code data} as the command line tools and systemd-coredump do: streaming (no content size), with
     * the content checksum that zstd(1), lz4(1), xz and gzip write by default.
     */
    static byte[] compress(Compression c, byte[] data) throws IOException {
        return CompressedCores.compress(c, data);
    }

    Path write(String name, byte[] content) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, content);
        return p;
    }

    @ParameterizedTest
    @EnumSource(value = Compression.class, names = "NONE", mode = EnumSource.Mode.EXCLUDE)
    void resolve_compressed_decompressesToSameBytes(Compression c) throws IOException {
        Path given = write("core." + c.displayName(), compress(c, CORE));

        Resolved r = CoreCache.resolveDetailed(given, options);

        assertEquals(c, r.compression());
        assertTrue(r.decompressed());
        assertEquals(cacheDir, r.path().getParent());
        assertArrayEquals(CORE, Files.readAllBytes(r.path()));
    }

    @Test
    void resolve_plain_returnsGivenWithoutCopy() throws IOException {
        Path given = write("qemu.core", CORE);

        Resolved r = CoreCache.resolveDetailed(given, options);

        assertSame(given, r.path());
        assertEquals(Compression.NONE, r.compression());
        assertFalse(Files.exists(cacheDir), "a plain core must not touch the cache");
    }

    @Test
    void resolve_missingFile_returnsItForTheCoreReaderToReport() {
        Path given = tmp.resolve("absent.core.zst");

        assertSame(given, CoreCache.resolve(given, options));
    }

    @Test
    void resolve_fifo_returnedWithoutReading() throws Exception {
        Path fifo = tmp.resolve("core.fifo");
        Process p = new ProcessBuilder("mkfifo", fifo.toString()).start();
        assertEquals(0, p.waitFor());

        assertSame(fifo, CoreCache.resolve(fifo, options)); // would block if it opened the FIFO
    }

    @Test
    void resolve_byMagicNotName() throws IOException {
        Path zstdNamedCore = write("qemu.core", compress(Compression.ZSTD, CORE));
        Path plainNamedZst = write("qemu.core.zst", CORE);

        assertEquals(Compression.ZSTD, CoreCache.resolveDetailed(zstdNamedCore, options).compression());
        assertSame(plainNamedZst, CoreCache.resolve(plainNamedZst, options));
        assertTrue(CoreSource.isCompressed(zstdNamedCore));
        assertFalse(CoreSource.isCompressed(plainNamedZst));
    }

    @Test
    void resolve_twice_reusesTheCopy() throws IOException {
        byte[] big = fakeCore(4096, 0); // 16 MiB
        Path given = write("core.zst", compress(Compression.ZSTD, big));
        Resolved first = CoreCache.resolveDetailed(given, options);
        FileTime made = Files.getLastModifiedTime(first.path());

        long t0 = System.nanoTime();
        Resolved second = CoreCache.resolveDetailed(given, options);
        long millis = (System.nanoTime() - t0) / 1_000_000;

        assertEquals(first.path(), second.path());
        assertFalse(second.decompressed());
        assertEquals(made, Files.getLastModifiedTime(second.path()), "the copy must not be rewritten");
        assertTrue(millis < 500, "a cache hit took " + millis + " ms");
    }

    @Test
    void resolve_copy_isSparse() throws Exception {
        byte[] big = fakeCore(4096, 0); // 16 MiB, one block in four data
        Path given = write("core.zst", compress(Compression.ZSTD, big));

        Path copy = CoreCache.resolve(given, options);

        long allocated = allocatedBytes(copy);
        assertEquals(big.length, Files.size(copy));
        // A quarter of the blocks hold data; allow the file system's metadata blocks on top.
        assertTrue(allocated < big.length / 2, "allocated " + allocated + " of " + big.length);
    }

    @Test
    void resolve_trailingZeros_keepTheSize() throws IOException {
        byte[] data = new byte[3 * 4096 + 5];
        System.arraycopy(CORE, 0, data, 0, 4096);

        Path copy = CoreCache.resolve(write("tail.zst", compress(Compression.ZSTD, data)), options);

        assertArrayEquals(data, Files.readAllBytes(copy));
    }

    /** Returns the bytes the file system allocated for {@code file} (st_blocks × 512, from stat(1)). */
    static long allocatedBytes(Path file) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).redirectErrorStream(true).start();
        String[] out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip().split(" ");
        assertEquals(0, p.waitFor(), String.join(" ", out));
        return Long.parseLong(out[0]) * Long.parseLong(out[1]);
    }

    @Test
    void resolve_copy_isReadOnlyForTheUser() throws IOException {
        Path copy = CoreCache.resolve(write("core.xz", compress(Compression.XZ, CORE)), options);

        assertEquals("r--------", PosixFilePermissions.toString(Files.getPosixFilePermissions(copy)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(cacheDir)));
    }

    @Test
    void resolve_copy_leavesNoTempOrLockFiles() throws IOException {
        Path copy = CoreCache.resolve(write("core.lz4", compress(Compression.LZ4, CORE)), options);

        String key = copy.getFileName().toString().replace(".core", "");
        assertEquals(List.of(key + ".core", key + ".source"), list(cacheDir));
    }

    static List<String> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Compression.class, names = "NONE", mode = EnumSource.Mode.EXCLUDE)
    void resolve_corrupt_throwsOneLineCorrupt(Compression c) throws IOException {
        byte[] z = compress(c, CORE);
        // Keep the header (magic, frame descriptor), flip bytes in the middle of the data.
        for (int i = z.length / 2; i < z.length / 2 + 64; i++) {
            z[i] ^= 0x5a;
        }
        Path given = write("bad." + c.displayName(), z);

        BadCoreException e = assertThrows(BadCoreException.class, () -> CoreCache.resolve(given, options));

        assertEquals(BadCoreException.Kind.CORRUPT, e.kind());
        assertOneLine(e.getMessage());
        assertTrue(e.getMessage().startsWith(given + ": damaged or truncated " + c.displayName()), e.getMessage());
        assertEquals(List.of(), list(cacheDir), "nothing may be left behind");
    }

    @ParameterizedTest
    @EnumSource(value = Compression.class, names = "NONE", mode = EnumSource.Mode.EXCLUDE)
    void resolve_truncated_throwsCorrupt(Compression c) throws IOException {
        byte[] z = compress(c, CORE);
        Path given = write("short." + c.displayName(), Arrays.copyOf(z, z.length * 2 / 3));

        BadCoreException e = assertThrows(BadCoreException.class, () -> CoreCache.resolve(given, options));

        assertEquals(BadCoreException.Kind.CORRUPT, e.kind(), e.getMessage());
        assertOneLine(e.getMessage());
        assertEquals(List.of(), list(cacheDir));
    }

    @Test
    void resolve_notAnElfInside_throwsUnsupported() throws IOException {
        Path given = write("text.zst", compress(Compression.ZSTD, "hello\n".repeat(1000).getBytes(StandardCharsets.UTF_8)));

        BadCoreException e = assertThrows(BadCoreException.class, () -> CoreCache.resolve(given, options));

        assertEquals(BadCoreException.Kind.UNSUPPORTED, e.kind());
        assertEquals(given + ": decompresses (zstd) to data that is not an ELF core", e.getMessage());
    }

    @Test
    void resolve_bzip2_throwsUnsupportedWithHint() throws IOException {
        Path given = write("core.bz2", "BZh91AY&SY-rest-of-it".getBytes(StandardCharsets.US_ASCII));

        BadCoreException e = assertThrows(BadCoreException.class, () -> CoreCache.resolve(given, options));

        assertEquals(BadCoreException.Kind.UNSUPPORTED, e.kind());
        assertEquals(given + ": compressed with bzip2, which vmdumpfs does not read; decompress it first: bunzip2 -k "
                + given, e.getMessage());
    }

    @Test
    void resolve_knownSizeOverLimit_failsBeforeWriting() throws IOException {
        // Zstd.compress records Frame_Content_Size, so the check happens before anything is written.
        Path given = write("core.zst", Zstd.compress(CORE));
        Options tiny = options.withSpaceLimit(1 << 20);

        BadCoreException e = assertThrows(BadCoreException.class, () -> CoreCache.resolve(given, tiny));

        assertEquals(BadCoreException.Kind.IO, e.kind());
        assertOneLine(e.getMessage());
        assertTrue(e.getMessage().contains("needs 2.0 MiB in " + cacheDir + ", but only 1.0 MiB is free"), e.getMessage());
        assertTrue(e.getMessage().endsWith("zstd -d -k " + given), e.getMessage());
        assertEquals(List.of(), list(cacheDir));
    }

    @Test
    void resolve_unknownSizeOverLimit_failsWhileWriting() throws IOException {
        Path given = write("core.lz4", compress(Compression.LZ4, CORE)); // streamed: no content size
        Options tiny = options.withSpaceLimit(256 * 1024);

        BadCoreException e = assertThrows(BadCoreException.class, () -> CoreCache.resolve(given, tiny));

        assertEquals(BadCoreException.Kind.IO, e.kind());
        assertTrue(e.getMessage().contains("needs more than 262144 bytes in " + cacheDir), e.getMessage());
        assertEquals(List.of(), list(cacheDir), "the partial copy must be removed");
    }

    @Test
    void resolve_withinLimit_sparseBlocksDoNotCount() throws IOException {
        // 16 MiB decompressed, 4 MiB of data: fits a 6 MiB limit because holes take no space.
        byte[] big = fakeCore(4096, 0);
        Path given = write("core.lz4", compress(Compression.LZ4, big));

        Path copy = CoreCache.resolve(given, options.withSpaceLimit(6 << 20));

        assertEquals(big.length, Files.size(copy));
    }

    @Test
    void resolve_sourceRewritten_makesNewCopyAndDropsOld() throws IOException {
        Path given = write("core.zst", compress(Compression.ZSTD, CORE));
        Path old = CoreCache.resolve(given, options);
        byte[] other = CORE.clone();
        other[100] ^= 1;
        Files.write(given, compress(Compression.ZSTD, other));
        Files.setLastModifiedTime(given, FileTime.fromMillis(System.currentTimeMillis() + 5000));

        Path fresh = CoreCache.resolve(given, options);

        assertNotEquals(old, fresh);
        assertArrayEquals(other, Files.readAllBytes(fresh));
        assertFalse(Files.exists(old), "the copy of the replaced file must be pruned");
    }

    @Test
    void resolve_otherSourceDeleted_prunesItsCopy() throws IOException {
        Path a = write("a.zst", compress(Compression.ZSTD, CORE));
        Path copyA = CoreCache.resolve(a, options);
        Files.delete(a);

        CoreCache.resolve(write("b.xz", compress(Compression.XZ, CORE)), options);

        assertFalse(Files.exists(copyA));
        assertEquals(2, list(cacheDir).size(), list(cacheDir).toString());
    }

    @Test
    void resolve_staleTempFile_isRemoved() throws IOException {
        Path given = write("core.zst", compress(Compression.ZSTD, CORE));
        Path copy = CoreCache.resolve(given, options);
        String key = copy.getFileName().toString().replace(".core", "");
        Files.delete(copy);
        Path leftover = Files.write(cacheDir.resolve(key + ".12345.tmp"), new byte[] {1, 2, 3});

        CoreCache.resolve(given, options);

        assertFalse(Files.exists(leftover));
        assertEquals(List.of(key + ".core", key + ".source"), list(cacheDir));
    }

    @Test
    void resolve_concurrently_decompressesOnce() throws Exception {
        Path given = write("core.zst", compress(Compression.ZSTD, fakeCore(8192, 0)));
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Resolved>> fs = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                fs.add(pool.submit((Callable<Resolved>) () -> CoreCache.resolveDetailed(given, options)));
            }
            int decompressed = 0;
            Path path = null;
            for (Future<Resolved> f : fs) {
                Resolved r = f.get();
                decompressed += r.decompressed() ? 1 : 0;
                path = path == null ? r.path() : path;
                assertEquals(path, r.path());
            }
            assertEquals(1, decompressed);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void resolve_unwritableCacheDir_throwsIoWithHint() throws IOException {
        Path blocker = write("not-a-dir", new byte[0]);
        Path given = write("core.zst", compress(Compression.ZSTD, CORE));

        BadCoreException e = assertThrows(BadCoreException.class,
                () -> CoreCache.resolve(given, options.withCacheDir(blocker.resolve("cores"))));

        assertEquals(BadCoreException.Kind.IO, e.kind());
        assertOneLine(e.getMessage());
        assertTrue(e.getMessage().endsWith("set XDG_CACHE_HOME to a writable directory"), e.getMessage());
    }

    @Test
    void resolve_progress_coversTheWholeFile() throws IOException {
        byte[] z = compress(Compression.GZIP, fakeCore(2048, 0));
        Path given = write("core.gz", z);
        List<String> events = new ArrayList<>();
        Progress recorder = new Progress() {
            long last;

            @Override
            public void start(String task, long totalBytes) {
                events.add("start " + task + " " + totalBytes);
            }

            @Override
            public void update(long doneBytes) {
                assertTrue(doneBytes >= last);
                last = doneBytes;
            }

            @Override
            public void finish(boolean completed) {
                events.add("finish " + completed + " " + last);
            }
        };

        CoreCache.resolve(given, options.withProgress(recorder));

        assertEquals(List.of("start Decompressing core.gz (gzip) " + z.length, "finish true " + z.length), events);
    }

    @Test
    void defaultCacheDir_followsXdg() {
        assertEquals(Path.of("/var/cache/vmdumpfs/cores"),
                CoreCache.defaultCacheDir(Map.of("XDG_CACHE_HOME", "/var/cache"), "/root"));
        assertEquals(Path.of("/home/u/.cache/vmdumpfs/cores"), CoreCache.defaultCacheDir(Map.of(), "/home/u"));
        assertEquals(Path.of("/home/u/.cache/vmdumpfs/cores"),
                CoreCache.defaultCacheDir(Map.of("XDG_CACHE_HOME", "relative/dir"), "/home/u"));
        assertEquals(Path.of("/home/u/.cache/vmdumpfs/cores"),
                CoreCache.defaultCacheDir(Map.of("XDG_CACHE_HOME", ""), "/home/u"));
    }

    static void assertOneLine(String message) {
        assertFalse(message.contains("\n") || message.contains("\r"), "more than one line: " + message);
    }
}

package io.vmdumpfs.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.format.BuildProgress;
import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.format.kdump.KdumpView;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** kdump indexes persisted in an {@link IndexStore}: a remount loads them, damaged ones are rebuilt. */
class KdumpIndexPersistenceTest {

    /** As KdumpViewTest's guest: holes, a page shared by two blocks, a block far up. */
    static final String BLOCKS = """
            0         9f400    pc.ram
            9f800     800      odd
            100000    300000   pc.ram
            fffc0000  40000    pc.bios
            """;

    @TempDir
    Path tmp;

    private SyntheticGuest guest;
    private Path cacheDir;

    @BeforeEach
    void setUp() {
        guest = SyntheticGuest.builder(tmp).blocks(BLOCKS).vmcoreinfo("OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\n")
                .vcpus(3).seed(7).build();
        cacheDir = tmp.resolve("cache");
    }

    @AfterEach
    void tearDown() throws IOException {
        guest.close();
    }

    /** A mount's view of {@code f}: a new context (as a new mount has) over the same store. */
    private KdumpView open(DumpFormat f, Path dir) {
        return (KdumpView) f.open(guest.dump(), new FormatContext(ChunkCache.NONE, new IndexStore(dir), 2));
    }

    private List<Path> indexFiles(String kind) throws IOException {
        Path d = cacheDir.resolve(IndexStore.SUBDIR);
        if (!Files.isDirectory(d)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(d)) {
            return s.filter(p -> p.getFileName().toString().startsWith(kind + "-")).sorted().toList();
        }
    }

    static byte[] readAll(View v, int step) {
        byte[] out = new byte[(int) v.size()];
        ByteBuffer dst = ByteBuffer.allocate(step);
        for (int pos = 0; pos < out.length; ) {
            dst.clear();
            int n = v.read(pos, dst);
            System.arraycopy(dst.array(), 0, out, pos, n);
            pos += n;
        }
        return out;
    }

    @Test
    void indexFile_roundTrip_secondMountLoadsIt() throws Exception {
        KdumpView first = open(DumpFormat.KDUMP_ZLIB, cacheDir);
        byte[] a = readAll(first, 65536);
        List<Path> files = indexFiles("kdump-zlib");
        assertEquals(1, files.size(), "one index persisted");

        KdumpView second = open(DumpFormat.KDUMP_ZLIB, cacheDir);
        second.prepare();
        // loaded synchronously: ready before anything was compressed
        assertEquals(BuildProgress.State.READY, second.progress().state());
        assertArrayEquals(a, readAll(second, 77_777));
        assertEquals(files, indexFiles("kdump-zlib"));

        // another codec has its own index
        open(DumpFormat.KDUMP_LZO, cacheDir).size();
        assertEquals(1, indexFiles("kdump-lzo").size());
        assertNotEquals(files.get(0), indexFiles("kdump-lzo").get(0));
    }

    @Test
    void indexFile_corrupted_detectedAndRebuilt() throws Exception {
        KdumpView first = open(DumpFormat.KDUMP_SNAPPY, cacheDir);
        byte[] a = readAll(first, 65536);
        Path file = indexFiles("kdump-snappy").get(0);
        byte[] good = Files.readAllBytes(file);
        byte[] bad = good.clone();
        // the last stored size (before the 4-byte checksum), off by one: only the checksum can tell
        bad[bad.length - 4 - 2] ^= 0x01;
        Files.write(file, bad);

        KdumpView second = open(DumpFormat.KDUMP_SNAPPY, cacheDir);
        second.prepare();
        assertNotEquals(BuildProgress.State.READY, second.progress().state(), "a corrupt index is not used");
        assertArrayEquals(a, readAll(second, 99_999));
        assertArrayEquals(good, Files.readAllBytes(file), "rebuilt and written again");
    }

    @Test
    void indexFile_truncated_detectedAndRebuilt() throws Exception {
        KdumpView first = open(DumpFormat.KDUMP_ZLIB, cacheDir);
        byte[] a = readAll(first, 65536);
        Path file = indexFiles("kdump-zlib").get(0);
        byte[] good = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(good, good.length - 3));
        KdumpView second = open(DumpFormat.KDUMP_ZLIB, cacheDir);
        assertArrayEquals(a, readAll(second, 140_000));
        assertArrayEquals(good, Files.readAllBytes(file));
    }

    @Test
    void indexFile_unwritableDirectory_stillServesFromMemory() throws Exception {
        Path notADir = Files.writeString(tmp.resolve("file"), "x");
        KdumpView v = open(DumpFormat.KDUMP_ZLIB, notADir);
        byte[] a = readAll(v, 65536);
        assertArrayEquals(readAll(DumpFormat.KDUMP_ZLIB.open(guest.dump(), FormatContext.uncached()), 1 << 20), a);
        assertTrue(Files.isRegularFile(notADir), "nothing written over it");
    }
}

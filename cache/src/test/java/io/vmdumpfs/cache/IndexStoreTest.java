package io.vmdumpfs.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.format.IndexRepository;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ReadableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IndexStoreTest {

    @TempDir
    Path tmp;

    @Test
    void directory_xdgCacheHomeAbsolute_used() {
        assertEquals(Optional.of(Path.of("/x/cache/vmdumpfs")),
                IndexStore.directory(Map.of("XDG_CACHE_HOME", "/x/cache", "HOME", "/home/u"), "/nope"));
    }

    @Test
    void directory_xdgCacheHomeRelative_ignored() {
        assertEquals(Optional.of(Path.of("/home/u/.cache/vmdumpfs")),
                IndexStore.directory(Map.of("XDG_CACHE_HOME", "rel/cache", "HOME", "/home/u"), "/nope"));
    }

    @Test
    void directory_noHomeVariable_userHomeProperty() {
        assertEquals(Optional.of(Path.of("/home/p/.cache/vmdumpfs")), IndexStore.directory(Map.of(), "/home/p"));
    }

    @Test
    void directory_noHomeAtAll_empty() {
        assertEquals(Optional.empty(), IndexStore.directory(Map.of(), null));
        assertEquals(Optional.empty(), IndexStore.directory(Map.of("HOME", ""), ""));
    }

    @Test
    void create_newDirectory_privateMode() throws Exception {
        Path d = IndexStore.create(tmp.resolve("a/b/vmdumpfs"));
        assertTrue(Files.isDirectory(d));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(d)));
    }

    private Path file(String sub, String name, int size, long mtimeMillis) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(sub));
        Path f = Files.write(dir.resolve(name), new byte[size]);
        Files.setLastModifiedTime(f, FileTime.fromMillis(mtimeMillis));
        return f;
    }

    @Test
    void prune_overBudget_deletesLeastRecentlyUsedIndexesOnly() throws Exception {
        Path old = file("kdump-index", "kdump-zlib-1.idx", 1000, 1_000_000);
        Path mid = file("kdump-index", "kdump-lzo-2.idx", 1000, 2_000_000);
        Path recent = file("other-index", "x-3.idx", 1000, 3_000_000);
        Path notAnIndex = file("kdump-index", "notes.txt", 5000, 0);
        assertEquals(2000, IndexStore.prune(tmp, 1500));
        assertFalse(Files.exists(old));
        assertFalse(Files.exists(mid));
        assertTrue(Files.exists(recent));
        assertTrue(Files.exists(notAnIndex));
        assertEquals(0, IndexStore.prune(tmp, 1500));
    }

    @Test
    void prune_missingDirectory_nothing() throws Exception {
        assertEquals(0, IndexStore.prune(tmp.resolve("none"), 0));
    }

    // ---------------------------------------------------------------- the repository's files

    private static final IndexRepository.Key KEY = new IndexRepository.Key("kdump-zlib", "2a" + "0".repeat(62));

    /** A payload the "format" checks: a length, then that many bytes of value 7. */
    private static IndexRepository.Writer payload(int n) {
        return out -> {
            ByteBuffer b = ByteBuffer.allocate(4 + n).order(ByteOrder.LITTLE_ENDIAN).putInt(n);
            while (b.hasRemaining()) {
                b.put((byte) 7);
            }
            out.write(b.flip());
        };
    }

    private static final IndexRepository.Reader<Integer> READER = in -> {
        ByteBuffer h = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        readFully(in, h);
        int n = h.getInt(0);
        if (n < 0 || n > 1 << 24) {
            throw new IndexRepository.CorruptIndexException("length " + n);
        }
        ByteBuffer b = ByteBuffer.allocate(n);
        readFully(in, b);
        for (int i = 0; i < n; i++) {
            if (b.get(i) != 7) {
                throw new IndexRepository.CorruptIndexException("byte " + i);
            }
        }
        return n;
    };

    private static void readFully(ReadableByteChannel in, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (in.read(b) < 0) {
                throw new EOFException();
            }
        }
    }

    @Test
    void store_thenLoad_roundTrip_namedByKindAndDigest() throws Exception {
        IndexStore store = new IndexStore(tmp);
        assertTrue(store.store(KEY, payload(3_000_000)));
        Path f = store.fileOf(KEY);
        assertEquals(tmp.resolve("indexes/kdump-zlib-2a" + "0".repeat(30) + ".idx"), f);
        assertEquals(IndexStore.HEADER + 4 + 3_000_000 + 4, Files.size(f));
        assertEquals(Optional.of(3_000_000), store.load(KEY, READER));
        try (var s = Files.list(f.getParent())) {
            assertEquals(1, s.count(), "no temporary file left behind");
        }
    }

    @Test
    void load_absent_empty() {
        assertEquals(Optional.empty(), new IndexStore(tmp).load(KEY, READER));
    }

    @Test
    void load_refreshesTheModificationTime() throws Exception {
        IndexStore store = new IndexStore(tmp);
        store.store(KEY, payload(10));
        Files.setLastModifiedTime(store.fileOf(KEY), FileTime.fromMillis(1_000_000));
        store.load(KEY, READER);
        assertTrue(Files.getLastModifiedTime(store.fileOf(KEY)).toMillis() > 1_000_000, "marked as recently used");
    }

    /** Stores an index, damages its file, loads it: must be empty and the file deleted. */
    private void assertDamageDetected(java.util.function.Consumer<ByteBuffer> damage) throws Exception {
        IndexStore store = new IndexStore(tmp);
        store.store(KEY, payload(1000));
        Path f = store.fileOf(KEY);
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        damage.accept(b);
        Files.write(f, Arrays.copyOf(b.array(), b.limit()));
        assertEquals(Optional.empty(), store.load(KEY, READER));
        assertFalse(Files.exists(f), "a damaged index is deleted");
    }

    @Test
    void load_badMagic_deleted() throws Exception {
        assertDamageDetected(b -> b.put(0, (byte) 'X'));
    }

    @Test
    void load_otherVersion_deleted() throws Exception {
        assertDamageDetected(b -> b.putInt(8, 2));
    }

    @Test
    void load_otherKeyInside_deleted() throws Exception {
        assertDamageDetected(b -> b.put(30, (byte) 1));
    }

    @Test
    void load_checksumDamaged_deleted() throws Exception {
        assertDamageDetected(b -> b.put(b.limit() - 2, (byte) (b.get(b.limit() - 2) ^ 4)));
    }

    @Test
    void load_headerDamaged_deleted() throws Exception {
        assertDamageDetected(b -> b.put(60, (byte) 1)); // a reserved byte: only the header checksum can tell
    }

    @Test
    void load_contentTheReaderRejects_deleted() throws Exception {
        assertDamageDetected(b -> b.put(IndexStore.HEADER + 10, (byte) 6));
    }

    @Test
    void load_truncated_deleted() throws Exception {
        assertDamageDetected(b -> b.limit(b.limit() - 3));
    }

    @Test
    void load_contentLeftUnread_deleted() throws Exception {
        // a reader that stops early: the length says there is more, so the file is not what the reader wrote
        IndexStore store = new IndexStore(tmp);
        store.store(KEY, out -> {
            payload(10).write(out);
            out.write(ByteBuffer.allocate(5));
        });
        assertEquals(Optional.empty(), store.load(KEY, READER));
        assertFalse(Files.exists(store.fileOf(KEY)));
    }

    @Test
    void store_unwritableDirectory_false() throws Exception {
        Path notADir = Files.writeString(tmp.resolve("file"), "x");
        assertFalse(new IndexStore(notADir).store(KEY, payload(10)));
    }

    @Test
    void discard_deletes() throws Exception {
        IndexStore store = new IndexStore(tmp);
        store.store(KEY, payload(10));
        store.discard(KEY);
        assertFalse(Files.exists(store.fileOf(KEY)));
        store.discard(KEY); // absent: nothing happens
    }
}

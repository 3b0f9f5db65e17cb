package io.vmdumpfs.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
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
}

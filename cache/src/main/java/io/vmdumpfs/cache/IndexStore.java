package io.vmdumpfs.cache;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where persisted indexes live between mounts: the user's cache directory ({@code $XDG_CACHE_HOME/vmdumpfs}, else
 * {@code ~/.cache/vmdumpfs}, as the XDG Base Directory spec says), and its upkeep. The formats write their index
 * files themselves (kdump: {@code kdump-index/*.idx}, see dump-core's KdumpView); this class finds the directory for
 * {@link io.vmdumpfs.core.format.FormatContext#cacheDir()} and keeps it within a size budget.
 *
 * <p>The index files are small (about 2 bytes per guest page and format: 2 MiB for the four kdump files of a 1 GiB
 * guest), so the budget only matters after many cores. Reading an index refreshes its modification time, so
 * {@link #prune} removes the least recently used first.
 */
public final class IndexStore {

    /** Default budget for all persisted indexes: room for the kdump indexes of about 100 GiB of guests. */
    public static final long DEFAULT_MAX_BYTES = 256L << 20;
    /** The index files' suffix; nothing else is ever deleted. */
    static final String SUFFIX = ".idx";

    private IndexStore() {
    }

    /** Returns the cache directory for this process's environment, or empty when there is no home directory. */
    public static Optional<Path> defaultDirectory() {
        return directory(System.getenv(), System.getProperty("user.home"));
    }

    /**
     * Returns {@code $XDG_CACHE_HOME/vmdumpfs} when XDG_CACHE_HOME is set to an absolute path (the spec says to
     * ignore a relative one), else {@code HOME/.cache/vmdumpfs}; empty when neither is usable.
     */
    static Optional<Path> directory(Map<String, String> env, String userHome) {
        String xdg = env.get("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isEmpty() && Path.of(xdg).isAbsolute()) {
            return Optional.of(Path.of(xdg, "vmdumpfs"));
        }
        String home = env.getOrDefault("HOME", userHome);
        if (home == null || home.isEmpty() || !Path.of(home).isAbsolute()) {
            return Optional.empty();
        }
        return Optional.of(Path.of(home, ".cache", "vmdumpfs"));
    }

    /**
     * Creates {@code dir} (mode 0700 where POSIX permissions exist: the indexes reveal which cores a user opened)
     * and returns it.
     *
     * @throws UncheckedIOException if it cannot be created
     */
    public static Path create(Path dir) {
        try {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir);
                try {
                    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
                } catch (UnsupportedOperationException e) {
                    // not a POSIX file system: keep its default permissions
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create cache directory " + dir, e);
        }
    }

    /**
     * Deletes the least recently used {@code *.idx} files in the subdirectories of {@code dir} (one level: kdump-index
     * and the like) until they take at most {@code maxBytes}. Files vanishing meanwhile are fine (another mount
     * pruning too).
     *
     * @return the bytes deleted
     */
    public static long prune(Path dir, long maxBytes) throws IOException {
        record Entry(Path path, long size, long mtime) {
        }
        List<Entry> entries = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (DirectoryStream<Path> subs = Files.newDirectoryStream(dir, Files::isDirectory)) {
            for (Path sub : subs) {
                try (DirectoryStream<Path> files = Files.newDirectoryStream(sub, "*" + SUFFIX)) {
                    for (Path f : files) {
                        try {
                            BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
                            if (a.isRegularFile()) {
                                entries.add(new Entry(f, a.size(), a.lastModifiedTime().toMillis()));
                            }
                        } catch (NoSuchFileException e) {
                            // deleted meanwhile
                        }
                    }
                }
            }
        }
        long total = entries.stream().mapToLong(Entry::size).sum();
        entries.sort(Comparator.comparingLong(Entry::mtime));
        long deleted = 0;
        for (Entry e : entries) {
            if (total - deleted <= maxBytes) {
                break;
            }
            if (Files.deleteIfExists(e.path())) {
                deleted += e.size();
            }
        }
        return deleted;
    }
}

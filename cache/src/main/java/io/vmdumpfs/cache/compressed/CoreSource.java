package io.vmdumpfs.cache.compressed;

import io.vmdumpfs.core.BadCoreException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;

/**
 * Turns the core file a user named into one the core reader can open: a plain core as it is (never copied), a
 * compressed one (zstd, xz, lz4, gzip; see {@link Compression}) as its decompressed copy in the core cache.
 *
 * <p>Why a copy: the core reader needs random access (the ELF headers point all over the file, and a FUSE read
 * asks for any offset), and a zstd, lz4 or single-block xz stream can only be decoded from its start. The copy is
 * sparse (all-zero 4 KiB blocks are holes), made once per core and reused by every later mount, {@code info},
 * {@code blocks} or {@code convert}; see {@link CoreCache} for its key, its atomic creation and its clean-up.
 *
 * <p>Thread-safe; concurrent calls for the same core, in one process or several, decompress it once.
 */
public final class CoreSource {

    private CoreSource() {
    }

    /**
     * Where and how {@link #resolve} works.
     *
     * @param cacheDir        the directory holding decompressed cores; created (mode 0700) when missing
     * @param progress        receives the progress of a decompression
     * @param spaceLimitBytes the most disk space a decompression may use, on top of what the file system has free:
     *                        the smaller of the two counts. {@code Long.MAX_VALUE} normally; tests set it low.
     */
    public record Options(Path cacheDir, Progress progress, long spaceLimitBytes) {

        public Options {
            Objects.requireNonNull(cacheDir, "cacheDir");
            Objects.requireNonNull(progress, "progress");
            if (spaceLimitBytes < 0) {
                throw new IllegalArgumentException("spaceLimitBytes was " + spaceLimitBytes);
            }
        }

        /**
         * Returns the options of a command-line run: the cache in {@link #defaultCacheDir}, a progress bar when
         * stderr is a terminal, no space limit but the file system's.
         */
        public static Options defaults() {
            return new Options(defaultCacheDir(System.getenv(), System.getProperty("user.home")), Progress.terminal(),
                    Long.MAX_VALUE);
        }

        public Options withCacheDir(Path dir) {
            return new Options(dir, progress, spaceLimitBytes);
        }

        public Options withProgress(Progress p) {
            return new Options(cacheDir, p, spaceLimitBytes);
        }

        public Options withSpaceLimit(long bytes) {
            return new Options(cacheDir, progress, bytes);
        }
    }

    /**
     * What {@link #resolveDetailed} found and did.
     *
     * @param path         the file to open: {@code given} itself when plain, else the cached decompressed copy
     * @param compression  how {@code given} is compressed
     * @param decompressed true when this call decompressed it, false for a plain core or a cache hit
     */
    public record Resolved(Path path, Compression compression, boolean decompressed) {
    }

    /**
     * Returns the file to open for the core the user named: {@code given} itself unless its magic bytes say it is
     * compressed, else its decompressed copy, made now (with a progress bar on a terminal) unless the cache already
     * holds it. A file that cannot be opened or read is returned as it is, so that the core reader reports it in its
     * usual words; so is anything that is not a regular file.
     *
     * @throws BadCoreException CORRUPT when the compressed data is damaged or truncated; UNSUPPORTED for a
     *                          compression we do not read (bzip2) or for data that is no ELF core once decompressed;
     *                          IO when the cache directory cannot be created or written or lacks the space (the
     *                          message says how much is needed and where)
     */
    public static Path resolve(Path given, Options options) {
        return resolveDetailed(given, options).path();
    }

    /** Same as {@link #resolve}, and says what it did. */
    public static Resolved resolveDetailed(Path given, Options options) {
        if (!Files.isRegularFile(given)) {
            // Missing, a directory, a FIFO (reading would block or eat its bytes): the core reader says which.
            return new Resolved(given, Compression.NONE, false);
        }
        byte[] head = new byte[64];
        int len;
        try (InputStream in = Files.newInputStream(given)) {
            len = in.readNBytes(head, 0, head.length);
        } catch (IOException | UnsupportedOperationException e) {
            return new Resolved(given, Compression.NONE, false);
        }
        Compression c;
        try {
            c = Compression.detect(head, len);
        } catch (Compression.UnsupportedCompressionException e) {
            throw new BadCoreException(BadCoreException.Kind.UNSUPPORTED, given, "compressed with " + e.format
                    + ", which vmdumpfs does not read; decompress it first: " + e.command + " " + given);
        }
        if (c == Compression.NONE) {
            return new Resolved(given, c, false);
        }
        return CoreCache.materialize(given, c, head, len, options);
    }

    /** Returns true when {@code file} starts with the magic of a compression that {@link #resolve} decompresses. */
    public static boolean isCompressed(Path file) {
        byte[] head = new byte[Compression.MAGIC_BYTES];
        try (InputStream in = Files.newInputStream(file)) {
            int len = in.readNBytes(head, 0, head.length);
            return Compression.detect(head, len) != Compression.NONE;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Returns the default cache directory: {@code $XDG_CACHE_HOME/vmdumpfs/cores}, or {@code ~/.cache/vmdumpfs/cores}
     * when XDG_CACHE_HOME is unset, empty or relative (the XDG Base Directory spec says to ignore relative ones).
     * The systemd units set XDG_CACHE_HOME to /var/cache.
     */
    public static Path defaultCacheDir(Map<String, String> env, String userHome) {
        String xdg = env.get("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isEmpty() && Path.of(xdg).isAbsolute()
                ? Path.of(xdg) : Path.of(userHome, ".cache");
        return base.resolve("vmdumpfs").resolve("cores");
    }
}

package io.vmdumpfs.cache.compressed;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.Compression;
import io.vmdumpfs.core.elf.CoreSource;
import io.vmdumpfs.core.elf.FileIdentity;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The decompressed copies of compressed cores ({@link CoreSource}), kept between runs so that every later mount,
 * {@code info}, {@code blocks} or {@code convert} of the same core opens the copy at once. One directory of files:
 * <pre>
 * KEY.core     the decompressed core, sparse, mode 0400 (it is guest memory)
 * KEY.source   what it was made from (path, identity, compression, sizes), for clean-up and for people
 * KEY.lock     exists while a process decompresses KEY (flock'ed); removed after
 * KEY.*.tmp    the copy being written; renamed to KEY.core when complete
 * </pre>
 * KEY is the first 128 bits, in hex, of SHA-256 over a version tag, the compression, the identity of the compressed
 * file ({@link FileIdentity}: device, inode, size, mtime in nanoseconds, as for the kdump index) and its first 64 KiB.
 * A rewritten or replaced file gets another key, so a stale copy is never used; the 64 KiB catch a file rewritten
 * within the mtime's granularity on a file system that reuses the inode.
 *
 * <p>A KEY.core is complete by construction: it appears only by an atomic rename of a fully written, fsync'ed temp
 * file. Every call also removes entries whose compressed file was deleted or changed, and temp files that no running
 * process is writing.
 *
 * <p>Limits: the free-space check before decompressing uses the decompressed size, holes included, when the format
 * records it (often it does not: systemd-coredump streams); while writing, the bytes actually allocated are checked.
 * Entries of compressed files on file systems that are not mounted at the moment are kept.
 */
public final class CoreCache implements CoreSource.Copies {

    static final String VERSION_TAG = "vmdumpfs core cache v1";
    /** Bytes of the compressed file hashed into the key (as the kdump index hashes the core's first 64 KiB). */
    static final int PREFIX_BYTES = 64 * 1024;
    /**
     * Decompression buffer: a multiple of {@link SparseWriter#BLOCK} (so holes stay block-aligned), large enough
     * that per-call overhead in the decoders vanishes, small enough for any heap.
     */
    static final int CHUNK = 1 << 20;

    /**
     * One lock per key for threads of this JVM: {@link FileChannel#lock} excludes other processes, but within a
     * JVM a second lock on the same file throws OverlappingFileLockException instead of waiting.
     */
    private static final Map<String, ReentrantLock> IN_PROCESS = new ConcurrentHashMap<>();

    /**
     * Where and how the copies are made.
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
     * @param path         the file to open: the given file itself when plain, else the cached decompressed copy
     * @param compression  how the given file is compressed
     * @param decompressed true when this call decompressed it, false for a plain core or a cache hit
     */
    public record Resolved(Path path, Compression compression, boolean decompressed) {
    }

    private final Options options;
    /** Whether the last {@link #copyOf} decompressed (for {@link #resolveDetailed}); per instance, one caller. */
    private volatile boolean lastDecompressed;

    public CoreCache(Options options) {
        this.options = Objects.requireNonNull(options, "options");
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
        return CoreSource.of(given).resolve(new CoreCache(options));
    }

    /** Same as {@link #resolve}, and says what it did. */
    public static Resolved resolveDetailed(Path given, Options options) {
        CoreSource source = CoreSource.of(given);
        CoreCache cache = new CoreCache(options);
        Path p = source.resolve(cache);
        return new Resolved(p, source.compression(), source.compression() != Compression.NONE && cache.lastDecompressed);
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

    /** Returns the cached decompressed copy of {@code source}, making it first when absent. */
    @Override
    public Path copyOf(CoreSource source) {
        Path given = source.path();
        Compression c = source.compression();
        Path dir = options.cacheDir().toAbsolutePath();
        createDirectory(dir, given);
        FileIdentity id = FileIdentity.of(given);
        String key = key(given, c, id);
        Path target = dir.resolve(key + ".core");
        lastDecompressed = false;
        if (isComplete(target)) {
            prune(dir);
            return target;
        }
        ReentrantLock inProcess = IN_PROCESS.computeIfAbsent(key, k -> new ReentrantLock());
        inProcess.lock();
        try {
            Path lockFile = dir.resolve(key + ".lock");
            try (FileChannel lockChannel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock lock = lockChannel.lock()) {
                // Another process may have finished it while we waited for the lock.
                if (isComplete(target)) {
                    return target;
                }
                try {
                    deleteTempFiles(dir, key);
                    decompress(source, id, dir, key, target);
                } finally {
                    // Remove the lock file while holding it: a process that opened it meanwhile locks the unlinked
                    // file, then finds KEY.core complete (or fails as we did); one that comes later finds KEY.core
                    // before locking, or makes a new lock file.
                    Files.deleteIfExists(lockFile);
                }
            } catch (IOException e) {
                throw new BadCoreException(Kind.IO, given, "cannot lock " + lockFile + ": " + e.getMessage(), e);
            }
        } finally {
            inProcess.unlock();
        }
        prune(dir);
        lastDecompressed = true;
        return target;
    }

    /** Returns the cache key of {@code given} (see the class comment). */
    static String key(Path given, Compression c, FileIdentity id) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from the JDK", e);
        }
        md.update((VERSION_TAG + "\0" + c.displayName() + "\0" + id + "\0").getBytes(StandardCharsets.UTF_8));
        try (InputStream in = Files.newInputStream(given)) {
            md.update(in.readNBytes(PREFIX_BYTES));
        } catch (IOException e) {
            throw new BadCoreException(Kind.IO, given, "cannot read: " + e.getMessage(), e);
        }
        return HexFormat.of().formatHex(md.digest(), 0, 16);
    }

    private void decompress(CoreSource source, FileIdentity id, Path dir, String key, Path target) {
        Path given = source.path();
        Compression c = source.compression();
        long available = Math.min(usableSpace(dir, given), options.spaceLimitBytes());
        OptionalLong expected = source.decompressedSize();
        if (expected.isPresent() && expected.getAsLong() > available) {
            throw noSpace(given, c, dir, expected.getAsLong(), available);
        }
        Path tmp;
        try {
            tmp = Files.createTempFile(dir, key + ".", ".tmp"); // mode 0600
        } catch (IOException e) {
            throw new BadCoreException(Kind.IO, given, "cannot create a file in " + dir + " for its decompressed copy: "
                    + e.getMessage() + "; set XDG_CACHE_HOME to a writable directory", e);
        }
        boolean done = false;
        Progress progress = options.progress();
        progress.start("Decompressing " + given.getFileName() + " (" + c.displayName() + ")", id.size());
        try (SparseWriter out = new SparseWriter(tmp, available)) {
            try (CoreSource.Decoder in = source.decode()) {
                copy(in, out, progress);
            }
            out.finish();
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("r--------"));
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target);
            }
            done = true;
            writeSource(dir.resolve(key + ".source"), given, id, c, out);
        } catch (BadCoreException e) {
            throw e;
        } catch (SparseWriter.LimitExceededException e) {
            throw noSpace(given, c, dir, -1, available);
        } catch (IOException e) {
            if (String.valueOf(e.getMessage()).contains("No space left")) {
                throw noSpace(given, c, dir, expected.orElse(-1), available);
            }
            throw new BadCoreException(Kind.IO, given, "cannot write its decompressed copy in " + dir + ": "
                    + oneLine(e), e);
        } finally {
            progress.finish(done);
            if (!done) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // deleteTempFiles removes it next time
                }
            }
        }
    }

    /** Decodes into {@code out}; the decoder's BadCoreExceptions and the writer's IOExceptions pass through. */
    private static void copy(CoreSource.Decoder in, SparseWriter out, Progress progress) throws IOException {
        byte[] buf = new byte[CHUNK];
        for (int n; (n = in.read(buf)) > 0; ) {
            out.write(buf, 0, n);
            progress.update(in.compressedBytesRead());
            if (n < buf.length) {
                return;
            }
        }
    }

    private static BadCoreException noSpace(Path given, Compression c, Path dir, long needed, long available) {
        String need = needed >= 0 ? "needs " + human(needed) : "needs more than " + human(available);
        return new BadCoreException(Kind.IO, given, "decompressing it (" + c.displayName() + ") " + need + " in " + dir
                + ", but only " + human(available) + " is free; free some space, or point XDG_CACHE_HOME at a"
                + " larger file system, or decompress it yourself: " + c.decompressCommand() + " " + given);
    }

    static String human(long bytes) {
        if (bytes < 1 << 20) {
            return bytes + " bytes";
        }
        if (bytes < 1L << 30) {
            return String.format("%.1f MiB", bytes / (double) (1 << 20));
        }
        return String.format("%.1f GiB", bytes / (double) (1L << 30));
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
    }

    private static long usableSpace(Path dir, Path given) {
        try {
            return Files.getFileStore(dir).getUsableSpace();
        } catch (IOException e) {
            throw new BadCoreException(Kind.IO, given, "cannot see the free space in " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void createDirectory(Path dir, Path given) {
        if (Files.isDirectory(dir)) {
            return;
        }
        try {
            // Only the directories made here get 0700; existing ones (~/.cache) keep what their owner chose.
            Path p = dir;
            java.util.ArrayDeque<Path> missing = new java.util.ArrayDeque<>();
            while (p != null && !Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                missing.push(p);
                p = p.getParent();
            }
            for (Path m : missing) {
                try {
                    Files.createDirectory(m, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                } catch (java.nio.file.FileAlreadyExistsException raced) {
                    // another process made it
                }
            }
        } catch (IOException e) {
            throw new BadCoreException(Kind.IO, given, "cannot create " + dir + " for its decompressed copy: "
                    + oneLine(e) + "; set XDG_CACHE_HOME to a writable directory", e);
        }
    }

    private static boolean isComplete(Path target) {
        return Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS);
    }

    private static void deleteTempFiles(Path dir, String key) throws IOException {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, key + ".*.tmp")) {
            for (Path p : ds) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Writes KEY.source; best effort, since the copy is complete and usable without it (only prune needs it). */
    private static void writeSource(Path file, Path given, FileIdentity id, Compression c, SparseWriter out) {
        Properties p = new Properties();
        p.setProperty("source", given.toAbsolutePath().normalize().toString());
        p.setProperty("identity", id.toString());
        p.setProperty("compression", c.displayName());
        p.setProperty("size", Long.toString(out.size()));
        p.setProperty("allocated", Long.toString(out.writtenBytes()));
        Path tmp = null;
        try {
            tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp");
            try (OutputStream o = Files.newOutputStream(tmp)) {
                p.store(o, "vmdumpfs: decompressed copy of a compressed core; delete both files to drop it");
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try {
                if (tmp != null) {
                    Files.deleteIfExists(tmp);
                }
            } catch (IOException ignored) {
                // nothing more to do
            }
        }
    }

    /**
     * Removes, best effort, entries whose compressed file is gone or changed (its parent directory still there,
     * so an unmounted file system does not count as gone), and temp files nobody is writing. Entries being made
     * (their lock held) are left alone. A mount that still uses a removed copy keeps reading it: it holds it open.
     */
    static void prune(Path dir) {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String name = p.getFileName().toString();
                int dot = name.indexOf('.');
                if (dot <= 0) {
                    continue;
                }
                String key = name.substring(0, dot);
                if (name.endsWith(".source") && isStale(p)) {
                    withTryLock(dir, key, () -> {
                        Files.deleteIfExists(dir.resolve(key + ".core"));
                        Files.deleteIfExists(dir.resolve(key + ".source"));
                    });
                } else if (name.endsWith(".tmp") && !name.contains(".source")) {
                    withTryLock(dir, key, () -> deleteTempFiles(dir, key));
                }
            }
        } catch (IOException | RuntimeException e) {
            // Clean-up must never fail a mount.
        }
    }

    private static boolean isStale(Path sourceFile) {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(sourceFile)) {
            p.load(in);
        } catch (IOException e) {
            return false;
        }
        String src = p.getProperty("source");
        String identity = p.getProperty("identity");
        if (src == null || identity == null) {
            return false;
        }
        Path source = Path.of(src);
        if (!Files.exists(source)) {
            return source.getParent() != null && Files.isDirectory(source.getParent());
        }
        try {
            return !FileIdentity.of(source).toString().equals(identity);
        } catch (BadCoreException e) {
            return false;
        }
    }

    private interface IoAction {
        void run() throws IOException;
    }

    /** Runs {@code action} holding KEY's lock when nobody else holds it; skips it otherwise. */
    private static void withTryLock(Path dir, String key, IoAction action) throws IOException {
        ReentrantLock inProcess = IN_PROCESS.computeIfAbsent(key, k -> new ReentrantLock());
        if (!inProcess.tryLock()) {
            return;
        }
        try {
            Path lockFile = dir.resolve(key + ".lock");
            try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                FileLock lock;
                try {
                    lock = ch.tryLock();
                } catch (OverlappingFileLockException e) {
                    return;
                }
                if (lock == null) {
                    return;
                }
                try {
                    action.run();
                    Files.deleteIfExists(lockFile);
                } finally {
                    lock.release();
                }
            }
        } finally {
            inProcess.unlock();
        }
    }
}

package io.vmdumpfs.cache.compressed;

import io.vmdumpfs.cache.compressed.CoreSource.Options;
import io.vmdumpfs.cache.compressed.CoreSource.Resolved;
import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import java.io.BufferedInputStream;
import java.io.FilterInputStream;
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
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The decompressed copies of compressed cores, one directory of files:
 * <pre>
 * KEY.core     the decompressed core, sparse, mode 0400 (it is guest memory)
 * KEY.source   what it was made from (path, identity, compression, sizes), for clean-up and for people
 * KEY.lock     exists while a process decompresses KEY (flock'ed); removed after
 * KEY.*.tmp    the copy being written; renamed to KEY.core when complete
 * </pre>
 * KEY is the first 128 bits, in hex, of SHA-256 over a version tag, the compression, the identity of the compressed
 * file (device, inode, size, mtime in nanoseconds — as for the kdump index) and its first 64 KiB. A rewritten or
 * replaced file gets another key, so a stale copy is never used; the 64 KiB catch a file rewritten within the
 * mtime's granularity on a file system that reuses the inode.
 *
 * <p>A KEY.core is complete by construction: it appears only by an atomic rename of a fully written, fsync'ed temp
 * file. Every call also removes entries whose compressed file was deleted or changed, and temp files that no running
 * process is writing.
 *
 * <p>Limits: the free-space check before decompressing uses the decompressed size, holes included, when the format
 * records it (often it does not: systemd-coredump streams); while writing, the bytes actually allocated are checked.
 * Entries of compressed files on file systems that are not mounted at the moment are kept.
 */
final class CoreCache {

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

    private CoreCache() {
    }

    /** Returns the cached decompressed copy of {@code given}, making it first when absent. */
    static Resolved materialize(Path given, Compression c, byte[] head, int headLen, Options options) {
        Path dir = options.cacheDir().toAbsolutePath();
        createDirectory(dir, given);
        Identity id = Identity.of(given);
        String key = key(given, c, id);
        Path target = dir.resolve(key + ".core");
        if (isComplete(target)) {
            prune(dir);
            return new Resolved(target, c, false);
        }
        ReentrantLock inProcess = IN_PROCESS.computeIfAbsent(key, k -> new ReentrantLock());
        inProcess.lock();
        try {
            Path lockFile = dir.resolve(key + ".lock");
            try (FileChannel lockChannel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock lock = lockChannel.lock()) {
                // Another process may have finished it while we waited for the lock.
                if (isComplete(target)) {
                    return new Resolved(target, c, false);
                }
                try {
                    deleteTempFiles(dir, key);
                    decompress(given, c, head, headLen, id, dir, key, target, options);
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
        return new Resolved(target, c, true);
    }

    /** Returns the cache key of {@code given} (see the class comment). */
    static String key(Path given, Compression c, Identity id) {
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

    private static void decompress(Path given, Compression c, byte[] head, int headLen, Identity id, Path dir,
            String key, Path target, Options options) {
        long available = Math.min(usableSpace(dir, given), options.spaceLimitBytes());
        OptionalLong expected = c.contentSize(given, head, headLen);
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
        try (CountingInputStream raw = new CountingInputStream(
                    new BufferedInputStream(Files.newInputStream(given), 1 << 18));
             SparseWriter out = new SparseWriter(tmp, available)) {
            copy(given, c, raw, out, progress);
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

    /**
     * Decodes {@code raw} into {@code out}. Damaged input becomes a CORRUPT BadCoreException, a failing read of the
     * compressed file an IO one; the writer's IOExceptions (the cache side) pass through to the caller.
     */
    private static void copy(Path given, Compression c, CountingInputStream raw, SparseWriter out, Progress progress)
            throws IOException {
        InputStream in;
        try {
            in = c.open(raw); // reads the stream header
        } catch (IOException | RuntimeException e) {
            throw readFailure(given, c, raw, e);
        }
        byte[] buf = new byte[CHUNK];
        try (in) {
            for (boolean first = true; ; first = false) {
                int n;
                try {
                    n = in.readNBytes(buf, 0, buf.length);
                } catch (IOException | RuntimeException e) {
                    throw readFailure(given, c, raw, e);
                }
                if (first && (n < 4 || buf[0] != 0x7f || buf[1] != 'E' || buf[2] != 'L' || buf[3] != 'F')) {
                    throw new BadCoreException(Kind.UNSUPPORTED, given, "decompresses (" + c.displayName()
                            + ") to data that is not an ELF core");
                }
                out.write(buf, 0, n);
                progress.update(raw.count());
                if (n < buf.length) {
                    return;
                }
            }
        }
    }

    private static BadCoreException readFailure(Path given, Compression c, CountingInputStream raw, Throwable e) {
        if (e instanceof BadCoreException b) {
            return b;
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SourceReadException) {
                return new BadCoreException(Kind.IO, given, "cannot read: " + oneLine(t), e);
            }
        }
        return damaged(given, c, raw.count(), e);
    }

    private static BadCoreException damaged(Path given, Compression c, long offset, Throwable e) {
        return new BadCoreException(Kind.CORRUPT, given, "damaged or truncated " + c.displayName()
                + " data (at compressed byte " + offset + "): " + oneLine(e), e);
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
    private static void writeSource(Path file, Path given, Identity id, Compression c, SparseWriter out) {
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
            return !Identity.of(source).toString().equals(identity);
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

    /**
     * The identity of a file as the kdump index keys it: device, inode, size and modification time (nanoseconds).
     * Follows symbolic links: a link to a core names the core.
     */
    record Identity(Object dev, Object ino, long size, long mtimeNanos) {

        static Identity of(Path file) {
            try {
                Map<String, Object> a = Files.readAttributes(file, "unix:dev,ino,size,lastModifiedTime");
                java.nio.file.attribute.FileTime t = (java.nio.file.attribute.FileTime) a.get("lastModifiedTime");
                long nanos = Math.addExact(Math.multiplyExact(t.to(java.util.concurrent.TimeUnit.SECONDS), 1_000_000_000L),
                        t.toInstant().getNano());
                return new Identity(a.get("dev"), a.get("ino"), (Long) a.get("size"), nanos);
            } catch (NoSuchFileException e) {
                throw new BadCoreException(Kind.IO, file, "no such file", e);
            } catch (IOException | UnsupportedOperationException | ArithmeticException e) {
                throw new BadCoreException(Kind.IO, file, "cannot stat: " + e.getMessage(), e);
            }
        }

        @Override
        public String toString() {
            return dev + ":" + ino + ":" + size + ":" + mtimeNanos;
        }
    }

    /** Counts the compressed bytes the decoder consumed; tags read failures so they are not taken for damage. */
    static final class CountingInputStream extends FilterInputStream {
        private long count;

        CountingInputStream(InputStream in) {
            super(in);
        }

        long count() {
            return count;
        }

        @Override
        public int read() throws IOException {
            int b;
            try {
                b = super.read();
            } catch (IOException e) {
                throw new SourceReadException(e);
            }
            if (b >= 0) {
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n;
            try {
                n = super.read(b, off, len);
            } catch (IOException e) {
                throw new SourceReadException(e);
            }
            if (n > 0) {
                count += n;
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long s;
            try {
                s = super.skip(n);
            } catch (IOException e) {
                throw new SourceReadException(e);
            }
            count += s;
            return s;
        }
    }

    /** The operating system failed to read the compressed file (as opposed to its content being damaged). */
    static final class SourceReadException extends IOException {
        SourceReadException(IOException cause) {
            super(cause.getMessage(), cause);
        }
    }
}

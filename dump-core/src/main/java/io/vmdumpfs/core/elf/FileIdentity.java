package io.vmdumpfs.core.elf;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Which file, in which state: device, inode, size and modification time in nanoseconds. What everything derived from
 * a core is keyed by (persisted kdump indexes, chunk cache keys, the decompressed copies of compressed cores), so
 * that a rewritten or replaced file never meets an index or copy made from its predecessor. One definition for all
 * of them, at the file system's full mtime precision.
 *
 * <p>Follows symbolic links: a link to a core names the core. Where the file system has no inode numbers (no
 * {@code unix} attribute view), the JDK's file key or the absolute path stands in for (device, inode).
 *
 * @param dev        st_dev, or null when unknown
 * @param ino        st_ino, or the stand-in
 * @param size       st_size in bytes
 * @param mtimeNanos st_mtim in nanoseconds since the epoch
 */
public record FileIdentity(Object dev, Object ino, long size, long mtimeNanos) {

    /**
     * Returns the identity of {@code file} now.
     *
     * @throws BadCoreException (IO) if the file does not exist or cannot be stat'ed
     */
    public static FileIdentity of(Path file) {
        try {
            try {
                Map<String, Object> a = Files.readAttributes(file, "unix:dev,ino,size,lastModifiedTime");
                return new FileIdentity(a.get("dev"), a.get("ino"), (Long) a.get("size"),
                        nanos((FileTime) a.get("lastModifiedTime")));
            } catch (UnsupportedOperationException | IllegalArgumentException e) {
                BasicFileAttributes b = Files.readAttributes(file, BasicFileAttributes.class);
                Object key = b.fileKey() != null ? b.fileKey() : file.toAbsolutePath().normalize();
                return new FileIdentity(null, key, b.size(), nanos(b.lastModifiedTime()));
            }
        } catch (NoSuchFileException e) {
            throw new BadCoreException(Kind.IO, file, "no such file", e);
        } catch (IOException | ArithmeticException e) {
            throw new BadCoreException(Kind.IO, file, "cannot stat: " + e.getMessage(), e);
        }
    }

    private static long nanos(FileTime t) {
        return Math.addExact(Math.multiplyExact(t.to(TimeUnit.SECONDS), 1_000_000_000L), t.toInstant().getNano());
    }

    /** Returns "dev:ino:size:mtimeNanos", the form hashed into cache keys and written to the core cache's notes. */
    @Override
    public String toString() {
        return dev + ":" + ino + ":" + size + ":" + mtimeNanos;
    }
}

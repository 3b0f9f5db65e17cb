package io.vmdumpfs.core.elf;

import io.vmdumpfs.core.LibC;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;

/**
 * A native read-only descriptor of the core, for what Java's FileChannel cannot do: posix_fadvise(DONTNEED) for
 * {@link DropBehind}, lseek(SEEK_DATA/SEEK_HOLE) for {@link DataRuns}, and handing the file to the kernel to splice
 * from (the FUSE server). FileChannel has no
 * descriptor to give, so the core is opened once more by path, and the new descriptor is used only when it is the
 * very file {@link CoreFile} opened (same device and inode, same size, checked through /proc/self/fd): by now the path
 * may name another file.
 *
 * <p>Binds libc ({@link LibC}) and opens on first use: binding generates a class (tens of milliseconds) that a mount's
 * start-up should not wait for. Without libc or /proc there is no descriptor, and callers fall back to reading.
 * Thread-safe: opened once and closed once under this object's lock; once open, {@link #fd()} is a volatile read, since
 * every FUSE read asks for it.
 */
final class CoreDescriptor implements DropBehind.Advisor {

    private final Path path;
    private final Object fileKey;
    private final long size;
    private volatile LibC libc;
    private volatile int fd = -1;
    /** Set once the open was tried (whatever came of it), or on close: then fd is final. */
    private volatile boolean settled;

    CoreDescriptor(Path path, Object fileKey, long size) {
        this.path = path;
        this.fileKey = fileKey;
        this.size = size;
    }

    /** Returns the descriptor, opening it on the first call; -1 when there is none (or after close). */
    int fd() {
        if (!settled) {
            synchronized (this) {
                if (!settled) {
                    open();
                    settled = true;
                }
            }
        }
        return fd;
    }

    private void open() {
        if (fileKey == null) {
            return; // nothing to check a new descriptor against
        }
        try {
            libc = LibC.get();
        } catch (LinkageError | RuntimeException e) {
            return;
        }
        int f = libc.open(path.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC);
        if (f < 0) {
            return;
        }
        try {
            BasicFileAttributes a = Files.readAttributes(Path.of("/proc/self/fd/" + f), BasicFileAttributes.class);
            if (Objects.equals(a.fileKey(), fileKey) && a.size() == size) {
                fd = f;
                return;
            }
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            // no /proc: cannot prove it is the same file, so do not use it
        }
        libc.close(f);
    }

    @Override
    public void dontNeed(long offset, long length) {
        int f = fd();
        if (f >= 0) {
            libc.posix_fadvise(f, offset, length, LibC.POSIX_FADV_DONTNEED); // advice: a failure only means the pages stay
        }
    }

    /**
     * Returns lseek(fd, offset, whence) (whence {@link LibC#SEEK_DATA} or {@link LibC#SEEK_HOLE}): the next offset
     * with data or the next hole; -1 when there is none (ENXIO). The descriptor's file position moves, which nothing
     * else uses (splice and fadvise take explicit offsets).
     *
     * @throws IllegalStateException when there is no descriptor or lseek fails otherwise (the file system does not
     *                               support it): callers then know nothing about holes
     */
    long seek(long offset, int whence) {
        int f = fd();
        if (f < 0) {
            throw new IllegalStateException("no descriptor");
        }
        long r = libc.lseek(f, offset, whence);
        if (r < 0) {
            int errno = jnr.ffi.LastError.getLastError(jnr.ffi.Runtime.getRuntime(libc));
            if (errno == LibC.ENXIO) {
                return -1;
            }
            throw new IllegalStateException("lseek(" + offset + ", " + whence + ") failed: errno " + errno);
        }
        return r;
    }

    synchronized void close() {
        int f = fd;
        fd = -1;
        settled = true;
        if (f >= 0) {
            libc.close(f);
        }
    }
}

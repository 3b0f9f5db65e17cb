package io.vmdumpfs.core.elf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;
import jnr.ffi.LibraryLoader;

/**
 * A native read-only descriptor of the core, for what Java's FileChannel cannot do: posix_fadvise(DONTNEED) for
 * {@link DropBehind}, and handing the file to the kernel to splice from (the FUSE server). FileChannel has no
 * descriptor to give, so the core is opened once more by path, and the new descriptor is used only when it is the
 * very file {@link CoreFile} opened (same device and inode, same size, checked through /proc/self/fd): by now the path
 * may name another file.
 *
 * <p>Binds libc (jnr-ffi) and opens on first use: binding generates a class (tens of milliseconds) that a mount's
 * start-up should not wait for. Without libc or /proc there is no descriptor, and callers fall back to reading.
 * Thread-safe: opened once and closed once under this object's lock; once open, {@link #fd()} is a volatile read, since
 * every FUSE read asks for it.
 */
final class CoreDescriptor implements DropBehind.Advisor {

    /** The libc calls used. Public only because jnr-ffi implements it from another class loader. */
    public interface Api {
        int open(String path, int flags);

        int posix_fadvise(int fd, long offset, long len, int advice);

        int close(int fd);
    }

    private static final int O_RDONLY = 0;
    /** O_CLOEXEC from fcntl.h: x86-64, arm64, riscv64. */
    private static final int O_CLOEXEC = 02000000;
    /** POSIX_FADV_DONTNEED from fcntl.h (Linux). */
    private static final int DONTNEED = 4;

    private final Path path;
    private final Object fileKey;
    private final long size;
    private volatile Api libc;
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
            libc = LibraryLoader.create(Api.class).failImmediately().load("c");
        } catch (LinkageError | RuntimeException e) {
            return;
        }
        int f = libc.open(path.toString(), O_RDONLY | O_CLOEXEC);
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
            libc.posix_fadvise(f, offset, length, DONTNEED); // advice: a failure only means the pages stay
        }
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

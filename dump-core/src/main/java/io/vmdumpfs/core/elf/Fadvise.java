package io.vmdumpfs.core.elf;

import java.nio.file.Path;
import jnr.ffi.LibraryLoader;

/**
 * posix_fadvise(POSIX_FADV_DONTNEED) on the core through libc (jnr-ffi). Java has no such call, and its FileChannel
 * no file descriptor to give, so the core is opened once more, read-only: the page cache belongs to the file, so
 * advice through either descriptor applies to both.
 *
 * <p>Binds libc and opens the core on first use, on {@link DropBehind}'s thread: binding generates a class (tens of
 * milliseconds) that a mount's start-up should not wait for. Without libc it does nothing.
 */
final class Fadvise implements DropBehind.Advisor {

    /** The libc calls used. Public only because jnr-ffi implements it from another class loader. */
    public interface Api {
        int open(String path, int flags);

        int posix_fadvise(int fd, long offset, long len, int advice);

        int close(int fd);
    }

    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 02000000;
    /** POSIX_FADV_DONTNEED from fcntl.h (Linux). */
    private static final int DONTNEED = 4;

    private final Path core;
    // Guarded by this: opened once, closed once.
    private Api libc;
    private int fd = -1;
    private boolean tried;
    private boolean closed;

    Fadvise(Path core) {
        this.core = core;
    }

    @Override
    public synchronized void dontNeed(long offset, long length) {
        if (closed) {
            return;
        }
        if (!tried) {
            tried = true;
            try {
                libc = LibraryLoader.create(Api.class).failImmediately().load("c");
                fd = libc.open(core.toString(), O_RDONLY | O_CLOEXEC);
            } catch (LinkageError | RuntimeException e) {
                libc = null;
            }
        }
        if (libc != null && fd >= 0) {
            libc.posix_fadvise(fd, offset, length, DONTNEED); // advice: a failure only means the pages stay
        }
    }

    synchronized void close() {
        closed = true;
        if (libc != null && fd >= 0) {
            libc.close(fd);
        }
    }
}

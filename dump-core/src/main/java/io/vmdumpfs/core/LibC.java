package io.vmdumpfs.core;

/**
 * The libc calls vmdumpfs needs that Java lacks, bound once (jnr-ffi) for every module: reading the core
 * ({@code elf.CoreDescriptor}: a descriptor to splice from, page-cache advice, where its holes are) and the mount process in fusefs (its
 * ids, leaving the terminal's session and working directory, stdio on /dev/null, restarting itself with another heap,
 * buffers libfuse frees). A tiny interface binds in milliseconds, where jnr-posix's binds hundreds of functions.
 *
 * <p>Constants are Linux's, the same on x86-64, arm64 and riscv64. Public only because jnr-ffi implements it from
 * another class loader.
 */
public interface LibC {

    /** O_RDONLY from fcntl.h. */
    int O_RDONLY = 0;
    /** O_RDWR from fcntl.h. */
    int O_RDWR = 2;
    /** O_CLOEXEC from fcntl.h. */
    int O_CLOEXEC = 02000000;
    /** F_SETFD from fcntl.h: set a descriptor's flags. */
    int F_SETFD = 2;
    /** FD_CLOEXEC from fcntl.h: close the descriptor across execve. */
    int FD_CLOEXEC = 1;
    /** POSIX_FADV_DONTNEED from fcntl.h. */
    int POSIX_FADV_DONTNEED = 4;
    /** SEEK_DATA and SEEK_HOLE from unistd.h (Linux): where the core holds data, where holes. */
    int SEEK_DATA = 3;
    int SEEK_HOLE = 4;
    /** ENXIO from errno.h: lseek SEEK_DATA/SEEK_HOLE at or past the last data or the end. */
    int ENXIO = 6;
    /** SIG_SETMASK from signal.h. */
    int SIG_SETMASK = 2;
    /** sizeof(sigset_t) in glibc: 1024 bits. */
    int SIGSET_BYTES = 128;

    int getuid();

    int getgid();

    int getpid();

    int getsid(int pid);

    int setsid();

    int open(String path, int flags);

    int close(int fd);

    int dup2(int oldfd, int newfd);

    long write(int fd, byte[] buf, long count);

    int chdir(String path);

    int posix_fadvise(int fd, long offset, long len, int advice);

    /** Saves errno: SEEK_DATA past the last data fails with ENXIO, which must not be taken for another error. */
    @jnr.ffi.annotations.SaveError
    long lseek(int fd, long offset, int whence);

    /** fcntl(2) with an int argument, e.g. {@code fcntl(fd, F_SETFD, FD_CLOEXEC)}. */
    int fcntl(int fd, int cmd, int arg);

    int pthread_sigmask(int how, byte[] set, byte[] oldset);

    /** execve(2): {@code argv} and {@code envp} are passed NULL-terminated. Returns only on failure (-1). */
    int execve(String path, String[] argv, String[] envp);

    /** Returns memory libfuse may free(3): read_buf's replies are handed over and freed by libfuse. 0 if none. */
    long malloc(long size);

    void free(long address);

    /**
     * Returns libc, bound on first use.
     *
     * @throws LinkageError when libc cannot be bound (jnr-ffi's native part missing); callers that can do without
     *                      (page-cache advice) catch it
     */
    static LibC get() {
        return Holder.INSTANCE;
    }

    /** Lazy holder: binding generates a class (tens of milliseconds), and the CLI's other commands never need it. */
    final class Holder {
        static final LibC INSTANCE = jnr.ffi.LibraryLoader.create(LibC.class).failImmediately().load("c");

        private Holder() {
        }
    }
}

package io.vmdumpfs.fuse;

/**
 * The few libc calls the mount process needs that Java lacks: its own ids, leaving the terminal's session,
 * pointing stdin/stdout/stderr at /dev/null once it runs in the background, and malloc/free for replies libfuse frees. Bound through jnr-ffi (already loaded for
 * libfuse); a tiny interface binds in milliseconds, where jnr-posix's binds hundreds of functions.
 *
 * <p>Public only because jnr-ffi implements it from another class loader.
 */
public interface LibC {

    /** O_RDWR from fcntl.h (the same on every Linux architecture). */
    int O_RDWR = 2;

    int getuid();

    int getgid();

    int getpid();

    int getsid(int pid);

    int setsid();

    int open(String path, int flags);

    int dup2(int oldfd, int newfd);

    int close(int fd);

    long write(int fd, byte[] buf, long count);

    int chdir(String path);

    /** Returns memory libfuse may free(3): read_buf's replies are handed over and freed by libfuse. 0 if none. */
    long malloc(long size);

    void free(long address);

    /** Returns libc, bound on first use. */
    static LibC get() {
        return Holder.INSTANCE;
    }

    /** Lazy holder: binding costs a little, and the CLI's other commands never need it. */
    final class Holder {
        static final LibC INSTANCE = jnr.ffi.LibraryLoader.create(LibC.class).failImmediately().load("c");

        private Holder() {
        }
    }
}

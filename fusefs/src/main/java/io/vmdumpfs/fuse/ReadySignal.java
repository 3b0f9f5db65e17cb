package io.vmdumpfs.fuse;

/**
 * How a mount serving in the background tells whoever started it that its files are visible, so that the command
 * the user typed can return: the shell launcher's pipe ({@link LauncherPipe}), or the parent JVM that re-executed
 * the command as a child ({@link ParentPipe}). A foreground mount tells nobody ({@link #NONE}).
 *
 * <p>Exactly one of {@link #ready} and {@link #failed} is called, at most once; after {@link #ready} this process
 * has let go of the caller's session, working directory and terminal.
 */
interface ReadySignal {

    /** Tells nobody: {@code -f}, {@code -d}. */
    ReadySignal NONE = () -> {
    };

    /** The mount answers requests: leaves the caller and tells it so. */
    void ready();

    /**
     * The mount failed with {@code message} (one line) and this process exits next. Only a caller that cannot see
     * our stderr needs it; the launcher's can.
     */
    default void failed(String message) {
    }

    /**
     * Leaves the caller's session unless setsid(1) already did, so that the terminal's SIGINT and SIGHUP reach
     * neither this process nor its mount; then its working directory: every path the mount uses is absolute. Best
     * effort: without libc we stay; the mount still works.
     */
    static void detach() {
        try {
            io.vmdumpfs.core.LibC c = io.vmdumpfs.core.LibC.get();
            if (c.getsid(0) != c.getpid()) {
                c.setsid();
            }
            c.chdir("/");
        } catch (LinkageError e) {
            // no libc binding: attached, the mount works all the same
        }
    }

    /** Points descriptor {@code fd} (0, 1 or 2) at /dev/null, so that nothing later blocks on or fails writing to the caller's pipe. */
    static void toDevNull(int fd) {
        System.out.flush();
        System.err.flush();
        io.vmdumpfs.core.LibC c = io.vmdumpfs.core.LibC.get();
        int nul = c.open("/dev/null", io.vmdumpfs.core.LibC.O_RDWR);
        if (nul >= 0) {
            c.dup2(nul, fd);
            c.close(nul);
        }
    }
}

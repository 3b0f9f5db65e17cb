package io.vmdumpfs.fuse;

import io.vmdumpfs.core.LibC;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * The shell launcher's pipe (fusefs/src/main/sh/launch.sh): it started this JVM in the background and waits for
 * {@value #READY} on descriptor {@value #FD_ENV}, then returns 0 while we keep serving. That saves the second JVM
 * start of {@link Background}'s re-execution (~0.5 s of a ~1.2 s mount).
 *
 * <p>Errors need no message: stderr is still the user's, and the launcher returns our exit status when the pipe
 * closes without READY.
 */
final class LauncherPipe implements ReadySignal {

    static final String FD_ENV = "VMDUMPFS_READY_FD";
    static final String READY = "READY";

    private final int fd;

    private LauncherPipe(int fd) {
        this.fd = fd;
    }

    /** Returns the launcher's pipe, if a launcher started this JVM with one. */
    static Optional<LauncherPipe> fromEnvironment() {
        String s = System.getenv(FD_ENV);
        if (s == null || !s.matches("[0-9]{1,4}")) {
            return Optional.empty();
        }
        int fd = Integer.parseInt(s);
        return fd < 3 || fd > 1023 ? Optional.empty() : Optional.of(new LauncherPipe(fd));
    }

    /** Returns the descriptor, which a restart in place must keep open. */
    int fd() {
        return fd;
    }

    /** Leaves the caller's session, working directory and terminal, then tells the launcher we are mounted. */
    @Override
    public void ready() {
        ReadySignal.detach();
        ReadySignal.toDevNull(2);
        ReadySignal.toDevNull(1);
        ReadySignal.toDevNull(0);
        byte[] line = (READY + "\n").getBytes(StandardCharsets.US_ASCII);
        LibC c = LibC.get();
        c.write(fd, line, line.length); // a launcher that went away gets EPIPE; nobody is left to tell
        c.close(fd);
    }
}

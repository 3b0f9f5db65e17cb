package io.vmdumpfs.fuse;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The shell launcher's offer to serve a background mount in this JVM (fusefs/src/main/sh/launch.sh): it started us
 * in the background with {@code -Xmx} for {@value #HEAP_ENV} MiB and waits for {@value #READY} on file descriptor
 * {@value #FD_ENV}. That saves the second JVM start-up of {@link Background}'s re-execution (~0.6 s of a ~1.3 s mount).
 *
 * <p>Errors need no protocol: stderr is still the user's, and the launcher returns our exit status when the pipe
 * closes without READY.
 */
final class LauncherHandoff {

    static final String FD_ENV = "VMDUMPFS_READY_FD";
    static final String HEAP_ENV = "VMDUMPFS_HEAP_MIB";
    static final String READY = "READY";

    private final int fd;
    private final long heapMib;

    private LauncherHandoff(int fd, long heapMib) {
        this.fd = fd;
        this.heapMib = heapMib;
    }

    /** Returns the launcher's offer from the environment, if it made one. */
    static Optional<LauncherHandoff> fromEnvironment() {
        OptionalLong fd = number(System.getenv(FD_ENV));
        OptionalLong heap = number(System.getenv(HEAP_ENV));
        if (fd.isEmpty() || heap.isEmpty() || fd.getAsLong() < 3 || fd.getAsLong() > 1023) {
            return Optional.empty();
        }
        return Optional.of(new LauncherHandoff((int) fd.getAsLong(), heap.getAsLong()));
    }

    private static OptionalLong number(String s) {
        if (s == null || !s.matches("[0-9]{1,9}")) {
            return OptionalLong.empty();
        }
        return OptionalLong.of(Long.parseLong(s));
    }

    /** Returns the heap the launcher gave this JVM, in MiB. */
    long heapMib() {
        return heapMib;
    }

    /**
     * Leaves the caller's session and working directory, lets go of the terminal, then tells the launcher we are
     * mounted. After this the launcher exits 0 and we are the background server.
     */
    void ready() {
        Background.detach();
        LibC c = LibC.get();
        c.chdir("/"); // every path we use is absolute: don't keep the caller's directory busy
        Background.redirectToDevNull(2);
        Background.redirectToDevNull(1);
        Background.redirectToDevNull(0);
        byte[] line = (READY + "\n").getBytes(StandardCharsets.US_ASCII);
        c.write(fd, line, line.length); // a launcher that went away gets EPIPE; nobody is left to tell
        c.close(fd);
    }
}

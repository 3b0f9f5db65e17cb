package io.vmdumpfs.fuse;

/**
 * A problem the user can fix, reported as one line {@code vmdumpfs: <message>} and exit code {@link #EXIT_ERROR}.
 * The message names the thing and the problem; a hint, when there is one, follows after "; ".
 */
public final class CliException extends RuntimeException {

    /** Every failure exits with 2, as squashfuse and sshfs do for bad arguments and failed mounts. */
    public static final int EXIT_ERROR = 2;

    public CliException(String message) {
        super(message);
    }

    public CliException(String message, Throwable cause) {
        super(message, cause);
    }
}

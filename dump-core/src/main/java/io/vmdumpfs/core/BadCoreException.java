package io.vmdumpfs.core;

import java.nio.file.Path;

/**
 * The core (or a file the user named) cannot be used. The message is one line that names the file and the problem,
 * fit to print as it is; the CLI turns it into exit code 2 and the FUSE adapter into an errno.
 */
public final class BadCoreException extends RuntimeException {

    /** What kind of problem, so callers can map it (corrupt → EIO, unsupported → EOPNOTSUPP, …). */
    public enum Kind {
        /** The file is damaged or inconsistent: truncated, wrong sizes, pointers that lead nowhere. */
        CORRUPT,
        /** A valid file of a kind we do not handle: not a core, another program, another architecture. */
        UNSUPPORTED,
        /** Something we need is not in the core, e.g. guest RAM excluded by dump-guest-core=off. */
        MISSING,
        /** The operating system refused: unreadable, a directory, a FIFO, an I/O error. */
        IO
    }

    private final Kind kind;
    private final Path file;

    public BadCoreException(Kind kind, Path file, String problem) {
        this(kind, file, problem, null);
    }

    public BadCoreException(Kind kind, Path file, String problem, Throwable cause) {
        super((file == null ? "" : file + ": ") + problem, cause);
        this.kind = kind;
        this.file = file;
    }

    public Kind kind() {
        return kind;
    }

    /** Returns the file the problem is in, or null when it is not about one file. */
    public Path file() {
        return file;
    }
}

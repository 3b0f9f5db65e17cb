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
        super(oneLine((file == null ? "" : file + ": ") + problem), cause);
        this.kind = kind;
        this.file = file;
    }

    /**
     * Returns {@code s} with control characters escaped ({@code \n}, {@code \t}, {@code \xNN}): file names and
     * strings read from a hostile core may hold newlines or terminal escapes, and the message must stay one line.
     */
    static String oneLine(String s) {
        StringBuilder sb = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c != 0x7f && !(c >= 0x80 && c <= 0x9f)) {
                if (sb != null) {
                    sb.append(c);
                }
                continue;
            }
            if (sb == null) {
                sb = new StringBuilder(s.length() + 8).append(s, 0, i);
            }
            switch (c) {
                case '\n' -> sb.append("\\n");
                case '\t' -> sb.append("\\t");
                case '\r' -> sb.append("\\r");
                default -> sb.append(String.format("\\x%02x", (int) c));
            }
        }
        return sb == null ? s : sb.toString();
    }

    public Kind kind() {
        return kind;
    }

    /** Returns the file the problem is in, or null when it is not about one file. */
    public Path file() {
        return file;
    }
}

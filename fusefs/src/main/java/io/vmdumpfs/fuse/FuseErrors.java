package io.vmdumpfs.fuse;

import io.vmdumpfs.core.BadCoreException;
import java.nio.file.NoSuchFileException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Level;
import java.util.logging.Logger;
import jnr.constants.platform.Errno;

/**
 * The one place where Java failures become errno values for FUSE. Every callback in {@link VmdumpFs} ends in a single
 * {@code catch (Throwable t) { return FuseErrors.fail(...); }}, which logs the failure once and returns the negated
 * errno that libfuse expects.
 *
 * <p>The mapping:
 * <ul>
 * <li>{@link BadCoreException} CORRUPT → EIO: the core is damaged; there is no more precise errno.</li>
 * <li>UNSUPPORTED → EOPNOTSUPP: valid data we do not handle, so "not supported" is the truth.</li>
 * <li>MISSING → ENODATA: the bytes are not in the core (e.g. RAM excluded by dump-guest-core=off). Reading again
 * will not help, unlike an I/O error, and "No data available" tells the user exactly that.</li>
 * <li>IO → EIO: the operating system failed us reading the core.</li>
 * <li>a path that is not ours → ENOENT; any write → EROFS (the callbacks return these directly).</li>
 * <li>{@link OutOfMemoryError} → ENOMEM: the reader may retry with less in flight.</li>
 * <li>anything else → EIO, logged with its stack trace: it is a bug.</li>
 * </ul>
 */
final class FuseErrors {

    static final int ENOENT = Errno.ENOENT.intValue();
    static final int EIO = Errno.EIO.intValue();
    static final int EROFS = Errno.EROFS.intValue();
    static final int EINVAL = Errno.EINVAL.intValue();
    static final int ENOMEM = Errno.ENOMEM.intValue();
    static final int EOPNOTSUPP = Errno.EOPNOTSUPP.intValue();
    static final int ENODATA = Errno.ENODATA.intValue();
    static final int EISDIR = Errno.EISDIR.intValue();
    static final int ENOTDIR = Errno.ENOTDIR.intValue();

    private static final Logger LOG = Logger.getLogger("io.vmdumpfs.fuse");

    /** Distinct messages already logged: a failing `cp` would otherwise log the same line for every 128 KiB read. */
    private static final Set<String> LOGGED = ConcurrentHashMap.newKeySet();
    /** Bound on {@link #LOGGED}; past it every failure is logged again rather than remembered. */
    private static final int MAX_REMEMBERED = 1024;

    private FuseErrors() {
    }

    /** Returns the (positive) errno for {@code t}. */
    static int errno(Throwable t) {
        if (t instanceof BadCoreException e) {
            return switch (e.kind()) {
                case CORRUPT, IO -> EIO;
                case UNSUPPORTED -> EOPNOTSUPP;
                case MISSING -> ENODATA;
            };
        }
        if (t instanceof OutOfMemoryError) {
            return ENOMEM;
        }
        if (t instanceof NoSuchFileException) {
            return ENOENT;
        }
        return EIO;
    }

    /**
     * Logs {@code t} once for the callback {@code op} on {@code path} and returns the negated errno.
     */
    static int fail(String op, String path, Throwable t) {
        int errno = errno(t);
        if (LOG.isLoggable(Level.WARNING)) {
            String msg = op + " " + path + ": " + describe(t) + " (" + Errno.valueOf(errno).name() + ")";
            if (remember(msg)) {
                // The stack trace goes along; the handler prints it only with -d/--debug (see Log).
                LOG.log(Level.WARNING, msg, t);
            }
        }
        return -errno;
    }

    private static boolean remember(String msg) {
        return LOGGED.size() >= MAX_REMEMBERED || LOGGED.add(msg);
    }

    static String describe(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getName() : m;
    }
}

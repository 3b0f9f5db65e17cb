package io.vmdumpfs.core.format;

import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * One virtual file: a pure function of (offset, length) over the immutable core.
 *
 * <p>Implementations are thread-safe and stateless per read: concurrent reads at any offsets are allowed and must
 * return the same bytes a single sequential reader would get. Reads never allocate per call beyond what the
 * format needs (compressed pages, which live in the cache).
 */
public interface View {

    /** Returns the exact size of the file in bytes. May block while an index is being built (kdump files). */
    long size();

    /**
     * Copies the bytes at {@code offset} into {@code dst}, up to {@code dst.remaining()} or end of file.
     *
     * @return the number of bytes copied; 0 when {@code offset >= size()}
     * @throws IllegalArgumentException if offset is negative
     * @throws io.vmdumpfs.core.BadCoreException if the core cannot provide those bytes (e.g. truncated since mount)
     */
    int read(long offset, ByteBuffer dst);

    /**
     * Returns where the bytes from {@code offset} on come from: the longest run, up to {@code max} bytes, that is
     * either a verbatim copy of the core or made by the view. Lets a server send core bytes without copying them
     * ({@link CoreSpan}). The default says the view makes everything.
     *
     * @param offset {@code 0 <= offset < size()}
     * @param max    at least 1
     */
    default CoreSpan spanAt(long offset, long max) {
        return CoreSpan.made(max);
    }

    /**
     * Returns a one-line account of work the view does before it can serve (e.g. a kdump file's index build:
     * "vmcore.kdump-zlib: building 42% …"), or empty for views that are ready at once. Never blocks.
     */
    default Optional<String> buildStatus() {
        return Optional.empty();
    }
}

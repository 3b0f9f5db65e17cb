package io.vmdumpfs.core.format;

/**
 * A run of a view's bytes and where they come from: a verbatim copy of the core file from {@code coreOffset} on, or
 * bytes the view makes itself ({@code coreOffset == -1}: headers, notes, compressed pages). A server that can move
 * file bytes without copying them (FUSE's splice) sends core runs from the core's descriptor and asks
 * {@link View#read} only for the made ones.
 *
 * @param coreOffset where the run starts in the core file, or -1 when the view makes these bytes
 * @param length     bytes in the run, at least 1
 */
public record CoreSpan(long coreOffset, long length) {

    public CoreSpan {
        if (length < 1 || coreOffset < -1) {
            throw new IllegalArgumentException("bad span: core offset " + coreOffset + ", length " + length);
        }
    }

    /** Returns a run of {@code length} bytes the view makes itself. */
    public static CoreSpan made(long length) {
        return new CoreSpan(-1, length);
    }

    /** Returns true when the run is a verbatim copy of the core. */
    public boolean inCore() {
        return coreOffset >= 0;
    }
}

package io.vmdumpfs.core.format.kdump;

import java.util.Locale;

/**
 * A snapshot of a kdump file's index: whether it exists yet, and how far its build has got.
 *
 * @param file         the file name, e.g. vmcore.kdump-zlib
 * @param state        where the index is
 * @param pagesDone    pages compressed so far
 * @param pagesTotal   pages to compress
 * @param elapsedNanos time spent building or loading so far (or in total, once done)
 * @param problem      why the build failed, or null
 */
public record KdumpProgress(String file, State state, long pagesDone, long pagesTotal, long elapsedNanos,
        String problem) {

    /** The index's life cycle. */
    public enum State {
        /** Nobody has asked for the file's size or data yet. */
        NOT_STARTED,
        /** Waiting for another kdump file's build to finish (one build runs at a time, on all cores). */
        QUEUED,
        /** Compressing. */
        BUILDING,
        /** The index is ready (built now or loaded from the index cache). */
        READY,
        /** The build failed; reads fail with the same error. */
        FAILED
    }

    /** Returns one line for a status file, e.g. "vmcore.kdump-zlib: building 42% (27525/65536 pages, 1.3 s)". */
    public String line() {
        String s = file + ": " + state.name().toLowerCase(Locale.ROOT).replace('_', ' ');
        if (state == State.BUILDING || state == State.READY) {
            long pct = pagesTotal == 0 ? 100 : pagesDone * 100 / pagesTotal;
            s += String.format(Locale.ROOT, " %d%% (%d/%d pages, %.1f s)", pct, pagesDone, pagesTotal,
                    elapsedNanos / 1e9);
        }
        if (problem != null) {
            s += ": " + problem;
        }
        return s;
    }
}

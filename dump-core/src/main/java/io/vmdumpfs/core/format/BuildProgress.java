package io.vmdumpfs.core.format;

import java.util.Locale;

/**
 * A snapshot of a {@link LazyIndex}: whether the index a file needs exists yet, and how far its build has got.
 *
 * @param file         the file name, e.g. vmcore.kdump-zlib
 * @param state        where the index is
 * @param done         pages done so far
 * @param total        pages to do
 * @param elapsedNanos time spent building or loading so far (or in total, once done)
 * @param problem      why the build failed, or null
 */
public record BuildProgress(String file, State state, long done, long total, long elapsedNanos, String problem) {

    /** The index's life cycle. */
    public enum State {
        /** Nobody has asked for the file's size or data yet. */
        NOT_STARTED,
        /** Waiting for another file's build to finish (one build runs at a time, on all cores). */
        QUEUED,
        /** Building. */
        BUILDING,
        /** The index is ready (built now or loaded from the index repository). */
        READY,
        /** The build failed; reads fail with the same error. */
        FAILED
    }

    /** Returns one line for a status file, e.g. "vmcore.kdump-zlib: building 42% (27525/65536 pages, 1.3 s)". */
    public String line() {
        String s = file + ": " + state.name().toLowerCase(Locale.ROOT).replace('_', ' ');
        if (state == State.BUILDING || state == State.READY) {
            long pct = total == 0 ? 100 : done * 100 / total;
            s += String.format(Locale.ROOT, " %d%% (%d/%d pages, %.1f s)", pct, done, total, elapsedNanos / 1e9);
        }
        if (problem != null) {
            s += ": " + problem;
        }
        return s;
    }
}

package io.vmdumpfs.core.format;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.BuildProgress.State;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The index an expensive format needs before it can serve (a kdump file's page offsets), made once on first
 * demand: loaded from where the last mount persisted it, or else built on the context's build executor
 * ({@link FormatContext#builds()}: one build at a time, each on all threads), then persisted. Anyone may watch
 * {@link #progress()} meanwhile.
 *
 * <p>A failed build fails every later {@link #get()} the same way (each caller gets its own exception, with the
 * build's as cause): a core that cannot be read now will not be readable a second later, and a status file should
 * say so rather than show a build that starts over and over.
 *
 * <p>Thread-safe. The state is one immutable snapshot in a volatile field, so {@link #progress()} never blocks.
 *
 * @param <T> the index
 */
public final class LazyIndex<T> {

    /** How the index is loaded, built and kept. */
    public interface Source<T> {
        /**
         * Returns the persisted index, or empty when there is none (or it is stale or damaged). Runs on the thread
         * that first asks for the index, so it must be quick: reading a file, not scanning guest RAM.
         */
        Optional<T> load();

        /** Builds the index, adding to {@code done} the pages it has done. Runs on the build executor. */
        T build(AtomicLong done);

        /** Keeps a newly built index for the next mount. Best effort: reports problems itself, throws nothing. */
        void persist(T index);
    }

    private static final System.Logger LOG = System.getLogger(LazyIndex.class.getName());

    private record Phase(State state, long startNanos, long endNanos, String problem) {
    }

    private final String name;
    private final long total;
    private final Executor builds;
    private final Source<T> source;
    private final AtomicLong done = new AtomicLong();
    private volatile Phase phase = new Phase(State.NOT_STARTED, 0, 0, null);
    /** Set once, under this object's lock (so the load or build starts once); read without it afterwards. */
    private volatile CompletableFuture<T> future;

    /**
     * @param name   the file's name, for progress lines
     * @param total  the pages a build does, for progress
     * @param builds where builds run
     */
    public LazyIndex(String name, long total, Executor builds, Source<T> source) {
        this.name = name;
        this.total = total;
        this.builds = builds;
        this.source = source;
    }

    /**
     * Returns the index, loading or building it first if needed, and waits for it.
     *
     * @throws BadCoreException (or another RuntimeException) as the build failed
     */
    public T get() {
        try {
            return start().join();
        } catch (CompletionException e) {
            Throwable c = e.getCause();
            if (c instanceof BadCoreException bce) {
                // a new exception per caller, so each stack trace shows its own read, with the cause attached
                throw new BadCoreException(bce.kind(), bce.file(), stripPath(bce), bce);
            }
            if (c instanceof RuntimeException re) {
                throw re;
            }
            if (c instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }

    /** Returns the index if it is ready, without starting or waiting for anything. */
    public Optional<T> ifReady() {
        CompletableFuture<T> f = future;
        return f != null && f.isDone() && !f.isCompletedExceptionally() ? Optional.of(f.join()) : Optional.empty();
    }

    /** Starts loading or building the index without waiting for it (e.g. right after mounting). */
    public void prepare() {
        start();
    }

    /** Returns how far the index is; never blocks and never starts anything. */
    public BuildProgress progress() {
        Phase p = phase;
        long elapsed = p.startNanos() == 0 ? 0
                : (p.state() == State.READY || p.state() == State.FAILED ? p.endNanos() : System.nanoTime())
                        - p.startNanos();
        return new BuildProgress(name, p.state(), done.get(), total, Math.max(0, elapsed), p.problem());
    }

    private CompletableFuture<T> start() {
        CompletableFuture<T> f = future;
        if (f != null) {
            return f;
        }
        synchronized (this) {
            if (future == null) {
                long t0 = System.nanoTime();
                Optional<T> loaded;
                try {
                    loaded = source.load();
                } catch (RuntimeException e) {
                    // a persisted index is only a shortcut: build instead
                    LOG.log(System.Logger.Level.WARNING, name + ": cannot load the persisted index; building it", e);
                    loaded = Optional.empty();
                }
                if (loaded.isPresent()) {
                    done.set(total);
                    phase = new Phase(State.READY, t0, System.nanoTime(), null);
                    future = CompletableFuture.completedFuture(loaded.get());
                } else {
                    phase = new Phase(State.QUEUED, t0, 0, null);
                    future = CompletableFuture.supplyAsync(this::build, builds);
                }
            }
            return future;
        }
    }

    private T build() {
        long t0 = System.nanoTime();
        phase = new Phase(State.BUILDING, t0, 0, null);
        try {
            T index = source.build(done);
            long t1 = System.nanoTime();
            source.persist(index);
            long t2 = System.nanoTime();
            phase = new Phase(State.READY, t0, t2, null);
            LOG.log(System.Logger.Level.DEBUG, () -> name + ": index built in " + (t1 - t0) / 1_000_000
                    + " ms, persisted in " + (t2 - t1) / 1_000_000 + " ms");
            return index;
        } catch (RuntimeException | Error e) {
            phase = new Phase(State.FAILED, t0, System.nanoTime(), String.valueOf(e.getMessage()));
            throw e;
        }
    }

    private static String stripPath(BadCoreException e) {
        String m = e.getMessage();
        String prefix = e.file() == null ? "" : e.file() + ": ";
        return m.startsWith(prefix) ? m.substring(prefix.length()) : m;
    }
}

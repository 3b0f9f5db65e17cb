package io.vmdumpfs.core.format;

import io.vmdumpfs.core.format.kdump.DumpLevel;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.kernel.GuestKernel;
import io.vmdumpfs.core.kernel.KernelUnavailableException;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * What the expensive formats need besides the dump, passed to {@link DumpFormat#open}: one per mount (or
 * {@code convert}). The cheap formats (ELF, blocks.txt, vmcoreinfo) ignore it.
 *
 * <ul>
 *   <li>{@link #cache()}: where computed chunks are kept; {@link ChunkCache#NONE} to compute on every read.</li>
 *   <li>{@link #indexes()}: where indexes are kept between mounts; {@link IndexRepository#NONE} for none.</li>
 *   <li>{@link #threads()}: how many threads one index build may use.</li>
 *   <li>{@link #builds()}: where index builds run, one after the other: a mount's first {@code ls -l} asks for all
 *       four kdump sizes at once, and finishing one file first (then the others, which reuse what the first learnt
 *       about the pages) beats finishing four late.</li>
 *   <li>{@link #shared}: work several files of one dump share (the kdump files' page classification, the notes'
 *       pids); {@link #kernel}: the dump's one {@link GuestKernel}, so its kallsyms, BTF and direct map are found
 *       once for all files.</li>
 *   <li>{@link #dumpLevel()}: which pages the kdump files leave out (makedumpfile's {@code -d}); one level for all
 *       of them, as {@code -o dump_level=N} gives it to a mount.</li>
 * </ul>
 *
 * <p>Thread-safe.
 */
public final class FormatContext {

    /** A build thread lives this long without work, so an idle mount keeps no thread and nobody must shut it down. */
    private static final long BUILD_THREAD_IDLE_SECONDS = 10;

    private record SharedKey(GuestDump dump, Class<?> type) {
        @Override
        public boolean equals(Object o) {
            // the dump by identity: two opens of one core are two dumps (their files are closed separately)
            return o instanceof SharedKey k && k.dump == dump && k.type == type;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(dump) * 31 + type.hashCode();
        }
    }

    private final ChunkCache cache;
    private final IndexRepository indexes;
    private final int threads;
    private final DumpLevel dumpLevel;
    private final ThreadPoolExecutor builds;
    private final ConcurrentMap<SharedKey, Once> shared = new ConcurrentHashMap<>();

    /**
     * @param threads how many threads a format may use to build an index, at least 1
     * @throws IllegalArgumentException if {@code threads} is less than 1
     */
    public FormatContext(ChunkCache cache, IndexRepository indexes, int threads) {
        this(cache, indexes, threads, DumpLevel.NONE);
    }

    /**
     * @param threads   how many threads a format may use to build an index, at least 1
     * @param dumpLevel which pages the kdump files leave out
     * @throws IllegalArgumentException if {@code threads} is less than 1
     */
    public FormatContext(ChunkCache cache, IndexRepository indexes, int threads, DumpLevel dumpLevel) {
        this.cache = Objects.requireNonNull(cache, "cache");
        this.dumpLevel = Objects.requireNonNull(dumpLevel, "dumpLevel");
        this.indexes = Objects.requireNonNull(indexes, "indexes");
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, was " + threads);
        }
        this.threads = threads;
        this.builds = new ThreadPoolExecutor(1, 1, BUILD_THREAD_IDLE_SECONDS, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), r -> {
                    // a daemon, so an unmount does not wait for a build nobody needs any more
                    Thread t = new Thread(r, "vmdumpfs-index-build");
                    t.setDaemon(true);
                    return t;
                });
        this.builds.allowCoreThreadTimeOut(true);
    }

    /** Returns a context with no cache, no index repository and one thread per available processor. */
    public static FormatContext uncached() {
        return new FormatContext(ChunkCache.NONE, IndexRepository.NONE, Runtime.getRuntime().availableProcessors());
    }

    public ChunkCache cache() {
        return cache;
    }

    public IndexRepository indexes() {
        return indexes;
    }

    public int threads() {
        return threads;
    }

    /** Returns the dump level of the kdump files: which pages they leave out. */
    public DumpLevel dumpLevel() {
        return dumpLevel;
    }

    /** Returns the executor index builds run on: one at a time, in the order they were asked for. */
    public Executor builds() {
        return builds;
    }

    /**
     * Returns the guest kernel of {@code dump}, opened once for all its files in this context (its kallsyms and
     * direct map are then found once, not per file).
     *
     * @throws KernelUnavailableException as {@link GuestKernel#open(GuestDump)}, the same message every time
     */
    public GuestKernel kernel(GuestDump dump) {
        OpenedKernel k = shared(dump, OpenedKernel.class, OpenedKernel::open);
        if (k.kernel() == null) {
            throw new KernelUnavailableException(k.problem());
        }
        return k.kernel();
    }

    /**
     * Returns the guest kernel of {@code dump} as {@link #kernel}, or empty when it cannot be seen (as
     * {@link GuestKernel#find}: for files that are written without it).
     */
    public Optional<GuestKernel> findKernel(GuestDump dump) {
        return Optional.ofNullable(shared(dump, OpenedKernel.class, OpenedKernel::open).kernel());
    }

    /** The outcome of opening a dump's kernel: the kernel, or why there is none. */
    private record OpenedKernel(GuestKernel kernel, String problem) {
        static OpenedKernel open(GuestDump dump) {
            try {
                return new OpenedKernel(GuestKernel.open(dump), null);
            } catch (KernelUnavailableException e) {
                return new OpenedKernel(null, e.getMessage());
            }
        }
    }

    /**
     * Returns the {@code type} object shared by the formats of {@code dump} in this context, made by {@code make} on
     * first use (once, even when several threads ask at once).
     */
    public <T> T shared(GuestDump dump, Class<T> type, Function<GuestDump, T> make) {
        // made under the entry's own lock, not inside computeIfAbsent: making one may ask for another (NotePids
        // opens the kernel), which ConcurrentHashMap forbids, and a slow one must not block other keys
        return type.cast(shared.computeIfAbsent(new SharedKey(dump, type), k -> new Once()).get(dump, make));
    }

    /** One shared object, made on first use; a failed make is tried again by the next caller. */
    private static final class Once {
        private Object value;

        synchronized Object get(GuestDump dump, Function<GuestDump, ?> make) {
            if (value == null) {
                value = Objects.requireNonNull(make.apply(dump), "shared object");
            }
            return value;
        }
    }
}

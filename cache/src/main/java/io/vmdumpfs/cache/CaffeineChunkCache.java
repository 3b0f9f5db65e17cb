package io.vmdumpfs.cache;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.stats.CacheStats;
import io.vmdumpfs.core.format.ChunkCache;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A {@link ChunkCache} over Caffeine, bounded in bytes: each entry weighs its buffer's {@code capacity()} plus
 * {@link #ENTRY_OVERHEAD}, and Caffeine evicts by W-TinyLFU once the total passes the bound.
 *
 * <p>Each chunk is computed once: {@link AsyncCache#get(Object, java.util.function.BiFunction)} makes one future per
 * key, and the first caller completes it on its own thread, outside Caffeine's map locks (a computation takes
 * milliseconds: compressing 256 pages), so it never blocks readers of other keys; later callers of that key wait for
 * the future. A computation that fails completes its future exceptionally, which Caffeine drops: nothing is cached,
 * waiting callers get the same exception. Hits and misses are Caffeine's own statistics.
 *
 * <p>Chunks delivered in full to a reader ({@link #delivered}) are dropped: their bytes are in the kernel's page
 * cache now (the mount keeps file content there), and keeping them here too would only crowd out chunks nobody has
 * read yet, such as the next kdump file's, which would then be compressed twice. Bytes read twice count twice and
 * drop a chunk early; it is computed again if asked for.
 *
 * <p>Thread-safe. {@code compute} must not call {@link #get} on this cache for the same key: it would wait for
 * itself.
 */
public final class CaffeineChunkCache implements ChunkCache {

    /**
     * Least default bound: 256 MiB holds the compressed pages of a busy 3 GiB guest's kdump-zlib file (226 MiB; its
     * raw pages, 685 MiB more, are read from the core and not cached), so a first sequential copy after the index
     * build compresses nothing twice.
     */
    public static final long DEFAULT_MAX_BYTES = 256L << 20;
    /** Largest default bound: the compressed pages of several kdump files of such a guest, or of a bigger one. */
    public static final long DEFAULT_CEILING_BYTES = 1L << 30;

    /** Bytes charged per entry besides the buffer: key record, Caffeine node, future, ByteBuffer, counter. */
    public static final int ENTRY_OVERHEAD = 160;

    /** A cached chunk and how many of its bytes went out to readers so far. */
    private record Chunk(ByteBuffer bytes, AtomicInteger delivered) {
    }

    private final AsyncCache<Object, Chunk> cache;
    private final long maxBytes;

    /**
     * @param maxBytes the bound on the cached bytes, at least 0 (0 caches nothing)
     * @throws IllegalArgumentException if {@code maxBytes} is negative
     */
    public CaffeineChunkCache(long maxBytes) {
        if (maxBytes < 0) {
            throw new IllegalArgumentException("cache size must not be negative, was " + maxBytes);
        }
        this.maxBytes = maxBytes;
        this.cache = Caffeine.newBuilder()
                .maximumWeight(maxBytes)
                .weigher((Object k, Chunk v) -> (int) Math.min(Integer.MAX_VALUE,
                        (long) v.bytes().capacity() + ENTRY_OVERHEAD))
                // maintenance and the weighing of completed futures run on the calling thread: no pool to shut down
                .executor(Runnable::run)
                .recordStats()
                .buildAsync();
    }

    /**
     * Returns the chunk cache for a {@code cache_size} option: bounded by {@code bytes}, or by
     * {@link #defaultBytes()} when absent; {@link ChunkCache#NONE} for 0.
     */
    public static ChunkCache of(OptionalLong bytes) {
        long b = bytes.orElse(defaultBytes());
        return b == 0 ? ChunkCache.NONE : new CaffeineChunkCache(b);
    }

    /**
     * Returns the bound used when none is given: 1/16 of the host's memory, at least {@link #DEFAULT_MAX_BYTES} and
     * at most {@link #DEFAULT_CEILING_BYTES} — big guests' kdump files then need no second compression on the first
     * copy, and a small host keeps most of its memory.
     */
    public static long defaultBytes() {
        long ram = 0;
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
                instanceof com.sun.management.OperatingSystemMXBean os) {
            ram = os.getTotalMemorySize();
        }
        return Math.max(DEFAULT_MAX_BYTES, Math.min(DEFAULT_CEILING_BYTES, ram / 16));
    }

    @Override
    public ByteBuffer get(Object key, Function<Object, ByteBuffer> compute) {
        Objects.requireNonNull(key, "key");
        CompletableFuture<Chunk> mine = new CompletableFuture<>();
        // The mapping function only hands Caffeine our incomplete future; we compute below, outside its locks.
        CompletableFuture<Chunk> f = cache.get(key, (k, executor) -> mine);
        if (f == mine) {
            try {
                ByteBuffer value = Objects.requireNonNull(compute.apply(key), "compute returned null");
                mine.complete(new Chunk(value, new AtomicInteger()));
            } catch (RuntimeException | Error e) {
                mine.completeExceptionally(e); // Caffeine drops failed futures
                throw e;
            }
        }
        try {
            return f.join().bytes();
        } catch (CompletionException e) {
            throw unwrap(e);
        }
    }

    @Override
    public void delivered(Object key, int bytes) {
        CompletableFuture<Chunk> f = cache.asMap().get(key); // no statistics: not a lookup for data
        if (f == null || !f.isDone() || f.isCompletedExceptionally()) {
            return;
        }
        Chunk c = f.join();
        int total = c.delivered().addAndGet(bytes);
        if (total >= c.bytes().remaining() && c.delivered().compareAndSet(total, Integer.MIN_VALUE)) {
            cache.asMap().remove(key, f); // once; and not a newer entry of the same key
        }
    }

    @Override
    public void invalidate(Object key) {
        cache.synchronous().invalidate(Objects.requireNonNull(key, "key"));
    }

    private static RuntimeException unwrap(CompletionException e) {
        Throwable c = e.getCause();
        if (c instanceof RuntimeException re) {
            return re;
        }
        if (c instanceof Error err) {
            throw err;
        }
        return e;
    }

    /** Returns the configured bound in bytes. */
    public long maxBytes() {
        return maxBytes;
    }

    /** Returns the weight of the cached entries now (after pending evictions). */
    public long weightedBytes() {
        cache.synchronous().cleanUp();
        return cache.synchronous().policy().eviction().orElseThrow().weightedSize().orElse(0);
    }

    /** Returns how many {@link #get} calls found their key cached (or being computed). */
    public long hits() {
        return stats().hitCount();
    }

    /** Returns how many {@link #get} calls computed. */
    public long misses() {
        return stats().missCount();
    }

    private CacheStats stats() {
        return cache.synchronous().stats();
    }

    /** Returns one line for a status file, e.g. "chunk cache: 12.0 of 256.0 MiB, 3400 hits, 120 misses". */
    public String statusLine() {
        return String.format(java.util.Locale.ROOT, "chunk cache: %.1f of %.1f MiB, %d hits, %d misses",
                weightedBytes() / 1048576.0, maxBytes / 1048576.0, hits(), misses());
    }
}

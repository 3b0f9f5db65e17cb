package io.vmdumpfs.cache;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.vmdumpfs.core.format.ChunkCache;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;

/**
 * A {@link ChunkCache} over Caffeine, bounded in bytes: each entry weighs its buffer's {@code capacity()} plus
 * {@link #ENTRY_OVERHEAD}, and Caffeine evicts by W-TinyLFU once the total passes the bound.
 *
 * <p>Each chunk is computed once: the first caller of a key inserts an incomplete future and computes on its own
 * thread, later callers of that key wait for the future. The computation runs outside Caffeine's map locks (it can
 * take milliseconds: compressing 256 pages), so it never blocks readers of other keys. A computation that throws
 * leaves nothing cached; waiting callers get the same exception.
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

    /** Bytes charged per entry besides the buffer: key record, Caffeine node, future, ByteBuffer object. */
    public static final int ENTRY_OVERHEAD = 160;

    private final AsyncCache<Object, ByteBuffer> cache;
    private final long maxBytes;
    private final LongAdder hits = new LongAdder();
    private final LongAdder misses = new LongAdder();

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
                .weigher((Object k, ByteBuffer v) -> (int) Math.min(Integer.MAX_VALUE, (long) v.capacity() + ENTRY_OVERHEAD))
                // maintenance and the weighing of completed futures run on the calling thread: no pool to shut down
                .executor(Runnable::run)
                .buildAsync();
    }

    /**
     * Returns the chunk cache for a {@code cache_size} option: bounded by {@code bytes}, or by
     * {@link #DEFAULT_MAX_BYTES} when absent; {@link ChunkCache#NONE} for 0.
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
        CompletableFuture<ByteBuffer> mine = new CompletableFuture<>();
        CompletableFuture<ByteBuffer> prior = cache.asMap().putIfAbsent(key, mine);
        if (prior != null) {
            hits.increment();
            try {
                return prior.join();
            } catch (CompletionException e) {
                throw unwrap(e);
            }
        }
        misses.increment();
        try {
            ByteBuffer value = Objects.requireNonNull(compute.apply(key), "compute returned null");
            mine.complete(value);
            return value;
        } catch (RuntimeException | Error e) {
            mine.completeExceptionally(e); // Caffeine drops failed futures
            cache.asMap().remove(key, mine);
            throw e;
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
        return hits.sum();
    }

    /** Returns how many {@link #get} calls computed. */
    public long misses() {
        return misses.sum();
    }

    /** Returns one line for a status file, e.g. "chunk cache: 12.0 of 256.0 MiB, 3400 hits, 120 misses". */
    public String statusLine() {
        return String.format(java.util.Locale.ROOT, "chunk cache: %.1f of %.1f MiB, %d hits, %d misses",
                weightedBytes() / 1048576.0, maxBytes / 1048576.0, hits(), misses());
    }
}

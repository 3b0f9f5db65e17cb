package io.vmdumpfs.core.format;

import java.nio.ByteBuffer;
import java.util.function.Function;

/**
 * Where expensive formats keep the chunks they compute (compressed kdump pages, page descriptor tables), so each is
 * computed once. dump-core only defines the contract; the cache module implements it over Caffeine, bounded in
 * bytes.
 *
 * <p>Contract for callers:
 * <ul>
 *   <li>The key is a record (value equality) that identifies the content completely: the format, the core's
 *       {@link io.vmdumpfs.core.elf.CoreFile#identity()} and the chunk index, so one cache can serve several
 *       mounts.</li>
 *   <li>The returned buffer is shared with other readers: read it with absolute gets or through
 *       {@link ByteBuffer#duplicate()}, never change its position, limit or content. Its {@code remaining()} bytes
 *       are the chunk.</li>
 *   <li>{@code compute} must be a pure function of the key and must not return null. It may run on the calling
 *       thread; it must not itself call {@code get} on the same cache (Caffeine forbids recursive computation).</li>
 * </ul>
 *
 * <p>Implementations are thread-safe. A caching implementation runs {@code compute} at most once per key while
 * the entry is cached, and weighs each entry by its {@code capacity()}.
 */
@FunctionalInterface
public interface ChunkCache {

    /** Caches nothing: computes on every call. For tests and one-shot tools. */
    ChunkCache NONE = (key, compute) -> compute.apply(key);

    /**
     * Returns the chunk for {@code key}, computing it with {@code compute} if it is not cached.
     *
     * @throws RuntimeException whatever {@code compute} throws (e.g. {@link io.vmdumpfs.core.BadCoreException});
     *                          nothing is cached then
     */
    ByteBuffer get(Object key, Function<Object, ByteBuffer> compute);

    /**
     * Drops {@code key}'s chunk, if cached: its caller knows it will hardly be asked for again (e.g. every byte of it
     * went to the kernel's page cache). Callers still holding the buffer keep it. Does nothing by default.
     */
    default void invalidate(Object key) {
    }
}

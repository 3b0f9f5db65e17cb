package io.vmdumpfs.core.format;

import java.nio.ByteBuffer;
import java.util.function.Function;

/**
 * Where expensive formats keep the chunks they compute (compressed kdump pages), so each is computed once. dump-core
 * only defines the contract; the cache module implements it over Caffeine, bounded in bytes, and decides what to
 * keep.
 *
 * <p>Contract for callers:
 * <ul>
 *   <li>The key is a record (value equality) that identifies the content completely (e.g. a digest of the core's
 *       {@link io.vmdumpfs.core.elf.CoreFile#identity() identity}, blocks and codec, and the chunk number), so one
 *       cache can serve several mounts. Its hash should be cheap: it is computed on every read.</li>
 *   <li>The returned buffer is shared with other readers: read it with absolute gets or through
 *       {@link ByteBuffer#duplicate()}, never change its position, limit or content. Its {@code remaining()} bytes
 *       are the chunk.</li>
 *   <li>{@code compute} must be a pure function of the key and must not return null. It may run on the calling
 *       thread; it must not itself call {@code get} on the same cache (Caffeine forbids recursive computation).</li>
 *   <li>After copying a chunk's bytes to a reader that keeps them (FUSE: the kernel's page cache), callers say so
 *       with {@link #delivered}: the cache may then drop the chunk early to make room for chunks nobody has read
 *       yet.</li>
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
     * Tells the cache that {@code bytes} bytes of {@code key}'s chunk were copied to a reader that keeps them (a
     * sequential reader's page cache). Bytes read twice are told twice. What to do with that is the cache's
     * decision; by default nothing.
     */
    default void delivered(Object key, int bytes) {
    }

    /**
     * Drops {@code key}'s chunk, if cached. Callers still holding the buffer keep it. Does nothing by default.
     */
    default void invalidate(Object key) {
    }
}

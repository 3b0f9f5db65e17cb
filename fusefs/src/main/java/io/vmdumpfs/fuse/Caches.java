package io.vmdumpfs.fuse;

import io.vmdumpfs.core.format.ChunkCache;
import java.util.OptionalLong;

/** Builds the chunk cache of a mount or conversion from the {@code cache_size} option. */
final class Caches {

    private Caches() {
    }

    /** Returns the cache bounded by {@code bytes}, or by the cache module's default when absent. */
    static ChunkCache chunkCache(OptionalLong bytes) {
        // TODO(cache module): the Caffeine implementation is being written; until then compute on every read.
        return ChunkCache.NONE;
    }
}

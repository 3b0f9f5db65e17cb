package io.vmdumpfs.core.format;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * What the expensive formats need besides the dump, passed to {@link DumpFormat#open}. The cheap formats (ELF,
 * blocks.txt, vmcoreinfo) ignore it.
 *
 * @param cache    where computed chunks are kept; {@link ChunkCache#NONE} to compute on every read
 * @param cacheDir a directory for persisted indexes (e.g. kdump page tables), so a second mount of the same core
 *                 starts fast; empty to keep everything in memory
 * @param threads  how many threads a format may use to build an index, at least 1
 */
public record FormatContext(ChunkCache cache, Optional<Path> cacheDir, int threads) {

    public FormatContext {
        Objects.requireNonNull(cache, "cache");
        Objects.requireNonNull(cacheDir, "cacheDir");
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, was " + threads);
        }
    }

    /** Returns a context with no cache, no cache directory and one thread per available processor. */
    public static FormatContext uncached() {
        return new FormatContext(ChunkCache.NONE, Optional.empty(), Runtime.getRuntime().availableProcessors());
    }
}

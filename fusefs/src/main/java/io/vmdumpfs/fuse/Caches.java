package io.vmdumpfs.fuse;

import io.vmdumpfs.cache.CaffeineChunkCache;
import io.vmdumpfs.cache.IndexStore;
import io.vmdumpfs.cache.compressed.CoreCache;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.kdump.DumpLevel;
import io.vmdumpfs.core.format.IndexRepository;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.logging.Logger;

/** The cache module seen from the command line: the formats' context, persisted indexes, decompressed cores. */
final class Caches {

    private static final Logger LOG = Logger.getLogger("io.vmdumpfs.fuse");

    private Caches() {
    }

    /**
     * Returns the context for {@code cache_size} ({@link CaffeineChunkCache#DEFAULT_MAX_BYTES} when absent, no cache
     * for 0), indexes kept in the user's cache directory when there is one, and one index thread per processor.
     */
    static FormatContext context(OptionalLong cacheBytes) {
        return context(cacheBytes, DumpLevel.NONE);
    }

    /** Returns the context of {@link #context(OptionalLong)} whose kdump files are of dump level {@code level}. */
    static FormatContext context(OptionalLong cacheBytes, DumpLevel level) {
        return new FormatContext(CaffeineChunkCache.of(cacheBytes), indexes(),
                Runtime.getRuntime().availableProcessors(), level);
    }

    /**
     * Returns the file to open for the core the user named: itself, or for a compressed core (zstd, xz, lz4, gzip, as
     * systemd-coredump stores them) its decompressed copy in the core cache, made now with a progress bar on a
     * terminal (see dump-core's CoreSource and the cache module's CoreCache).
     *
     * @throws io.vmdumpfs.core.BadCoreException if the compressed data is damaged or the cache cannot hold the copy
     */
    static Path resolveCore(Path core) {
        return CoreCache.resolve(core, CoreCache.Options.defaults());
    }

    /**
     * Returns the persisted indexes in the user's cache directory, created and trimmed to its budget; none (indexes
     * in memory only) when there is no home directory or it cannot be written: a mount must not fail for want of a
     * cache.
     */
    static IndexRepository indexes() {
        Optional<Path> dir = IndexStore.defaultDirectory();
        if (dir.isEmpty()) {
            return IndexRepository.NONE;
        }
        try {
            Path d = IndexStore.create(dir.get());
            IndexStore.prune(d, IndexStore.DEFAULT_MAX_BYTES);
            return new IndexStore(d);
        } catch (UncheckedIOException | IOException e) {
            LOG.fine(() -> "no persisted indexes: " + e.getMessage());
            return IndexRepository.NONE;
        }
    }
}

package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.DumpNotes;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;

/**
 * vmcore.kdump-zlib, -lzo, -snappy, -zstd: the guest's memory as a seekable kdump-compressed file (makedumpfile's
 * format; QEMU ≥ 8.2 calls it kdump-raw-*), generated lazily. {@link KdumpGeometry} has the layout, {@link
 * KdumpCodec} the compressions.
 *
 * <p>Page-data offsets depend on every earlier page's compressed size, so the first {@link #size()} or {@link #read}
 * that needs them builds a {@link KdumpIndex}: one pass over guest RAM on {@link FormatContext#threads()} threads,
 * putting each chunk's compressed pages into the {@link ChunkCache} so a following sequential read does not compress
 * again. Raw pages (stored uncompressed because compressing does not shrink them) are read from the core on every
 * read instead of being cached: the core already holds them, and they are most of a busy guest's page data.
 * With a cache directory the index is persisted and a remount loads it instead. Until the index exists,
 * {@link #size()} and reads past the bitmaps wait for it; reads of the headers and bitmaps never wait.
 * {@link #progress()} reports the build.
 *
 * <p>One index build runs at a time in the process (each on all its threads): a mount's first {@code ls -l} asks
 * for all four sizes at once, and finishing one file first beats finishing four late.
 *
 * <p>Thread-safe: any number of threads may read at once, also while the index builds.
 */
public final class KdumpView implements View {

    private static final System.Logger LOG = System.getLogger(KdumpView.class.getName());

    /**
     * Runs index builds one after the other; the build itself fans out to FormatContext.threads(). A daemon thread,
     * so an unmount does not wait for a build nobody needs any more.
     */
    private static final ExecutorService BUILDS = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "vmdumpfs-kdump-index");
        t.setDaemon(true);
        return t;
    });

    /** The subdirectory of FormatContext.cacheDir() for kdump indexes. */
    public static final String INDEX_DIR = "kdump-index";

    /**
     * Cache key of a chunk's packed bytes (its compressed pages): the core's identity and the blocks (what the pages
     * are), the codec and the chunk number. Value equality, so two mounts of one core share chunks.
     */
    record ChunkKey(String core, List<GuestPhysBlock> blocks, KdumpCodec codec, int chunk) {
    }

    private final GuestDump dump;
    private final KdumpCodec codec;
    private final KdumpGeometry geometry;
    private final ChunkCache cache;
    private final Optional<Path> indexDir;
    private final int threads;
    private final String coreIdentity;
    /** Idle chunk compressors for cache misses: reused, since a zstd context or a deflater costs native memory. */
    private final ConcurrentLinkedQueue<ChunkCompressor> idle = new ConcurrentLinkedQueue<>();
    private final AtomicLong pagesDone = new AtomicLong();

    // Guards starting the index load or build, so it happens once; reads take it only until the future exists.
    private final Object lock = new Object();
    private volatile CompletableFuture<KdumpLayout> layout;
    private volatile KdumpProgress.State state = KdumpProgress.State.NOT_STARTED;
    private volatile long startNanos;
    private volatile long endNanos;
    private volatile String problem;
    private volatile Path indexFile;
    /** The index once ready; what recomputed chunks are checked against. */
    private volatile KdumpIndex index;

    private KdumpView(GuestDump dump, KdumpCodec codec, KdumpGeometry geometry, FormatContext ctx) {
        this.dump = dump;
        this.codec = codec;
        this.geometry = geometry;
        this.cache = ctx.cache();
        this.indexDir = ctx.cacheDir().map(d -> d.resolve(INDEX_DIR));
        this.threads = ctx.threads();
        this.coreIdentity = dump.core().identity().toString();
    }

    /**
     * Returns the view of {@code dump}'s kdump file compressed with {@code codec}. Cheap: reads no guest page; the
     * index is built on first use.
     *
     * @throws BadCoreException (MISSING) if the guest has no RAM, (UNSUPPORTED) if its pages or addresses do not
     *                          fit the format
     */
    public static KdumpView open(GuestDump dump, FormatContext ctx, KdumpCodec codec) {
        byte[] notes = DumpNotes.kdump(dump);
        KdumpGeometry g = KdumpGeometry.of(dump, codec, notes, coreMtimeSeconds(dump));
        return new KdumpView(dump, codec, g, ctx);
    }

    private static long coreMtimeSeconds(GuestDump dump) {
        // timestamp: when the dump was taken, i.e. when the core was written; 0 (as QEMU) if unknown
        try {
            return Files.getLastModifiedTime(dump.core().path()).toMillis() / 1000;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    public KdumpCodec codec() {
        return codec;
    }

    /** Returns the file size; builds or loads the index first if needed, and waits for it. */
    @Override
    public long size() {
        return layout().size();
    }

    @Override
    public int read(long offset, ByteBuffer dst) {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset);
        }
        long metaEnd = geometry.offsetDesc();
        if (offset < metaEnd && dst.remaining() <= metaEnd - offset) {
            // headers and bitmaps: known without the index, so `file` or a header peek never waits for a build
            int n = dst.remaining();
            byte[] tmp = new byte[n];
            geometry.readMeta(offset, tmp, 0, n);
            dst.put(tmp);
            return n;
        }
        return layout().read(offset, dst);
    }

    /** Returns how far the index is; never blocks and never starts the build. */
    public KdumpProgress progress() {
        KdumpProgress.State s = state;
        long start = startNanos;
        long elapsed = start == 0 ? 0 : (s == KdumpProgress.State.READY || s == KdumpProgress.State.FAILED
                ? endNanos : System.nanoTime()) - start;
        return new KdumpProgress(codec.fileName(), s, pagesDone.get(), geometry.pages().pageCount(),
                Math.max(0, elapsed), problem);
    }

    @Override
    public Optional<String> buildStatus() {
        return Optional.of(progress().line());
    }

    /** Starts loading or building the index without waiting for it (e.g. right after mounting). */
    public void prepare() {
        future();
    }

    /** Returns the persisted index file, once the index is ready and was persisted or loaded; for tests. */
    Optional<Path> indexFile() {
        return Optional.ofNullable(indexFile);
    }

    private KdumpLayout layout() {
        try {
            return future().join();
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

    private String stripPath(BadCoreException e) {
        String m = e.getMessage();
        String prefix = e.file() == null ? "" : e.file() + ": ";
        return m.startsWith(prefix) ? m.substring(prefix.length()) : m;
    }

    private CompletableFuture<KdumpLayout> future() {
        CompletableFuture<KdumpLayout> f = layout;
        if (f != null) {
            return f;
        }
        synchronized (lock) {
            if (layout == null) {
                startNanos = System.nanoTime();
                KdumpLayout loaded = tryLoad();
                if (loaded != null) {
                    layout = CompletableFuture.completedFuture(loaded);
                } else {
                    state = KdumpProgress.State.QUEUED;
                    layout = CompletableFuture.supplyAsync(this::build, BUILDS);
                }
            }
            return layout;
        }
    }

    /** Loads a persisted index, deleting one that does not verify. Returns null when there is none. */
    private KdumpLayout tryLoad() {
        if (indexDir.isEmpty()) {
            return null;
        }
        try {
            byte[] key = KdumpIndexFile.key(dump, codec);
            Path file = KdumpIndexFile.path(indexDir.get(), codec, key);
            KdumpIndexFile.Loaded l = KdumpIndexFile.read(file, key, geometry.blockSize(), geometry.pages().pageCount());
            switch (l.status()) {
                case OK:
                    pagesDone.set(geometry.pages().pageCount());
                    indexFile = file;
                    index = l.index();
                    touch(file);
                    finish(KdumpProgress.State.READY, null);
                    LOG.log(Level.DEBUG, "{0}: loaded index {1}", codec.fileName(), file);
                    return layoutOf(l.index());
                case CORRUPT:
                    LOG.log(Level.WARNING, "{0}: index {1} is corrupt ({2}); rebuilding it", codec.fileName(), file,
                            l.problem());
                    Files.deleteIfExists(file);
                    return null;
                case UNREADABLE:
                    LOG.log(Level.WARNING, "{0}: cannot read index {1} ({2}); building in memory", codec.fileName(),
                            file, l.problem());
                    return null;
                default:
                    return null;
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.WARNING, codec.fileName() + ": cannot use the index cache; building in memory", e);
            return null;
        }
    }

    /** Marks the index as just used: the cache module's IndexStore.prune() removes the least recently used. */
    private static void touch(Path file) {
        try {
            Files.setLastModifiedTime(file, FileTime.from(Instant.now()));
        } catch (IOException e) {
            // a read-only cache directory: pruning order is all we lose
        }
    }

    private KdumpLayout build() {
        state = KdumpProgress.State.BUILDING;
        startNanos = System.nanoTime();
        try {
            KdumpIndex built = KdumpIndexBuilder.build(geometry.pages(), codec, threads,
                    (c, packed) -> cache.get(key(c), k -> ByteBuffer.wrap(packed)), pagesDone);
            KdumpLayout l = layoutOf(built);
            this.index = built;
            persist(built);
            finish(KdumpProgress.State.READY, null);
            LOG.log(Level.DEBUG, "{0}: index of {1} pages built in {2} ms", codec.fileName(), built.pageCount(),
                    (endNanos - startNanos) / 1_000_000);
            return l;
        } catch (RuntimeException | Error e) {
            finish(KdumpProgress.State.FAILED, String.valueOf(e.getMessage()));
            throw e;
        }
    }

    private void persist(KdumpIndex index) {
        if (indexDir.isEmpty()) {
            return;
        }
        try {
            byte[] key = KdumpIndexFile.key(dump, codec);
            Path file = KdumpIndexFile.path(indexDir.get(), codec, key);
            KdumpIndexFile.write(file, key, index);
            indexFile = file;
        } catch (IOException | RuntimeException e) {
            // the index still serves this mount from memory; only the next mount is slower
            LOG.log(Level.WARNING, codec.fileName() + ": cannot persist the index under " + indexDir.get(), e);
        }
    }

    private void finish(KdumpProgress.State s, String why) {
        endNanos = System.nanoTime();
        problem = why;
        state = s;
    }

    private KdumpLayout layoutOf(KdumpIndex idx) {
        AtomicIntegerArray delivered = new AtomicIntegerArray(idx.chunkCount());
        return new KdumpLayout(geometry, idx, new KdumpLayout.ChunkSource() {
            @Override
            public ByteBuffer chunk(int c) {
                return KdumpView.this.chunk(c);
            }

            @Override
            public void delivered(int c, int bytes) {
                // Once as many packed bytes went out as the chunk has, a sequential reader has put all of it into the
                // kernel's page cache (the mount keeps file content there): caching it here too would only crowd
                // out chunks nobody has read yet, such as the next kdump file's, which then had to be compressed
                // twice. Bytes read twice count twice and drop a chunk early; it is compressed again if needed.
                int total = delivered.addAndGet(c, bytes);
                if (total >= idx.packedLength(c) && delivered.compareAndSet(c, total, 0)) {
                    cache.invalidate(key(c));
                }
            }
        });
    }

    /** The layout's chunk source: the cache, or compress the chunk again on a miss. */
    private ByteBuffer chunk(int c) {
        return cache.get(key(c), k -> ByteBuffer.wrap(compressChunk(c)));
    }

    private ChunkKey key(int c) {
        return new ChunkKey(coreIdentity, dump.memory().blocks(), codec, c);
    }

    /**
     * Compresses chunk {@code c} again and checks it against the index: every page must get the stored size it had
     * when the index was built, or the file's descriptors and offsets would no longer match its data. A change that
     * keeps every page's size goes unnoticed: raw pages are then read from the core as it is now.
     */
    private byte[] compressChunk(int c) {
        ChunkCompressor cc = idle.poll();
        if (cc == null) {
            cc = new ChunkCompressor(geometry.pages(), codec);
        }
        try {
            byte[] packed = cc.compress(c);
            int want = index.packedLength(c);
            if (packed.length != want) {
                throw modified("chunk " + c + " compresses to " + packed.length + " bytes now but to " + want);
            }
            // equal totals can still hide a page that changed size (e.g. one page grew as much as another shrank)
            int first = c * KdumpIndex.CHUNK_PAGES;
            for (int p = 0; p < cc.pageCount(); p++) {
                if (cc.storedSize(p) != index.storedSize(first + p)) {
                    throw modified("chunk " + c + ": page " + (first + p) + " is stored in " + cc.storedSize(p)
                            + " bytes now but in " + index.storedSize(first + p));
                }
            }
            return packed;
        } finally {
            idle.offer(cc);
        }
    }

    private BadCoreException modified(String what) {
        Path f = indexFile;
        if (f != null) {
            try {
                Files.deleteIfExists(f); // don't trust it on the next mount either
            } catch (IOException e) {
                LOG.log(Level.WARNING, "cannot delete " + f, e);
            }
        }
        return new BadCoreException(Kind.CORRUPT, dump.core().path(), codec.fileName() + ": " + what
                + " when the index was built; was the core modified while mounted?");
    }
}

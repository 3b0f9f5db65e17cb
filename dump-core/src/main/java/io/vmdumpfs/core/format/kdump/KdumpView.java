package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.format.BuildProgress;
import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.DumpNotes;
import io.vmdumpfs.core.format.NotePids;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.IndexRepository;
import io.vmdumpfs.core.format.LazyIndex;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * vmcore.kdump-zlib, -lzo, -snappy, -zstd: the guest's memory as a seekable kdump-compressed file (makedumpfile's
 * format; QEMU ≥ 8.2 calls it kdump-raw-*), generated lazily. {@link KdumpGeometry} has the header layout,
 * {@link KdumpLayout} the bytes once the {@link KdumpIndex} exists, {@link KdumpCodec} the compressions.
 *
 * <p>Page-data offsets depend on every earlier page's compressed size, so the first {@link #size()} or {@link #read}
 * that needs them gets the index through a {@link LazyIndex}: loaded from the context's {@link IndexRepository}, or
 * built in one parallel pass ({@link KdumpIndexBuilder}) that puts each chunk's compressed pages into the
 * {@link ChunkCache}, so a following sequential read does not compress again. Until the index exists, {@link #size()}
 * and reads past the bitmaps wait for it; reads of the headers and bitmaps never wait.
 *
 * <p>A chunk the cache no longer holds is compressed again and checked against the index. What the cache keeps and
 * for how long is the cache's decision; this view only tells it how much of each chunk went to a reader
 * ({@link ChunkCache#delivered}).
 *
 * <p>Thread-safe: any number of threads may read at once, also while the index builds.
 */
public final class KdumpView implements View {

    /**
     * Cache key of a chunk's packed bytes (its compressed pages): the file's index digest (which covers the core's
     * identity, the blocks and the codec) and the chunk number. Value equality, so two mounts of one core share
     * chunks; its hash is the digest string's, which Java computes once.
     */
    record ChunkKey(String file, int chunk) {
    }

    /** Version of what the index key covers; a change makes every persisted index stale. */
    static final int KEY_VERSION = 2;
    /** Version of the filtering rules; a change makes the persisted indexes of filtered files stale. */
    static final int FILTER_VERSION = 1;
    /** Bytes of the core hashed into the key: its ELF header, program headers and notes in practice. */
    static final int CORE_PREFIX = 64 * 1024;

    private final GuestDump dump;
    private final GuestPages pages;
    private final KdumpCodec codec;
    private final KdumpGeometry geometry;
    private final ChunkCache cache;
    private final IndexRepository indexes;
    private final LazyIndex<KdumpLayout> index;
    /** Idle chunk compressors for cache misses: reused, since a zstd context or a deflater costs native memory. */
    private final ConcurrentLinkedQueue<ChunkCompressor> idle = new ConcurrentLinkedQueue<>();
    /** The repository key, computed on first use (it reads the core's first 64 KiB). */
    private volatile IndexRepository.Key key;

    private KdumpView(GuestDump dump, GuestPages pages, KdumpCodec codec, KdumpGeometry geometry, FormatContext ctx) {
        this.dump = dump;
        this.pages = pages;
        this.codec = codec;
        this.geometry = geometry;
        this.cache = ctx.cache();
        this.indexes = ctx.indexes();
        int threads = ctx.threads();
        this.index = new LazyIndex<>(codec.fileName(), pages.present().pageCount(), ctx.builds(),
                new LazyIndex.Source<>() {
                    @Override
                    public Optional<KdumpLayout> load() {
                        return KdumpView.this.load();
                    }

                    @Override
                    public KdumpLayout build(AtomicLong done) {
                        KdumpIndex built = KdumpIndexBuilder.build(pages, codec, threads,
                                (c, packed) -> cache.get(chunkKey(c), k -> ByteBuffer.wrap(packed)), done);
                        return layoutOf(built);
                    }

                    @Override
                    public void persist(KdumpLayout layout) {
                        indexes.store(key(), layout.index()::writeTo);
                    }
                });
    }

    /**
     * Returns the view of {@code dump}'s kdump file compressed with {@code codec}. Cheap: reads no guest page; the
     * index is built on first use.
     *
     * @throws BadCoreException (MISSING) if the guest has no RAM, (UNSUPPORTED) if its pages or addresses do not
     *                          fit the format
     */
    public static KdumpView open(GuestDump dump, FormatContext ctx, KdumpCodec codec) {
        GuestPages pages = GuestPages.of(dump, ctx);
        if (pages.level().filters()) {
            pages.filter(); // refuse a level the guest cannot honour now, not at the first read
        }
        // The notes' pids and the utsname read the guest kernel (kallsyms, BTF, run queues: a few hundred ms in a
        // fresh JVM, shared with vmcore.elf's header); the layout needs only the notes' length, which QEMU's pids
        // give as well: so the size and the index do not wait for them, the header's first read does.
        byte[] layoutNotes = DumpNotes.of(dump.vcpus(), dump.vmcoreinfo(), dump.platform().byteOrder());
        KdumpGeometry g = KdumpGeometry.of(dump, pages.present(), codec, layoutNotes,
                () -> new KdumpGeometry.HeadContent(KdumpGeometry.utsname(dump, ctx.findKernel(dump)),
                        DumpNotes.kdump(dump, NotePids.shared(dump, ctx))),
                coreMtimeSeconds(dump), pages.level());
        return new KdumpView(dump, pages, codec, g, ctx);
    }

    /**
     * Checks that the kdump files of {@code dump} can be made at {@code ctx}'s dump level: that the guest kernel can
     * be read and its VMCOREINFO has what the level needs. Cheap (reads where the memory map is); a mount calls it
     * before it announces itself, so a level it cannot honour fails the mount with one line.
     *
     * @throws BadCoreException (UNSUPPORTED) naming what is missing
     */
    public static void requireDumpLevel(GuestDump dump, FormatContext ctx) {
        if (ctx.dumpLevel().filters()) {
            GuestPages.of(dump, ctx).filter();
        }
    }

    /**
     * Returns lines saying how many pages {@code ctx}'s dump level leaves out of {@code dump}'s kdump files, per
     * class, and how many of the dumped pages are zero: for {@code vmdumpfs info --dump-level}. Decides the dumped
     * pages if no file has yet, and reads every dumped page (not in a hole of the core) to count the zero ones.
     *
     * @throws BadCoreException if the level cannot be honoured or the core cannot be read
     */
    public static java.util.Map<String, String> describeDumpLevel(GuestDump dump, FormatContext ctx) {
        GuestPages pages = GuestPages.of(dump, ctx);
        PageSet dumped = pages.dumped();
        long zero = ZeroPages.count(pages, dumped, ctx.threads());
        return DumpLevelReport.describe(pages, dumped, zero);
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
        return index.get().size();
    }

    @Override
    public int read(long offset, ByteBuffer dst) {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset);
        }
        long metaEnd = geometry.offsetDesc();
        if (offset < metaEnd && dst.remaining() <= metaEnd - offset) {
            // headers and bitmaps: known without the index, so `file` or a header peek never waits for a build; the
            // second bitmap of a filtered file waits for the struct pages to be classified (a second or two per
            // 100 GiB), not for the index
            int n = dst.remaining();
            byte[] tmp = new byte[n];
            geometry.readMeta(offset, tmp, 0, n, geometry.touchesBitmap2(offset, n) ? pages.dumped() : null);
            dst.put(tmp);
            return n;
        }
        return index.get().read(offset, dst);
    }

    /** Returns how far the index is; never blocks and never starts the build. */
    public BuildProgress progress() {
        return index.progress();
    }

    @Override
    public Optional<String> buildStatus() {
        String line = progress().line();
        if (pages.level().filters()) {
            line += "; " + DumpLevelReport.summary(pages, index.ifReady().map(KdumpLayout::index).orElse(null));
        }
        return Optional.of(line);
    }

    /** Starts loading or building the index without waiting for it (e.g. right after mounting). */
    public void prepare() {
        index.prepare();
    }

    /** Returns the layout, building or loading the index first if needed; for tests. */
    KdumpLayout layout() {
        return index.get();
    }

    /** Returns the key the index is persisted under. */
    IndexRepository.Key key() {
        IndexRepository.Key k = key;
        if (k == null) {
            k = IndexRepository.Key.of("kdump-" + codec.codecName, digest(dump, codec, pages.level()));
            key = k;
        }
        return k;
    }

    /**
     * Returns SHA-256 of what the index depends on: the key version, the codec and its output fingerprint, the page
     * and chunk size, the core's {@link CoreFile#identity() identity}, its first 64 KiB and the block table. A
     * different core, a rewritten core, other blocks or another compressor version give another digest, so a stale
     * index is never found. Reads the core's first 64 KiB.
     */
    static byte[] digest(GuestDump dump, KdumpCodec codec) {
        return digest(dump, codec, DumpLevel.NONE);
    }

    /** Returns the digest of {@link #digest(GuestDump, KdumpCodec)} for a file of dump level {@code level}. */
    static byte[] digest(GuestDump dump, KdumpCodec codec, DumpLevel level) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from the JDK", e);
        }
        CoreFile core = dump.core();
        md.update(("vmdumpfs kdump index v" + KEY_VERSION + "." + KdumpIndex.FORMAT_VERSION + "\0" + codec.codecName
                + "\0" + codec.fingerprint() + "\0" + dump.platform().pageSize() + "\0" + KdumpIndex.CHUNK_PAGES
                + "\0" + core.identity() + "\0").getBytes(StandardCharsets.UTF_8));
        if (level.filters()) {
            // an unfiltered file's key stays what it was before dump levels existed, so its index is still found
            md.update(("dump_level " + level.bits() + " by makedumpfile's rules v" + FILTER_VERSION + "\0")
                    .getBytes(StandardCharsets.UTF_8));
        }
        md.update(core.read(0, (int) Math.min(CORE_PREFIX, core.size())));
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        for (GuestPhysBlock blk : dump.memory().blocks()) {
            for (long v : new long[] {blk.guestPaddrStart(), blk.guestPaddrEnd(), blk.fileOffset()}) {
                md.update(b.putLong(0, v).array());
            }
        }
        return md.digest();
    }

    private Optional<KdumpLayout> load() {
        int pageSize = geometry.blockSize();
        int pageCount = pages.present().pageCount();
        return indexes.load(key(), in -> KdumpIndex.readFrom(in, pageSize, pageCount)).map(idx -> {
            pages.learnDumped(idx.dumped()); // no struct page needs to be read again
            pages.learn(idx.stored()); // the other codecs' builds then read only these pages
            return layoutOf(idx);
        });
    }

    private KdumpLayout layoutOf(KdumpIndex idx) {
        return new KdumpLayout(geometry, idx, new KdumpLayout.ChunkSource() {
            @Override
            public ByteBuffer chunk(int c) {
                return cache.get(chunkKey(c), k -> ByteBuffer.wrap(compressChunk(idx, c)));
            }

            @Override
            public void delivered(int c, int bytes) {
                cache.delivered(chunkKey(c), bytes);
            }
        });
    }

    private ChunkKey chunkKey(int c) {
        return new ChunkKey(key().digest(), c);
    }

    /**
     * Compresses chunk {@code c} again and checks it against the index: every stored page must get the stored size
     * it had when the index was built, or the file's descriptors and offsets would no longer match its data. A change
     * that keeps every page's size goes unnoticed (raw pages are then read from the core as it is now), and so does
     * one to a page found zero: it is not read again.
     */
    private byte[] compressChunk(KdumpIndex idx, int c) {
        ChunkCompressor cc = idle.poll();
        if (cc == null) {
            cc = new ChunkCompressor(pages.present(), codec);
        }
        try {
            PageSet stored = idx.stored();
            int slot = stored.slotOf(c);
            long[] mask = new long[PageSet.WORDS];
            stored.chunkMask(c, mask);
            byte[] packed = cc.compress(c, mask, false);
            int want = idx.packedLength(c);
            if (packed.length != want) {
                throw modified("chunk " + c + " compresses to " + packed.length + " bytes now but to " + want);
            }
            // equal totals can still hide a page that changed size (e.g. one page grew as much as another shrank)
            int first = slot < 0 ? 0 : stored.membersBeforeSlot(slot);
            for (int i = 0; i < cc.storedCount(); i++) {
                if (cc.storedSize(i) != idx.sizeOfStored(first + i)) {
                    int page = stored.select(first + i);
                    throw modified("chunk " + c + ": page " + page + " is stored in " + cc.storedSize(i)
                            + " bytes now but in " + idx.sizeOfStored(first + i));
                }
            }
            return packed;
        } finally {
            idle.offer(cc);
        }
    }

    private BadCoreException modified(String what) {
        indexes.discard(key()); // don't trust it on the next mount either
        return new BadCoreException(Kind.CORRUPT, dump.core().path(), codec.fileName() + ": " + what
                + " when the index was built; was the core modified while mounted?");
    }
}

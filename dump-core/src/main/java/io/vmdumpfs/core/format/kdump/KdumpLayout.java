package io.vmdumpfs.core.format.kdump;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The bytes of one kdump-compressed file as a pure function of (offset, length): header blocks and bitmaps from
 * the {@link KdumpGeometry}, page descriptors from the {@link KdumpIndex}, and page data page by page: a raw page
 * straight from the core through {@link DumpedPages}, a compressed page from its chunk's packed bytes that a
 * {@link ChunkSource} supplies (from the cache, or compressed again). Raw pages bypass the cache because their bytes
 * are already in the core; caching them would only crowd out compressed chunks.
 *
 * <p>Where the index leaves pages out of the dump ({@link KdumpIndex#dumped()}), the second bitmap and the page
 * descriptors follow it; the header and the first bitmap never depend on the index.
 *
 * <p>Thread-safe: it holds no cursor and no mutable state; concurrent reads at any offsets return what one
 * sequential reader would get.
 */
public final class KdumpLayout {

    /** Supplies the packed bytes of a chunk: its compressed pages' bytes, in page order. */
    @FunctionalInterface
    public interface ChunkSource {
        /**
         * Returns chunk {@code c}'s packed bytes: its {@code remaining()} bytes, exactly
         * {@link KdumpIndex#packedLength index.packedLength(c)} of them. Only asked for chunks with a compressed
         * page. The buffer may be shared: callers only use absolute gets.
         */
        ByteBuffer chunk(int c);

        /** Told after each read that copied {@code bytes} packed bytes of chunk {@code c} out. Does nothing by default. */
        default void delivered(int c, int bytes) {
        }
    }

    /** Descriptors generated per step of a descriptor-region read: 24 KiB of output. */
    private static final int DESC_BATCH = 1024;
    /** Metadata bytes generated per step (bitmaps can be large; don't allocate all of a big read at once). */
    private static final int META_BATCH = 64 * 1024;

    private final KdumpGeometry geometry;
    private final DumpedPages pages;
    private final KdumpIndex index;
    private final PageSet dumped;
    private final PageSet stored;
    private final ChunkSource chunks;
    private final long offsetZeroPage;
    private final long offsetPageData;
    private final long size;

    KdumpLayout(KdumpGeometry geometry, KdumpIndex index, ChunkSource chunks) {
        if (index.pageCount() != geometry.pages().pageCount() || index.pageSize() != geometry.blockSize()) {
            throw new IllegalArgumentException("index of " + index.pageCount() + " pages of " + index.pageSize()
                    + " bytes does not fit a file of " + geometry.pages().pageCount() + " pages of "
                    + geometry.blockSize());
        }
        this.geometry = geometry;
        this.pages = geometry.pages();
        this.index = index;
        this.dumped = index.dumped();
        this.stored = index.stored();
        this.chunks = chunks;
        this.offsetZeroPage = geometry.offsetDesc() + (long) PageDesc.SIZE * dumped.count();
        this.offsetPageData = offsetZeroPage + geometry.blockSize();
        this.size = offsetPageData + index.totalData();
    }

    /** Returns the file size. */
    public long size() {
        return size;
    }

    KdumpIndex index() {
        return index;
    }

    KdumpGeometry geometry() {
        return geometry;
    }

    /** Returns the offset of the shared zero page (right after the page descriptors). */
    long offsetZeroPage() {
        return offsetZeroPage;
    }

    /** Returns the offset of the first stored page's data. */
    long offsetPageData() {
        return offsetPageData;
    }

    /**
     * Copies the bytes at {@code offset} into {@code dst}, up to {@code dst.remaining()} or the end of the file.
     *
     * @return bytes copied, 0 at or past the end
     * @throws IllegalArgumentException if {@code offset} is negative
     */
    public int read(long offset, ByteBuffer dst) {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset);
        }
        if (offset >= size) {
            return 0;
        }
        int total = (int) Math.min(dst.remaining(), size - offset);
        int done = 0;
        while (done < total) {
            long pos = offset + done;
            int want = total - done;
            int n;
            if (pos < geometry.offsetDesc()) {
                n = readMeta(pos, (int) Math.min(want, geometry.offsetDesc() - pos), dst);
            } else if (pos < offsetZeroPage) {
                n = readDescriptors(pos, (int) Math.min(want, offsetZeroPage - pos), dst);
            } else if (pos < offsetPageData) {
                n = (int) Math.min(want, offsetPageData - pos);
                for (int i = 0; i < n; i++) {
                    dst.put((byte) 0);
                }
            } else {
                n = readPageData(pos - offsetPageData, want, dst);
            }
            done += n;
        }
        return total;
    }

    private int readMeta(long pos, int len, ByteBuffer dst) {
        int n = Math.min(len, META_BATCH);
        byte[] tmp = new byte[n];
        geometry.readMeta(pos, tmp, 0, n, dumped);
        dst.put(tmp, 0, n);
        return n;
    }

    private int readDescriptors(long pos, int len, ByteBuffer dst) {
        long rel = pos - geometry.offsetDesc();
        int first = (int) (rel / PageDesc.SIZE);
        int skip = (int) (rel % PageDesc.SIZE);
        int count = Math.min(DESC_BATCH, (skip + len + PageDesc.SIZE - 1) / PageDesc.SIZE);
        count = Math.min(count, dumped.count() - first);
        ByteBuffer tmp = ByteBuffer.allocate(count * PageDesc.SIZE).order(geometry.order());
        int pageSize = geometry.blockSize();
        int flag = geometry.codec().flag;
        int page = dumped.select(first);
        int ordinal = stored.rank(page); // of the first stored page at or after it
        long dataOff = index.dataOffsetOfStored(ordinal);
        int chunk = -1;
        int slot = -1;
        for (int i = 0; i < count; i++) {
            if (page / KdumpIndex.CHUNK_PAGES != chunk) {
                chunk = page / KdumpIndex.CHUNK_PAGES;
                slot = stored.slotOf(chunk);
            }
            int bit = page % KdumpIndex.CHUNK_PAGES;
            if (slot >= 0 && (stored.slotWord(slot, bit >>> 6) & (1L << bit)) != 0) {
                int s = index.sizeOfStored(ordinal++);
                PageDesc.put(tmp, i * PageDesc.SIZE, offsetPageData + dataOff, s, s == pageSize ? 0 : flag);
                dataOff += s;
            } else {
                PageDesc.put(tmp, i * PageDesc.SIZE, offsetZeroPage, pageSize, 0);
            }
            page = dumped.isAll() ? page + 1 : dumped.nextMember(page + 1);
        }
        int n = Math.min(len, count * PageDesc.SIZE - skip);
        dst.put(tmp.array(), skip, n);
        return n;
    }

    /**
     * Copies page data at relative offset {@code rel}, up to {@code len} bytes but not past the end of its chunk.
     * Walks the chunk's stored pages to the one holding {@code rel}, summing the compressed sizes before it (its
     * offset in the packed bytes). Consecutive raw pages are read from the core with one call; the packed bytes are
     * fetched at most once, and only if a compressed page is read.
     */
    private int readPageData(long rel, int len, ByteBuffer dst) {
        int slot = index.slotAt(rel);
        int c = stored.chunkOfSlot(slot);
        int pageSize = index.pageSize();
        int base = c * KdumpIndex.CHUNK_PAGES;
        int ordinal = stored.membersBeforeSlot(slot);
        long pageStart = index.slotStart(slot); // rel offset of the current page's data
        int packedOff = 0;
        ByteBuffer packed = null;
        int packedCopied = 0;
        // a run of raw pages not yet copied: pages [rawPage, rawNext), from byte rawOff of rawPage, rawLen bytes
        int rawPage = -1;
        int rawNext = -1;
        int rawOff = 0;
        int rawLen = 0;
        int done = 0;
        for (int w = 0; w < PageSet.WORDS && done < len; w++) {
            for (long m = stored.slotWord(slot, w); m != 0 && done < len; m &= m - 1) {
                int page = base + 64 * w + Long.numberOfTrailingZeros(m);
                int s = index.sizeOfStored(ordinal++);
                if (pageStart + s <= rel) {
                    // before the read: only its place in the packed bytes matters
                    pageStart += s;
                    if (s != pageSize) {
                        packedOff += s;
                    }
                    continue;
                }
                int within = (int) (rel + done - pageStart);
                int n = Math.min(s - within, len - done);
                if (s == pageSize) {
                    if (rawLen > 0 && page != rawNext) {
                        pages.read(rawPage, rawOff, dst, rawLen); // a zero page or a gap ended the run
                        rawLen = 0;
                    }
                    if (rawLen == 0) {
                        rawPage = page;
                        rawOff = within;
                    }
                    rawLen += n;
                    rawNext = page + 1;
                } else {
                    if (rawLen > 0) {
                        pages.read(rawPage, rawOff, dst, rawLen);
                        rawLen = 0;
                    }
                    if (packed == null) {
                        packed = packedChunk(c);
                    }
                    dst.put(dst.position(), packed, packed.position() + packedOff + within, n);
                    dst.position(dst.position() + n);
                    packedOff += s;
                    packedCopied += n;
                }
                pageStart += s;
                done += n;
            }
        }
        if (rawLen > 0) {
            pages.read(rawPage, rawOff, dst, rawLen);
        }
        if (packedCopied > 0) {
            chunks.delivered(c, packedCopied);
        }
        return done;
    }

    private ByteBuffer packedChunk(int c) {
        ByteBuffer packed = chunks.chunk(c);
        int want = index.packedLength(c);
        if (packed.remaining() != want) {
            throw new IllegalStateException("chunk " + c + " has " + packed.remaining()
                    + " packed bytes, the index says " + want);
        }
        return packed;
    }

    /** Returns the byte order of the target, for readers in tests. */
    ByteOrder order() {
        return geometry.order();
    }
}

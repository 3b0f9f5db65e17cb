package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.format.IndexRepository.CorruptIndexException;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * Where every page's data lies in one kdump file. The pages (indices into {@link DumpedPages}, the pages present in
 * the dump: bitmap 1) fall into three classes, shared by the four kdump files of a dump ({@link GuestPages}):
 * <ul>
 *   <li>not dumped: present, but left out (bitmap 2 clear, no page descriptor). Unused today: {@link #dumped()} is
 *       every page until filtered files (makedumpfile's dump_level) exclude some;</li>
 *   <li>dumped as zero: the descriptor points at the one shared zero page; no data. Pages in holes of the core and
 *       all-zero pages;</li>
 *   <li>stored ({@link #stored()}): data of their own, compressed or raw, of the size this index keeps.</li>
 * </ul>
 * Page data follows the shared zero page in page order; the offset of a stored page is its chunk's data offset plus
 * the sizes of the stored pages before it in the chunk, at most 255 additions.
 *
 * <p>Memory: 2 bytes per stored page (its size: unsigned 16-bit; a raw 64 KiB page, ppc64's and arm64's large
 * pages, does not fit and is kept as {@link #RAW_64K}, see {@link #encode}), 8 bytes per chunk of
 * {@link #CHUNK_PAGES} pages that has stored pages, and the two {@link PageSet}s (40 bytes per such chunk, shared by
 * the four files); zero and absent pages cost nothing, however many. A 1 TiB guest holding 1.4 GB of data needs
 * about 0.8 MB per file.
 *
 * <p>Offsets here are relative to the first byte after the shared zero page. Immutable; thread-safe.
 *
 * <p>A chunk's <em>packed</em> bytes are its compressed pages' bytes, in page order ({@link #packedLength}): what the
 * chunk cache holds, since raw pages are read from the core again and zero pages store nothing.
 */
public final class KdumpIndex {

    /**
     * Pages per chunk: the unit of parallel compression, of caching and of recompression on a cache miss. 256 pages
     * (1 MiB of guest RAM) keep a miss cheap (about 2 ms of zlib) and the chunk table small (8 bytes per MiB).
     */
    public static final int CHUNK_PAGES = 256;
    /** Largest supported page size: 64 KiB, the largest page of arm64 and ppc64 kernels. */
    public static final int MAX_PAGE_SIZE = 65536;
    /**
     * The stored size of a raw 64 KiB page in {@code sizes}: 65536 is one more than a char holds. No 64 KiB page is
     * kept compressed to exactly this size ({@link ChunkCompressor} keeps such a page raw).
     */
    static final char RAW_64K = 0xFFFF;

    /** Version of {@link #writeTo}'s layout; part of the index key. */
    static final int FORMAT_VERSION = 2;

    private final int pageSize;
    private final PageSet dumped;
    private final PageSet stored;
    /** Stored size of each stored page, in page order: 1..pageSize (pageSize = raw). */
    private final char[] sizes;
    /** Data offset of each stored slot's first page; chunkStart[slots] = total. */
    private final long[] chunkStart;

    /**
     * @param dumped the pages with a descriptor (bitmap 2)
     * @param stored the dumped pages with data of their own, over as many pages
     * @param sizes  stored size of each stored page in order, 1..pageSize; taken, not copied
     * @throws IllegalArgumentException if they do not fit together
     */
    KdumpIndex(int pageSize, PageSet dumped, PageSet stored, char[] sizes) {
        if (pageSize > MAX_PAGE_SIZE) {
            throw new IllegalArgumentException("page size " + pageSize + " > " + MAX_PAGE_SIZE);
        }
        if (dumped.size() != stored.size() || sizes.length != stored.count()) {
            throw new IllegalArgumentException("sets over " + dumped.size() + " and " + stored.size() + " pages, "
                    + stored.count() + " stored but " + sizes.length + " sizes");
        }
        this.pageSize = pageSize;
        this.dumped = dumped;
        this.stored = stored;
        this.sizes = sizes;
        int slots = stored.slots();
        this.chunkStart = new long[slots + 1];
        long off = 0;
        for (int k = 0; k < slots; k++) {
            chunkStart[k] = off;
            for (int i = stored.membersBeforeSlot(k); i < stored.membersBeforeSlot(k + 1); i++) {
                int s = size(i);
                if (s == 0 || s > pageSize) {
                    throw new IllegalArgumentException("stored page " + i + ": size " + s + " not in 1.." + pageSize);
                }
                off += s;
            }
        }
        chunkStart[slots] = off;
        if (!dumped.isAll()) {
            checkSubset(stored, dumped);
        }
    }

    /**
     * Returns the index of a file that dumps every page, from each page's stored size ({@code sizes[p]}: 0 for a zero
     * page, else 1..pageSize).
     */
    static KdumpIndex ofPageSizes(int pageSize, char[] sizes) {
        int n = sizes.length;
        int chunkCount = PageSet.chunkCount(n);
        int[] chunks = new int[chunkCount];
        long[] masks = new long[chunkCount * PageSet.WORDS];
        int slots = 0;
        int storedCount = 0;
        for (int c = 0; c < chunkCount; c++) {
            boolean any = false;
            for (int p = c * CHUNK_PAGES; p < Math.min(n, (c + 1) * CHUNK_PAGES); p++) {
                if (sizes[p] != 0) {
                    int bit = p % CHUNK_PAGES;
                    masks[slots * PageSet.WORDS + (bit >>> 6)] |= 1L << bit;
                    any = true;
                    storedCount++;
                }
            }
            if (any) {
                chunks[slots++] = c;
            }
        }
        char[] packed = new char[storedCount];
        for (int p = 0, i = 0; p < n; p++) {
            if (sizes[p] != 0) {
                packed[i++] = sizes[p];
            }
        }
        return new KdumpIndex(pageSize, PageSet.all(n), PageSet.of(n, java.util.Arrays.copyOf(chunks, slots),
                java.util.Arrays.copyOf(masks, slots * PageSet.WORDS)), packed);
    }

    private static void checkSubset(PageSet sub, PageSet of) {
        for (int k = 0; k < sub.slots(); k++) {
            int c = sub.chunkOfSlot(k);
            int s = of.slotOf(c);
            for (int w = 0; w < PageSet.WORDS; w++) {
                if ((sub.slotWord(k, w) & ~(s < 0 ? 0 : of.slotWord(s, w))) != 0) {
                    throw new IllegalArgumentException("chunk " + c + " stores a page it does not dump");
                }
            }
        }
    }

    static int chunkCount(int pages) {
        return PageSet.chunkCount(pages);
    }

    public int pageSize() {
        return pageSize;
    }

    /** Returns the number of pages present (bitmap 1): what the sets are over. */
    public int pageCount() {
        return stored.size();
    }

    /** Returns the number of chunks of {@link #CHUNK_PAGES} present pages (the last may be shorter). */
    public int chunkCount() {
        return chunkCount(pageCount());
    }

    /** Returns the pages with a page descriptor (bitmap 2). */
    PageSet dumped() {
        return dumped;
    }

    /** Returns the pages with data of their own. */
    PageSet stored() {
        return stored;
    }

    /** Returns the stored size of the stored page with ordinal {@code ordinal} (its rank in {@link #stored()}). */
    int sizeOfStored(int ordinal) {
        return size(ordinal);
    }

    /** Returns the stored size of page {@code page}: 0 when it is not stored (zero page, or not dumped). O(log). */
    public int storedSize(int page) {
        return stored.contains(page) ? size(stored.rank(page)) : 0;
    }

    /** Returns {@code sizes[i]} as a size: {@link #RAW_64K} is a raw 64 KiB page. */
    private int size(int i) {
        char s = sizes[i];
        return s == RAW_64K && pageSize == 65536 ? 65536 : s;
    }

    /** Returns a stored size (1..pageSize) as {@code sizes} holds it. */
    static char encode(int stored) {
        return stored == 65536 ? RAW_64K : (char) stored;
    }

    /**
     * Returns the data offset of the stored page with ordinal {@code ordinal} ({@code <= stored().count()}; the
     * count gives the total) relative to the end of the zero page. O(log).
     */
    long dataOffsetOfStored(int ordinal) {
        if (ordinal >= stored.count()) {
            return totalData();
        }
        int slot = stored.slotOfMember(ordinal);
        long off = chunkStart[slot];
        for (int i = stored.membersBeforeSlot(slot); i < ordinal; i++) {
            off += size(i);
        }
        return off;
    }

    /** Returns the data offset of stored page {@code page} relative to the end of the zero page. O(log). */
    public long dataOffset(int page) {
        int slot = stored.slotOf(page / CHUNK_PAGES);
        if (slot < 0 || !stored.contains(page)) {
            throw new IllegalArgumentException("page " + page + " is not stored");
        }
        long off = chunkStart[slot];
        for (int i = stored.membersBeforeSlot(slot), end = stored.rank(page); i < end; i++) {
            off += size(i);
        }
        return off;
    }

    /**
     * Returns whether a page of stored size {@code stored} is kept compressed in the file: neither all zero (0) nor
     * raw (the page size, stored when compressing does not make it smaller).
     */
    public boolean isCompressed(int stored) {
        return stored != 0 && stored != pageSize;
    }

    /**
     * Returns the length of chunk {@code c}'s packed bytes: the sum of its compressed pages' stored sizes (0 for a
     * chunk without). Sums the chunk's sizes on every call, which keeps the index at 2 bytes per stored page.
     */
    public int packedLength(int c) {
        int slot = stored.slotOf(c);
        if (slot < 0) {
            return 0;
        }
        int n = 0;
        for (int i = stored.membersBeforeSlot(slot); i < stored.membersBeforeSlot(slot + 1); i++) {
            int s = size(i);
            if (isCompressed(s)) {
                n += s;
            }
        }
        return n;
    }

    /** Returns the relative data offset of stored slot {@code slot}'s first page; of {@code slots()}: the total. */
    long slotStart(int slot) {
        return chunkStart[slot];
    }

    /** Returns the total size of all stored pages' data. */
    public long totalData() {
        return chunkStart[chunkStart.length - 1];
    }

    /** Returns the stored slot whose data holds relative offset {@code rel}, {@code 0 <= rel < totalData()}. */
    int slotAt(long rel) {
        // slots hold at least one stored page each, so their starts strictly increase
        int lo = 0;
        int hi = chunkStart.length - 2;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (chunkStart[mid] <= rel) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /** Returns the chunk whose data holds relative offset {@code rel}, {@code 0 <= rel < totalData()}. */
    public int chunkAt(long rel) {
        return stored.chunkOfSlot(slotAt(rel));
    }

    /** Returns about how many bytes of heap the index takes: sizes, chunk table and both sets (which may be shared). */
    long heapBytes() {
        return 2L * sizes.length + 8L * chunkStart.length + dumped.heapBytes() + stored.heapBytes();
    }

    // ---------------------------------------------------------------- persisted form

    /**
     * Writes the index, little-endian:
     * <pre>
     * u32 format version, u32 page size, u32 pages per chunk, u32 present pages N
     * set dumped, set stored:  u32 chunks n (0xffffffff: every page), u32[n] chunk numbers, u64[4 n] masks
     * u16[stored count]        stored sizes
     * </pre>
     */
    void writeTo(WritableByteChannel out) throws IOException {
        ByteBuffer head = le(16).putInt(FORMAT_VERSION).putInt(pageSize).putInt(CHUNK_PAGES).putInt(pageCount());
        writeFully(out, head.flip());
        writeSet(out, dumped);
        writeSet(out, stored);
        ByteBuffer buf = le(BATCH);
        for (int i = 0; i < sizes.length; ) {
            int n = Math.min(BATCH / 2, sizes.length - i);
            buf.clear();
            buf.asCharBuffer().put(sizes, i, n);
            buf.limit(2 * n);
            writeFully(out, buf);
            i += n;
        }
    }

    /**
     * Reads an index {@link #writeTo} wrote, for a file of {@code pageCount} present pages of {@code pageSize} bytes.
     *
     * @throws CorruptIndexException if it is not such an index
     */
    static KdumpIndex readFrom(ReadableByteChannel in, int pageSize, int pageCount) throws IOException {
        ByteBuffer head = readFully(in, 16);
        if (head.getInt(0) != FORMAT_VERSION || head.getInt(4) != pageSize || head.getInt(8) != CHUNK_PAGES
                || head.getInt(12) != pageCount) {
            throw new CorruptIndexException("version/page size/chunk pages/pages " + head.getInt(0) + "/"
                    + head.getInt(4) + "/" + head.getInt(8) + "/" + head.getInt(12) + " do not match "
                    + FORMAT_VERSION + "/" + pageSize + "/" + CHUNK_PAGES + "/" + pageCount);
        }
        PageSet dumped = readSet(in, pageCount);
        PageSet stored = readSet(in, pageCount);
        char[] sizes = new char[stored.count()];
        for (int i = 0; i < sizes.length; ) {
            int n = Math.min(BATCH / 2, sizes.length - i);
            ByteBuffer b = readFully(in, 2 * n);
            b.asCharBuffer().get(sizes, i, n);
            i += n;
        }
        try {
            return new KdumpIndex(pageSize, dumped, stored, sizes);
        } catch (IllegalArgumentException e) {
            throw new CorruptIndexException(e.getMessage());
        }
    }

    /** I/O batch for sizes and masks: 1 MiB. */
    private static final int BATCH = 1 << 20;

    private static void writeSet(WritableByteChannel out, PageSet s) throws IOException {
        if (s.isAll()) {
            writeFully(out, le(4).putInt(-1).flip());
            return;
        }
        int[] chunks = s.chunksArray();
        long[] masks = s.masksArray();
        writeFully(out, le(4).putInt(chunks.length).flip());
        ByteBuffer buf = le(BATCH);
        for (int i = 0; i < chunks.length; ) {
            int n = Math.min(BATCH / 4, chunks.length - i);
            buf.clear();
            buf.asIntBuffer().put(chunks, i, n);
            buf.limit(4 * n);
            writeFully(out, buf);
            i += n;
        }
        for (int i = 0; i < masks.length; ) {
            int n = Math.min(BATCH / 8, masks.length - i);
            buf.clear();
            buf.asLongBuffer().put(masks, i, n);
            buf.limit(8 * n);
            writeFully(out, buf);
            i += n;
        }
    }

    private static PageSet readSet(ReadableByteChannel in, int pageCount) throws IOException {
        int n = readFully(in, 4).getInt(0);
        if (n == -1) {
            return PageSet.all(pageCount);
        }
        if (n < 0 || n > PageSet.chunkCount(pageCount)) {
            throw new CorruptIndexException("a set of " + n + " chunks over " + pageCount + " pages");
        }
        int[] chunks = new int[n];
        for (int i = 0; i < n; ) {
            int k = Math.min(BATCH / 4, n - i);
            readFully(in, 4 * k).asIntBuffer().get(chunks, i, k);
            i += k;
        }
        long[] masks = new long[n * PageSet.WORDS];
        for (int i = 0; i < masks.length; ) {
            int k = Math.min(BATCH / 8, masks.length - i);
            readFully(in, 8 * k).asLongBuffer().get(masks, i, k);
            i += k;
        }
        try {
            return PageSet.of(pageCount, chunks, masks);
        } catch (IllegalArgumentException e) {
            throw new CorruptIndexException(e.getMessage());
        }
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void writeFully(WritableByteChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            out.write(b);
        }
    }

    private static ByteBuffer readFully(ReadableByteChannel in, int n) throws IOException {
        ByteBuffer b = le(n);
        while (b.hasRemaining()) {
            if (in.read(b) < 0) {
                throw new EOFException("index ends early");
            }
        }
        return b.flip();
    }
}

package io.vmdumpfs.core.format.kdump;

/**
 * Where every page's data lies in a kdump file: the stored size of each dumped page, and the data offset of every
 * chunk of {@link #CHUNK_PAGES} pages (a prefix sum sampled every chunk). The offset of page {@code i} is its chunk's
 * offset plus the sizes of the pages before it in the chunk, at most 255 additions.
 *
 * <p>Memory: 2 bytes per page plus 8 bytes per chunk, about 2.03 bytes per 4 KiB guest page (128 MiB for a
 * 256 GiB guest). Sizes are unsigned 16-bit, so page sizes up to 32 KiB are supported: a raw page's size equals the
 * page size, an all-zero page has size 0 (it shares the one zero page).
 *
 * <p>Offsets here are relative to the first byte after the shared zero page. Immutable once built; thread-safe.
 *
 * <p>A chunk's <em>packed</em> bytes are only its compressed pages' bytes, in page order ({@link #packedLength}):
 * what the chunk cache holds, since raw pages are read from the core again and zero pages store nothing.
 */
public final class KdumpIndex {

    /**
     * Pages per chunk: the unit of parallel compression, of caching and of recompression on a cache miss. 256 pages
     * (1 MiB of guest RAM) keep a miss cheap (about 2 ms of zlib) and the chunk table small (8 bytes per MiB).
     */
    public static final int CHUNK_PAGES = 256;
    /** Largest supported page size: sizes are stored as unsigned 16-bit values. */
    public static final int MAX_PAGE_SIZE = 32768;

    private final int pageSize;
    private final char[] sizes;
    private final long[] chunkStart;

    /**
     * @param sizes stored size of each dumped page: 0 for all-zero pages, else 1..pageSize; taken, not copied
     * @throws IllegalArgumentException if a size exceeds the page size
     */
    KdumpIndex(int pageSize, char[] sizes) {
        if (pageSize > MAX_PAGE_SIZE) {
            throw new IllegalArgumentException("page size " + pageSize + " > " + MAX_PAGE_SIZE);
        }
        this.pageSize = pageSize;
        this.sizes = sizes;
        int chunks = chunkCount(sizes.length);
        this.chunkStart = new long[chunks + 1];
        long off = 0;
        for (int c = 0; c < chunks; c++) {
            chunkStart[c] = off;
            int end = Math.min(sizes.length, (c + 1) * CHUNK_PAGES);
            for (int i = c * CHUNK_PAGES; i < end; i++) {
                if (sizes[i] > pageSize) {
                    throw new IllegalArgumentException("page " + i + ": stored size " + (int) sizes[i]
                            + " > page size " + pageSize);
                }
                off += sizes[i];
            }
        }
        chunkStart[chunks] = off;
    }

    static int chunkCount(int pages) {
        return (pages + CHUNK_PAGES - 1) / CHUNK_PAGES;
    }

    public int pageSize() {
        return pageSize;
    }

    public int pageCount() {
        return sizes.length;
    }

    public int chunkCount() {
        return chunkStart.length - 1;
    }

    /** Returns the stored size of page {@code page}: 0 for an all-zero page, the page size for a raw page. */
    public int storedSize(int page) {
        return sizes[page];
    }

    /** Returns the data offset of {@code page} relative to the end of the zero page; meaningless for zero pages. */
    public long dataOffset(int page) {
        int c = page / CHUNK_PAGES;
        long off = chunkStart[c];
        for (int i = c * CHUNK_PAGES; i < page; i++) {
            off += sizes[i];
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
     * Returns the length of chunk {@code c}'s packed bytes: the sum of its compressed pages' stored sizes. Sums the
     * chunk's sizes on every call ({@link #CHUNK_PAGES} additions), which keeps the index at 2 bytes per page.
     */
    public int packedLength(int c) {
        int first = c * CHUNK_PAGES;
        int end = Math.min(sizes.length, first + CHUNK_PAGES);
        int n = 0;
        for (int i = first; i < end; i++) {
            if (isCompressed(sizes[i])) {
                n += sizes[i];
            }
        }
        return n;
    }

    /** Returns the relative offset of chunk {@code c}'s data; {@code chunkStart(chunkCount())} is the total. */
    public long chunkStart(int c) {
        return chunkStart[c];
    }

    /** Returns the total size of all non-zero pages' data. */
    public long totalData() {
        return chunkStart[chunkStart.length - 1];
    }

    /** Returns the chunk whose data holds relative offset {@code rel}, {@code 0 <= rel < totalData()}. */
    public int chunkAt(long rel) {
        // The last chunk starting at or before rel. Empty chunks (all pages zero) share their successor's start,
        // so the last such chunk is the non-empty one that really holds rel.
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

    /** Returns the sizes array for serialisation. Callers must not modify it. */
    char[] sizes() {
        return sizes;
    }
}

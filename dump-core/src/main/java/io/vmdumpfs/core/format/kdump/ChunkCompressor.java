package io.vmdumpfs.core.format.kdump;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Compresses the pages of one chunk of {@link KdumpIndex#CHUNK_PAGES} present pages that a mask names: decides each
 * page's stored size as QEMU dump.c {@code write_dump_pages()} does (the compressed size when compressing makes the
 * page smaller, else the page size: stored raw), and returns the chunk's <em>packed</em> bytes: the compressed
 * pages' bytes one after the other, nothing for raw pages.
 *
 * <p>When asked to classify, it also tells which of the pages read are all zero (those share the file's one zero
 * page and are not stored): the first index build of a dump reads every page not in a hole and learns that. Later
 * builds and recompressions name only the stored pages, and read nothing else.
 *
 * <p>Raw pages are left out of the packed bytes because they are already in the core: the file's reader copies them
 * from there, and the chunk cache keeps only bytes that cost a compression to make (on a busy guest most of the page
 * data is raw).
 *
 * <p>Used both by index builds and to recompute a chunk that fell out of the cache; both must produce the same
 * bytes. Not thread-safe (it owns buffers and a codec context): one per thread.
 */
final class ChunkCompressor implements AutoCloseable {

    private final DumpedPages pages;
    private final KdumpCodec.PageCompressor codec;
    private final int pageSize;
    /**
     * The chunk's pages as read. Direct: the core is read straight into it (a heap buffer would get them through a
     * hidden direct one, one more copy), and on an idle guest most pages are zero and never leave it.
     */
    private final ByteBuffer in;
    /** A second view of {@link #in}, positioned on the page being checked for zeros. */
    private final ByteBuffer check;
    private final ByteBuffer zeros;
    /** The page being compressed: the codecs take arrays. */
    private final byte[] page;
    private final byte[] out;
    private final byte[] pageOut;
    /** Stored size of each stored page of the last chunk compressed, in order. */
    private final int[] sizes = new int[KdumpIndex.CHUNK_PAGES];
    /** The pages of the last chunk that are stored. */
    private final long[] storedMask = new long[PageSet.WORDS];
    private int storedCount;

    ChunkCompressor(DumpedPages pages, KdumpCodec codec) {
        this.pages = pages;
        this.pageSize = pages.pageSize();
        this.codec = codec.newCompressor(pageSize);
        this.in = ByteBuffer.allocateDirect(KdumpIndex.CHUNK_PAGES * pageSize);
        this.check = in.duplicate();
        this.zeros = ByteBuffer.allocateDirect(pageSize);
        this.page = new byte[pageSize];
        this.out = new byte[KdumpIndex.CHUNK_PAGES * pageSize];
        this.pageOut = new byte[this.codec.outSize()];
    }

    /**
     * Compresses the pages of chunk {@code c} that {@code read} names; {@link #storedMask}, {@link #storedCount} and
     * {@link #storedSize} then tell which are stored and their sizes.
     *
     * @param read     {@link PageSet#WORDS} words: bit i = page {@code c * CHUNK_PAGES + i} is read
     * @param classify whether all-zero pages are left out (else every page read is stored)
     * @return the chunk's packed bytes, exactly sized: the compressed pages' bytes in page order
     * @throws io.vmdumpfs.core.BadCoreException if the core cannot be read
     */
    byte[] compress(int c, long[] read, boolean classify) {
        int first = c * KdumpIndex.CHUNK_PAGES;
        readPages(first, read);
        codec.startChunk();
        Arrays.fill(storedMask, 0);
        storedCount = 0;
        int n = 0;
        for (int w = 0; w < PageSet.WORDS; w++) {
            for (long m = read[w]; m != 0; m &= m - 1) {
                int i = 64 * w + Long.numberOfTrailingZeros(m);
                int off = i * pageSize;
                if (classify && check.limit(off + pageSize).position(off).mismatch(zeros) < 0) {
                    continue; // zero: shares the zero page
                }
                in.get(off, page);
                int k = codec.compressNext(page, 0, pageOut);
                int stored;
                // A 64 KiB page compressed to exactly 0xFFFF bytes is kept raw: the index reserves that size.
                if (k > 0 && k != KdumpIndex.RAW_64K) {
                    System.arraycopy(pageOut, 0, out, n, k);
                    n += k;
                    stored = k;
                } else {
                    stored = pageSize; // raw: served from the core, not packed
                }
                storedMask[w] |= 1L << (i & 63);
                sizes[storedCount++] = stored;
            }
        }
        return Arrays.copyOf(out, n);
    }

    /** Reads the pages {@code mask} names into their places in {@code in}: each run of them with one read. */
    private void readPages(int first, long[] mask) {
        int i = 0;
        while (i < KdumpIndex.CHUNK_PAGES) {
            if (!bit(mask, i)) {
                i++;
                continue;
            }
            int j = i + 1;
            while (j < KdumpIndex.CHUNK_PAGES && bit(mask, j)) {
                j++;
            }
            pages.read(first + i, 0, in.clear().position(i * pageSize), (j - i) * pageSize);
            i = j;
        }
    }

    private static boolean bit(long[] mask, int i) {
        return (mask[i >>> 6] & (1L << (i & 63))) != 0;
    }

    /** Returns the pages of the last chunk that are stored ({@link PageSet#WORDS} words; do not modify). */
    long[] storedMask() {
        return storedMask;
    }

    /** Returns the number of stored pages in the last chunk. */
    int storedCount() {
        return storedCount;
    }

    /** Returns the stored size of the {@code i}-th stored page (0-based within the chunk) of the last chunk. */
    int storedSize(int i) {
        return sizes[i];
    }

    @Override
    public void close() {
        codec.close();
    }
}

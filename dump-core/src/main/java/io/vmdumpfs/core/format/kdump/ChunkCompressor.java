package io.vmdumpfs.core.format.kdump;

import java.util.Arrays;

/**
 * Compresses one chunk of {@link KdumpIndex#CHUNK_PAGES} dumped pages: decides each page's stored size as QEMU
 * dump.c {@code write_dump_pages()} does (0 for an all-zero page, which points at the shared zero page; the
 * compressed size when compressing makes the page smaller; else the page size, stored raw), and returns the chunk's
 * <em>packed</em> bytes: the compressed pages' bytes one after the other, nothing for raw or zero pages.
 *
 * <p>Raw pages are left out because they are already in the core: the file's reader copies them from there, and the
 * chunk cache keeps only bytes that cost a compression to make (on a busy guest most of the page data is raw).
 *
 * <p>Used both by the index build and to recompute a chunk that fell out of the cache; both must produce the same
 * bytes. Not thread-safe (it owns buffers and a codec context): one per thread.
 */
final class ChunkCompressor implements AutoCloseable {

    private final DumpedPages pages;
    private final KdumpCodec.PageCompressor codec;
    private final int pageSize;
    private final byte[] in;
    private final byte[] out;
    private final byte[] pageOut;
    private final byte[] zeros;
    /** Stored size of each page of the last chunk compressed. */
    private final char[] sizes = new char[KdumpIndex.CHUNK_PAGES];
    private int count;

    ChunkCompressor(DumpedPages pages, KdumpCodec codec) {
        this.pages = pages;
        this.pageSize = pages.pageSize();
        this.codec = codec.newCompressor(pageSize);
        this.in = new byte[KdumpIndex.CHUNK_PAGES * pageSize];
        this.out = new byte[KdumpIndex.CHUNK_PAGES * pageSize];
        this.pageOut = new byte[this.codec.outSize()];
        this.zeros = new byte[pageSize];
    }

    /**
     * Compresses chunk {@code c}; {@link #storedSize} then tells each page's stored size.
     *
     * @return the chunk's packed bytes, exactly sized: the compressed pages' bytes in page order
     */
    byte[] compress(int c) {
        int first = c * KdumpIndex.CHUNK_PAGES;
        count = Math.min(KdumpIndex.CHUNK_PAGES, pages.pageCount() - first);
        pages.readPages(first, count, in);
        int n = 0;
        for (int p = 0; p < count; p++) {
            int off = p * pageSize;
            int stored;
            if (Arrays.mismatch(in, off, off + pageSize, zeros, 0, pageSize) < 0) {
                stored = 0;
            } else {
                int k = codec.compress(in, off, pageOut);
                if (k > 0) {
                    System.arraycopy(pageOut, 0, out, n, k);
                    n += k;
                    stored = k;
                } else {
                    stored = pageSize; // raw: served from the core, not packed
                }
            }
            sizes[p] = (char) stored;
        }
        return Arrays.copyOf(out, n);
    }

    /** Returns the number of pages in the last chunk compressed. */
    int pageCount() {
        return count;
    }

    /** Returns the stored size of page {@code p} (0-based within the chunk) of the last chunk compressed. */
    int storedSize(int p) {
        return sizes[p];
    }

    @Override
    public void close() {
        codec.close();
    }
}

package io.vmdumpfs.core.format.kdump;

import java.util.Arrays;

/**
 * Compresses one chunk of {@link KdumpIndex#CHUNK_PAGES} dumped pages into the bytes the kdump file stores for it:
 * the non-zero pages' data, one after the other, each compressed when that is smaller and raw otherwise
 * (QEMU dump.c {@code write_dump_pages()}). All-zero pages store nothing: they point at the shared zero page.
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
     * Compresses chunk {@code c}.
     *
     * @param sizes when not null, receives the stored size of each page of the chunk at its page index
     * @return the chunk's stored bytes, exactly sized
     */
    byte[] compress(int c, char[] sizes) {
        int first = c * KdumpIndex.CHUNK_PAGES;
        int count = Math.min(KdumpIndex.CHUNK_PAGES, pages.pageCount() - first);
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
                    stored = k;
                } else {
                    System.arraycopy(in, off, out, n, pageSize);
                    stored = pageSize;
                }
            }
            n += stored;
            if (sizes != null) {
                sizes[first + p] = (char) stored;
            }
        }
        return Arrays.copyOf(out, n);
    }

    @Override
    public void close() {
        codec.close();
    }
}

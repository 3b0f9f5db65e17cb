package io.vmdumpfs.cache.compressed;

import java.io.Closeable;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Writes a stream to a file sequentially, leaving every all-zero {@link #BLOCK}-byte block as a hole: the writer
 * seeks over it, and the file system allocates nothing there. A QEMU core is mostly zeros (guest RAM the guest never
 * touched, page-aligned padding), so its decompressed copy takes a fraction of its size on disk.
 *
 * <p>Blocks are aligned to the file offset, so callers should pass buffers whose lengths are multiples of
 * {@link #BLOCK} (except the last); an unaligned run is still written correctly, only with fewer holes. Not
 * thread-safe: one decompressing thread owns it.
 */
final class SparseWriter implements Closeable {

    /**
     * Hole granularity: the page size of x86_64 guests and the block size of ext4, xfs and btrfs by default, so a
     * zero block maps to exactly one unallocated file-system block.
     */
    static final int BLOCK = 4096;

    private static final byte[] ZEROS = new byte[BLOCK];

    private final RandomAccessFile file;
    private final FileChannel channel;
    private final long limitBytes;
    private long size;
    private long writtenBytes;

    /**
     * Opens {@code path} (which must exist, empty) for writing.
     *
     * @param limitBytes the most bytes the file may allocate (holes are free); {@link #write} throws
     *                   {@link LimitExceededException} rather than go past it
     */
    SparseWriter(Path path, long limitBytes) throws IOException {
        this.file = new RandomAccessFile(path.toFile(), "rw");
        this.channel = file.getChannel();
        this.limitBytes = limitBytes;
    }

    /** Thrown when the data would allocate more than the limit; nothing past the limit was written. */
    static final class LimitExceededException extends IOException {
        LimitExceededException(long limit) {
            super("more than " + limit + " bytes");
        }
    }

    /** Appends {@code len} bytes of {@code buf}, skipping all-zero blocks. */
    void write(byte[] buf, int off, int len) throws IOException {
        int runStart = -1;
        for (int i = 0; i < len; i += BLOCK) {
            int n = Math.min(BLOCK, len - i);
            boolean zero = Arrays.mismatch(buf, off + i, off + i + n, ZEROS, 0, n) < 0;
            if (zero && runStart >= 0) {
                flush(buf, off + runStart, i - runStart, size + runStart);
                runStart = -1;
            } else if (!zero && runStart < 0) {
                runStart = i;
            }
        }
        if (runStart >= 0) {
            flush(buf, off + runStart, len - runStart, size + runStart);
        }
        size += len;
    }

    private void flush(byte[] buf, int off, int len, long position) throws IOException {
        if (len > limitBytes - writtenBytes) {
            throw new LimitExceededException(limitBytes);
        }
        ByteBuffer b = ByteBuffer.wrap(buf, off, len);
        while (b.hasRemaining()) {
            channel.write(b, position + (b.position() - off));
        }
        writtenBytes += len;
    }

    /** Returns the bytes appended so far, holes included. */
    long size() {
        return size;
    }

    /** Returns the bytes actually written (the rest are holes). */
    long writtenBytes() {
        return writtenBytes;
    }

    /**
     * Sets the file length to {@link #size()} (a trailing zero run becomes a hole too) and forces the data to disk,
     * so that a crash after the caller's rename never leaves a cache file of the right size with lost blocks.
     */
    void finish() throws IOException {
        file.setLength(size);
        channel.force(false);
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}

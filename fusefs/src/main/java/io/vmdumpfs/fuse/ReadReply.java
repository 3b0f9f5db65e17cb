package io.vmdumpfs.fuse;

import com.kenai.jffi.MemoryIO;
import io.vmdumpfs.core.LibC;
import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.format.CoreSpan;
import io.vmdumpfs.core.format.View;

/**
 * The reply to one read_buf request: libfuse2's {@code struct fuse_bufvec} in malloc'd memory. Bytes that are a
 * verbatim copy of the core go out as descriptor buffers (libfuse splices them from the core's page cache into
 * /dev/fuse, so they never pass through user space or the JVM); bytes a view makes (headers, notes, compressed
 * pages) are read into malloc'd memory buffers. libfuse frees the vector and its memory buffers once it has replied
 * (fuse_free_buf), so everything is allocated with libc's malloc and handed over.
 *
 * <p>Layout, from fuse_common.h on LP64 (x86-64, arm64): {@code struct fuse_buf { size_t size; enum fuse_buf_flags
 * flags; void *mem; int fd; off_t pos; }} is 40 bytes (flags and fd padded to 8), and {@code struct fuse_bufvec {
 * size_t count; size_t idx; size_t off; struct fuse_buf buf[]; }} has a 24-byte head.
 *
 * <p>Limit: at most {@link #MAX_BUFFERS} buffers per reply; a read spanning more runs (many tiny blocks) gets the rest
 * as one memory buffer.
 */
final class ReadReply {

    static final int VEC_HEAD = 24;
    static final int BUF_SIZE = 40;
    private static final int SIZE = 0;
    private static final int FLAGS = 8;
    private static final int MEM = 16;
    private static final int FD = 24;
    private static final int POS = 32;

    /** fuse_buf_flags FUSE_BUF_IS_FD: the buffer is a descriptor, not memory (libfuse frees only memory buffers). */
    private static final int IS_FD = 1 << 1;
    /** IS_FD | FUSE_BUF_FD_SEEK (pread at pos) | FUSE_BUF_FD_RETRY (loop on short reads). */
    static final int FD_FLAGS = IS_FD | (1 << 2) | (1 << 3);

    /** A 128 KiB read meets at most a header and a few block boundaries; more than this is a pathological layout. */
    static final int MAX_BUFFERS = 16;

    private static final MemoryIO MEMORY = MemoryIO.getInstance();

    private ReadReply() {
    }

    /**
     * Builds the reply for {@code view}'s bytes [{@code offset}, {@code offset + length}) and returns the address of
     * its fuse_bufvec. Core runs are served from {@code core}'s descriptor when it has one and the core still holds
     * them (a core truncated since mount is read through the view instead, which fails with EIO like any other read).
     *
     * @param length the caller clamped it to the file; 0 (end of file) gives one empty memory buffer
     * @param core   the core the view's spans point into, or null to read everything through the view
     * @throws OutOfMemoryError when malloc fails (nothing is leaked)
     * @throws RuntimeException what the view throws (nothing is leaked)
     */
    static long build(View view, long offset, int length, CoreFile core, LibC libc) {
        long[] coreOffsets = new long[MAX_BUFFERS];
        long[] sizes = new long[MAX_BUFFERS];
        int fd = core == null ? -1 : core.descriptor();
        int count = plan(view, offset, length, fd < 0 ? null : core, coreOffsets, sizes);
        long vecBytes = VEC_HEAD + (long) BUF_SIZE * count;
        long vec = libc.malloc(vecBytes);
        if (vec == 0) {
            throw new OutOfMemoryError("malloc of a FUSE reply vector failed");
        }
        MEMORY.setMemory(vec, vecBytes, (byte) 0); // so a failure part-way frees only what was allocated
        try {
            MEMORY.putLong(vec, count); // idx and off stay 0
            long pos = offset;
            for (int i = 0; i < count; i++) {
                long buf = vec + VEC_HEAD + (long) BUF_SIZE * i;
                MEMORY.putLong(buf + SIZE, sizes[i]);
                if (coreOffsets[i] >= 0) {
                    MEMORY.putInt(buf + FLAGS, FD_FLAGS);
                    MEMORY.putInt(buf + FD, fd);
                    MEMORY.putLong(buf + POS, coreOffsets[i]);
                } else {
                    MEMORY.putInt(buf + FD, -1);
                    if (sizes[i] > 0) {
                        fill(view, pos, (int) sizes[i], buf, libc);
                    }
                }
                pos += sizes[i];
            }
        } catch (RuntimeException | Error e) {
            free(vec, count, libc);
            throw e;
        }
        for (int i = 0; i < count; i++) {
            if (coreOffsets[i] >= 0) {
                core.servedOnce(coreOffsets[i], sizes[i]);
            }
        }
        return vec;
    }

    /** Reads the view's {@code size} bytes at {@code pos} into a new malloc'd memory buffer of entry {@code buf}. */
    private static void fill(View view, long pos, int size, long buf, LibC libc) {
        long mem = libc.malloc(size);
        if (mem == 0) {
            throw new OutOfMemoryError("malloc of " + size + " bytes for a FUSE reply failed");
        }
        MEMORY.putLong(buf + MEM, mem); // set before reading, so that free() finds it if the read fails
        int got = Views.readFully(view, pos, MEMORY.newDirectByteBuffer(mem, size));
        if (got != size) {
            throw new IllegalStateException("view returned " + got + " of " + size + " bytes at " + pos
                    + " inside the file");
        }
    }

    /**
     * Splits the request into runs: adjacent made runs merge, as do core runs that follow each other in the core.
     * Returns the number of buffers.
     */
    private static int plan(View view, long offset, int length, CoreFile core, long[] coreOffsets,
            long[] sizes) {
        if (length == 0) {
            // An empty reply is one empty memory buffer: libfuse's simplest case (count 0 would make it allocate).
            coreOffsets[0] = -1;
            return 1;
        }
        long end = offset + length;
        long pos = offset;
        int count = 0;
        long coreEnd = 0;
        while (pos < end) {
            CoreSpan s = core != null && count < MAX_BUFFERS - 1 ? view.spanAt(pos, end - pos) : CoreSpan.made(end - pos);
            long size = Math.min(s.length(), end - pos);
            long at = s.coreOffset();
            if (count > 0 && at < 0 && coreOffsets[count - 1] < 0) {
                sizes[count - 1] += size;
            } else if (count > 0 && at >= 0 && coreOffsets[count - 1] >= 0
                    && coreOffsets[count - 1] + sizes[count - 1] == at) {
                sizes[count - 1] += size;
            } else {
                coreOffsets[count] = at;
                sizes[count] = size;
                count++;
            }
            if (at >= 0) {
                coreEnd = Math.max(coreEnd, at + size);
            }
            pos += size;
        }
        if (coreEnd > 0 && core.currentSize() < coreEnd) {
            // Truncated since mount: a splice would just stop short, which the kernel takes for end of file.
            coreOffsets[0] = -1;
            sizes[0] = length;
            return 1;
        }
        return count;
    }

    /** Frees a vector and the memory buffers among its first {@code buffers} entries (unset ones are null). */
    static void free(long vec, int buffers, LibC libc) {
        for (int i = 0; i < buffers; i++) {
            long buf = vec + VEC_HEAD + (long) BUF_SIZE * i;
            if ((MEMORY.getInt(buf + FLAGS) & IS_FD) == 0) {
                long mem = MEMORY.getLong(buf + MEM);
                if (mem != 0) {
                    libc.free(mem);
                }
            }
        }
        libc.free(vec);
    }
}

package io.vmdumpfs.core.format.kdump;

import java.nio.ByteBuffer;

/**
 * One page descriptor (makedumpfile diskdump_mod.h), one per dumped page in page frame order:
 *
 * <pre>
 * typedef struct page_desc {
 *     off_t              offset;      // 0  file offset of the page data
 *     unsigned int       size;        // 8  stored size; block_size when stored raw
 *     unsigned int       flags;       // 12 DUMP_DH_COMPRESSED_* of this page, 0 when raw
 *     unsigned long long page_flags;  // 16 0: we do not read struct page
 * } page_desc_t;                      // 24 bytes
 * </pre>
 */
public record PageDesc(long offset, int size, int flags, long pageFlags) {

    /** sizeof(page_desc_t). */
    public static final int SIZE = 24;

    /** Writes the descriptor at {@code index} of {@code b} (whose byte order is the target's). */
    public static void put(ByteBuffer b, int index, long offset, int size, int flags) {
        b.putLong(index, offset);
        b.putInt(index + 8, size);
        b.putInt(index + 12, flags);
        b.putLong(index + 16, 0);
    }

    /** Parses a descriptor at {@code index} of {@code b}. */
    public static PageDesc parse(ByteBuffer b, int index) {
        return new PageDesc(b.getLong(index), b.getInt(index + 8), b.getInt(index + 12), b.getLong(index + 16));
    }
}

package io.vmdumpfs.core.format.kdump;

import java.util.Arrays;

/**
 * A set of page indices in [0, {@link #size()}): which of a kdump file's pages have a page descriptor (bitmap 2:
 * dumped), or which of those have data of their own (stored: not the shared zero page). Pages are grouped in chunks
 * of {@link KdumpIndex#CHUNK_PAGES}; only chunks with at least one member cost memory, 40 bytes each (the chunk
 * number, a 256-bit mask, the members before it), so a run of absent pages costs nothing however long it is, and a
 * set of every page ({@link #all}) costs nothing at all.
 *
 * <p>Ranks ("how many members before page p") and selects ("the n-th member") are O(log chunks). Immutable and
 * thread-safe.
 */
final class PageSet {

    static final int CHUNK = KdumpIndex.CHUNK_PAGES;
    /** 64-bit words per chunk mask. */
    static final int WORDS = CHUNK / 64;

    private final int size;
    /** Chunks holding members, ascending; null when every page is a member. */
    private final int[] chunks;
    /** WORDS per listed chunk: bit b of word w is page chunk * CHUNK + 64 w + b. */
    private final long[] masks;
    /** Members before listed chunk i; before[chunks.length] = count. */
    private final int[] before;

    private PageSet(int size, int[] chunks, long[] masks) {
        this.size = size;
        this.chunks = chunks;
        this.masks = masks;
        if (chunks == null) {
            this.before = null;
            return;
        }
        this.before = new int[chunks.length + 1];
        for (int i = 0; i < chunks.length; i++) {
            int n = 0;
            for (int w = 0; w < WORDS; w++) {
                n += Long.bitCount(masks[i * WORDS + w]);
            }
            before[i + 1] = before[i] + n;
        }
    }

    /** Returns the set of all pages in [0, size). */
    static PageSet all(int size) {
        return new PageSet(checkSize(size), null, null);
    }

    /**
     * Returns the set whose members are given by chunk masks.
     *
     * @param chunks chunk numbers, strictly ascending, each below {@code chunkCount(size)}; taken, not copied
     * @param masks  {@link #WORDS} words per chunk, none all zero, no bit at or past {@code size}; taken, not copied
     * @throws IllegalArgumentException if they are not so
     */
    static PageSet of(int size, int[] chunks, long[] masks) {
        checkSize(size);
        if (masks.length != chunks.length * WORDS) {
            throw new IllegalArgumentException(chunks.length + " chunks but " + masks.length + " mask words");
        }
        int chunkCount = chunkCount(size);
        for (int i = 0; i < chunks.length; i++) {
            if (chunks[i] < 0 || chunks[i] >= chunkCount || i > 0 && chunks[i] <= chunks[i - 1]) {
                throw new IllegalArgumentException("chunk " + chunks[i] + " out of order or range (" + chunkCount + ")");
            }
            long any = 0;
            for (int w = 0; w < WORDS; w++) {
                any |= masks[i * WORDS + w];
            }
            if (any == 0) {
                throw new IllegalArgumentException("chunk " + chunks[i] + " has no member");
            }
        }
        if (chunks.length > 0 && chunks[chunks.length - 1] == chunkCount - 1) {
            int slot = chunks.length - 1;
            for (int w = 0; w < WORDS; w++) {
                if ((masks[slot * WORDS + w] & ~validBits(size, chunkCount - 1, w)) != 0) {
                    throw new IllegalArgumentException("member at or past the end (" + size + ")");
                }
            }
        }
        return new PageSet(size, chunks, masks);
    }

    private static int checkSize(int size) {
        if (size < 0) {
            throw new IllegalArgumentException("negative size " + size);
        }
        return size;
    }

    static int chunkCount(int size) {
        return (int) (((long) size + CHUNK - 1) / CHUNK);
    }

    /** Returns the bits of word {@code w} of chunk {@code chunk} that are pages below {@code size}. */
    private static long validBits(int size, int chunk, int w) {
        long first = (long) chunk * CHUNK + 64L * w;
        long n = size - first;
        return n >= 64 ? -1L : n <= 0 ? 0 : (1L << n) - 1;
    }

    /** Returns the number of pages the set is over. */
    int size() {
        return size;
    }

    /** Returns the number of members. */
    int count() {
        return chunks == null ? size : before[chunks.length];
    }

    /** Returns true when every page is a member (nothing stored per chunk). */
    boolean isAll() {
        return chunks == null;
    }

    /** Returns the number of chunks with at least one member ("slots"). */
    int slots() {
        return chunks == null ? chunkCount(size) : chunks.length;
    }

    /** Returns the chunk number of slot {@code slot}. */
    int chunkOfSlot(int slot) {
        return chunks == null ? slot : chunks[slot];
    }

    /** Returns the slot of chunk {@code chunk}, or -1 when it has no member. O(log slots). */
    int slotOf(int chunk) {
        if (chunks == null) {
            return chunk >= 0 && chunk < chunkCount(size) ? chunk : -1;
        }
        int i = Arrays.binarySearch(chunks, chunk);
        return i >= 0 ? i : -1;
    }

    /** Returns the members before slot {@code slot}'s chunk. */
    int membersBeforeSlot(int slot) {
        return chunks == null ? (int) Math.min(size, (long) slot * CHUNK) : before[slot];
    }

    /** Returns the members in slot {@code slot}'s chunk. */
    int membersInSlot(int slot) {
        return membersBeforeSlot(slot + 1) - membersBeforeSlot(slot);
    }

    /** Returns word {@code w} of slot {@code slot}'s mask. */
    long slotWord(int slot, int w) {
        return chunks == null ? validBits(size, slot, w) : masks[slot * WORDS + w];
    }

    /** Copies chunk {@code chunk}'s mask into {@code dst[0, WORDS)}: zeros when it has no member. */
    void chunkMask(int chunk, long[] dst) {
        int slot = slotOf(chunk);
        for (int w = 0; w < WORDS; w++) {
            dst[w] = slot < 0 ? 0 : slotWord(slot, w);
        }
    }

    /** Returns true when {@code page} is a member. */
    boolean contains(int page) {
        if (page < 0 || page >= size) {
            return false;
        }
        int slot = slotOf(page / CHUNK);
        int bit = page % CHUNK;
        return slot >= 0 && (slotWord(slot, bit >>> 6) & (1L << bit)) != 0;
    }

    /** Returns the number of members below {@code page} ({@code 0 <= page <= size}). */
    int rank(int page) {
        if (chunks == null) {
            return Math.min(Math.max(page, 0), size);
        }
        int chunk = page / CHUNK;
        int i = Arrays.binarySearch(chunks, chunk);
        if (i < 0) {
            return before[-i - 1];
        }
        int r = before[i];
        int bit = page % CHUNK;
        for (int w = 0; w < bit >>> 6; w++) {
            r += Long.bitCount(masks[i * WORDS + w]);
        }
        if ((bit & 63) != 0) {
            r += Long.bitCount(masks[i * WORDS + (bit >>> 6)] & ((1L << (bit & 63)) - 1));
        }
        return r;
    }

    /** Returns the smallest member at or after {@code page}, or -1 when there is none. O(log slots). */
    int nextMember(int page) {
        if (page < 0) {
            page = 0;
        }
        if (page >= size) {
            return -1;
        }
        if (chunks == null) {
            return page;
        }
        int chunk = page / CHUNK;
        int i = Arrays.binarySearch(chunks, chunk);
        int bit = page % CHUNK;
        if (i < 0) {
            i = -i - 1;
            bit = 0;
        }
        for (; i < chunks.length; i++, bit = 0) {
            for (int w = bit >>> 6; w < WORDS; w++) {
                long m = masks[i * WORDS + w];
                if (w == bit >>> 6) {
                    m &= -1L << (bit & 63);
                }
                if (m != 0) {
                    return chunks[i] * CHUNK + 64 * w + Long.numberOfTrailingZeros(m);
                }
            }
        }
        return -1;
    }

    /** Returns the slot that holds member number {@code ordinal} ({@code 0 <= ordinal < count()}). */
    int slotOfMember(int ordinal) {
        if (chunks == null) {
            return ordinal / CHUNK;
        }
        // the last slot with before[slot] <= ordinal
        int lo = 0;
        int hi = chunks.length - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (before[mid] <= ordinal) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /** Returns the page that is member number {@code ordinal} ({@code 0 <= ordinal < count()}). */
    int select(int ordinal) {
        if (ordinal < 0 || ordinal >= count()) {
            throw new IndexOutOfBoundsException("member " + ordinal + " of " + count());
        }
        if (chunks == null) {
            return ordinal;
        }
        int slot = slotOfMember(ordinal);
        int left = ordinal - before[slot];
        for (int w = 0; ; w++) {
            long m = masks[slot * WORDS + w];
            int n = Long.bitCount(m);
            if (left < n) {
                for (int k = 0; k < left; k++) {
                    m &= m - 1; // clear the lowest set bit
                }
                return chunks[slot] * CHUNK + 64 * w + Long.numberOfTrailingZeros(m);
            }
            left -= n;
        }
    }

    /** Returns about how many bytes of heap the set takes (its arrays). */
    long heapBytes() {
        return chunks == null ? 0 : 4L * chunks.length + 8L * masks.length + 4L * before.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PageSet s && s.size == size && Arrays.equals(s.chunks, chunks)
                && Arrays.equals(s.masks, masks);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * size + Arrays.hashCode(chunks)) + Arrays.hashCode(masks);
    }

    /** Returns the chunk numbers for serialisation, or null for {@link #all}. Callers must not modify it. */
    int[] chunksArray() {
        return chunks;
    }

    /** Returns the masks for serialisation, or null for {@link #all}. Callers must not modify it. */
    long[] masksArray() {
        return masks;
    }
}

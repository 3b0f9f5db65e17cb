package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import java.nio.BufferOverflowException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The guest pages present in a kdump file, in page frame number (pfn) order: every page that any
 * {@link GuestPhysBlock} touches, as QEMU's {@code get_next_page()} walks them. The {@code i}-th present page is the
 * {@code i}-th set bit of the first bitmap; while every present page is dumped (no filtering, see
 * {@link KdumpIndex#dumped()}) it is also the {@code i}-th set bit of the second and has the {@code i}-th page
 * descriptor.
 *
 * <p>Bytes of a page that lie outside every block (a block that starts or ends inside a page) read as zeros; pages
 * in holes between blocks are not present and their bits stay clear in both bitmaps, so crash treats them as not RAM.
 *
 * <p>Limits: at most {@link Integer#MAX_VALUE} present pages (8 TiB of 4 KiB pages), because pages are numbered with
 * ints ({@link PageSet}, {@link KdumpIndex}). Memory: 24 bytes per run of consecutive pfns. Immutable and
 * thread-safe.
 */
final class DumpedPages {

    private final GuestMemory memory;
    private final int pageSize;
    private final int pageShift;
    /** Merged runs of dumped pfns: [runStartPfn[r], runEndPfn[r]), sorted, not touching. */
    private final long[] runStartPfn;
    private final long[] runEndPfn;
    /** Index of the first dumped page of run r; runFirstPage[runs] = pageCount. */
    private final long[] runFirstPage;
    /** Block starts, for finding the next block after a hole. */
    private final long[] blockStarts;

    DumpedPages(GuestMemory memory, int pageSize) {
        if (Integer.bitCount(pageSize) != 1 || pageSize < 512) {
            throw new IllegalArgumentException("page size " + pageSize + " is not a power of two >= 512");
        }
        this.memory = memory;
        this.pageSize = pageSize;
        this.pageShift = Integer.numberOfTrailingZeros(pageSize);
        List<long[]> runs = new ArrayList<>();
        for (GuestPhysBlock b : memory.blocks()) {
            long start = b.guestPaddrStart() >>> pageShift;
            long end = ((b.guestPaddrEnd() - 1) >>> pageShift) + 1; // round up without overflowing at 2^64
            long[] last = runs.isEmpty() ? null : runs.get(runs.size() - 1);
            if (last != null && start <= last[1]) {
                last[1] = Math.max(last[1], end); // a page shared by two blocks is dumped once
            } else {
                runs.add(new long[] {start, end});
            }
        }
        int n = runs.size();
        runStartPfn = new long[n];
        runEndPfn = new long[n];
        runFirstPage = new long[n + 1];
        for (int r = 0; r < n; r++) {
            runStartPfn[r] = runs.get(r)[0];
            runEndPfn[r] = runs.get(r)[1];
            runFirstPage[r + 1] = runFirstPage[r] + (runEndPfn[r] - runStartPfn[r]);
        }
        if (runFirstPage[n] > Integer.MAX_VALUE) {
            throw new BadCoreException(Kind.UNSUPPORTED, memory.core().path(),
                    "guest has " + runFirstPage[n] + " pages; kdump files are limited to " + Integer.MAX_VALUE);
        }
        blockStarts = memory.blocks().stream().mapToLong(GuestPhysBlock::guestPaddrStart).toArray();
    }

    GuestMemory memory() {
        return memory;
    }

    int pageSize() {
        return pageSize;
    }

    /** Returns the number of dumped pages (set bits in each bitmap, page descriptors). */
    int pageCount() {
        return (int) runFirstPage[runFirstPage.length - 1];
    }

    /** Returns max_mapnr: one past the highest dumped pfn (QEMU: pfn of the last block's end, rounded up). */
    long maxMapnr() {
        return runEndPfn.length == 0 ? 0 : runEndPfn[runEndPfn.length - 1];
    }

    /** Returns the pfn of dumped page {@code page}. */
    long pfnOf(long page) {
        int r = runOfPage(page);
        return runStartPfn[r] + (page - runFirstPage[r]);
    }

    /** Returns the page whose pfn is {@code pfn}, or -1 when that pfn is not present. */
    long pageOf(long pfn) {
        int r = firstRunEndingAfter(pfn);
        return r < runStartPfn.length && runStartPfn[r] <= pfn ? runFirstPage[r] + (pfn - runStartPfn[r]) : -1;
    }

    private int runOfPage(long page) {
        // runs are never empty, so run starts are strictly increasing
        int i = Arrays.binarySearch(runFirstPage, 0, runStartPfn.length, page);
        return i >= 0 ? i : -i - 2;
    }

    /**
     * Fills {@code dst[off, off + len)} with bitmap bytes {@code [byteOffset, byteOffset + len)}: bit {@code n & 7}
     * of byte {@code n >> 3} is set when pfn {@code n} is dumped (crash diskdump.c {@code page_is_ram()}).
     */
    void fillBitmap(long byteOffset, byte[] dst, int off, int len) {
        Arrays.fill(dst, off, off + len, (byte) 0);
        long pfnLo = byteOffset << 3;
        long pfnHi = (byteOffset + len) << 3;
        int r = firstRunEndingAfter(pfnLo);
        for (; r < runStartPfn.length && runStartPfn[r] < pfnHi; r++) {
            long a = Math.max(runStartPfn[r], pfnLo) - pfnLo;
            long b = Math.min(runEndPfn[r], pfnHi) - pfnLo;
            // head bits up to a byte boundary, whole bytes, tail bits
            while (a < b && (a & 7) != 0) {
                dst[off + (int) (a >>> 3)] |= (byte) (1 << (a & 7));
                a++;
            }
            if (b - a >= 8) {
                int from = off + (int) (a >>> 3);
                int to = off + (int) (b >>> 3);
                Arrays.fill(dst, from, to, (byte) 0xFF);
                a = b & ~7L;
            }
            while (a < b) {
                dst[off + (int) (a >>> 3)] |= (byte) (1 << (a & 7));
                a++;
            }
        }
    }

    /**
     * Fills {@code dst[off, off + len)} like {@link #fillBitmap(long, byte[], int, int)}, with only the pages of
     * {@code subset} set (the second bitmap: pages dumped).
     */
    void fillBitmap(long byteOffset, byte[] dst, int off, int len, PageSet subset) {
        if (subset.isAll()) {
            fillBitmap(byteOffset, dst, off, len);
            return;
        }
        Arrays.fill(dst, off, off + len, (byte) 0);
        long pfnLo = byteOffset << 3;
        long pfnHi = (byteOffset + len) << 3;
        for (int r = firstRunEndingAfter(pfnLo); r < runStartPfn.length && runStartPfn[r] < pfnHi; r++) {
            long firstPage = runFirstPage[r] + (Math.max(runStartPfn[r], pfnLo) - runStartPfn[r]);
            long endPage = runFirstPage[r] + (Math.min(runEndPfn[r], pfnHi) - runStartPfn[r]);
            for (int p = subset.nextMember((int) firstPage); p >= 0 && p < endPage; p = subset.nextMember(p + 1)) {
                long bit = runStartPfn[r] + (p - runFirstPage[r]) - pfnLo;
                dst[off + (int) (bit >>> 3)] |= (byte) (1 << (bit & 7));
            }
        }
    }

    /**
     * Calls {@code action} with each run of present pages {@code [firstPage, endPage)} whose pfns lie in
     * {@code [startPfn, endPfn)}, in order.
     */
    void forEachPageRun(long startPfn, long endPfn, PageRunAction action) {
        for (int r = firstRunEndingAfter(startPfn); r < runStartPfn.length && runStartPfn[r] < endPfn; r++) {
            long first = runFirstPage[r] + (Math.max(runStartPfn[r], startPfn) - runStartPfn[r]);
            long end = runFirstPage[r] + (Math.min(runEndPfn[r], endPfn) - runStartPfn[r]);
            action.run((int) first, (int) end);
        }
    }

    /** Receives a run of present pages. */
    @FunctionalInterface
    interface PageRunAction {
        void run(int firstPage, int endPage);
    }

    /**
     * Returns a test of "is this pfn present" for one thread: it remembers the last run it found, so a walk in pfn
     * order costs one comparison per pfn.
     */
    java.util.function.LongPredicate presence() {
        return new java.util.function.LongPredicate() {
            private int run = -1;

            @Override
            public boolean test(long pfn) {
                if (run >= 0 && runStartPfn[run] <= pfn && pfn < runEndPfn[run]) {
                    return true;
                }
                int r = firstRunEndingAfter(pfn);
                if (r < runStartPfn.length && runStartPfn[r] <= pfn) {
                    run = r;
                    return true;
                }
                return false;
            }
        };
    }

    private int firstRunEndingAfter(long pfn) {
        int lo = 0;
        int hi = runEndPfn.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (runEndPfn[mid] > pfn) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
    }

    /**
     * Reads dumped pages {@code [firstPage, firstPage + count)} into {@code dst} from index 0, one page after the
     * other; bytes outside every block are zero.
     *
     * @throws BadCoreException if the core cannot be read
     */
    void readPages(long firstPage, int count, byte[] dst) {
        readPages(firstPage, count, dst, 0);
    }

    /** Reads dumped pages {@code [firstPage, firstPage + count)} into {@code dst} from index {@code dstOff}. */
    void readPages(long firstPage, int count, byte[] dst, int dstOff) {
        read(firstPage, 0, ByteBuffer.wrap(dst, dstOff, count << pageShift), count << pageShift);
    }

    /**
     * Reads {@code len} bytes of the dumped pages, as if they were concatenated, starting at byte
     * {@code offsetInPage} of page {@code page}, into {@code dst} at its position (which advances by {@code len}).
     * Bytes outside every block are zero. The kdump file serves its raw pages this way, straight from the core into
     * the reader's buffer.
     *
     * @throws BadCoreException if the core cannot be read
     * @throws IllegalArgumentException if the bytes run past the last dumped page
     * @throws BufferOverflowException if {@code dst} has less than {@code len} bytes of room
     */
    void read(long page, int offsetInPage, ByteBuffer dst, int len) {
        long start = (page << pageShift) + offsetInPage; // in the concatenation of dumped pages
        if (page < 0 || offsetInPage < 0 || len < 0 || start + len > ((long) pageCount() << pageShift)) {
            throw new IllegalArgumentException("bytes [" + start + ", " + (start + len) + ") of the dumped pages");
        }
        if (dst.remaining() < len) {
            throw new BufferOverflowException();
        }
        page = start >>> pageShift;
        int within = (int) (start & (pageSize - 1));
        int oldLimit = dst.limit();
        try {
            while (len > 0) {
                int r = runOfPage(page);
                long pfn = runStartPfn[r] + (page - runFirstPage[r]);
                // bytes contiguous in guest-physical space: up to the end of this run of pfns
                long runBytes = ((runFirstPage[r + 1] - page) << pageShift) - within;
                int n = (int) Math.min(len, runBytes);
                dst.limit(dst.position() + n);
                readPaddr((pfn << pageShift) + within, dst);
                len -= n;
                long next = (page << pageShift) + within + n;
                page = next >>> pageShift;
                within = (int) (next & (pageSize - 1));
            }
        } finally {
            dst.limit(oldLimit);
        }
    }

    /** Fills {@code dst} up to its limit from guest-physical {@code paddr} on, zeros where no block is. */
    private void readPaddr(long paddr, ByteBuffer dst) {
        while (dst.hasRemaining()) {
            int len = dst.remaining();
            int b = memory.blockIndexOf(paddr);
            int n;
            if (b >= 0) {
                n = memory.read(paddr, dst);
            } else {
                // a hole inside a partially covered page: zeros up to the next block or the end of the request
                int next = nextBlockAfter(paddr);
                long gap = next < 0 ? len : Long.compareUnsigned(blockStarts[next] - paddr, len) < 0
                        ? blockStarts[next] - paddr : len;
                n = (int) gap;
                putZeros(dst, n);
            }
            paddr += n;
        }
    }

    private static void putZeros(ByteBuffer dst, int n) {
        if (dst.hasArray()) {
            int at = dst.arrayOffset() + dst.position();
            Arrays.fill(dst.array(), at, at + n, (byte) 0);
            dst.position(dst.position() + n);
        } else {
            for (int i = 0; i < n; i++) {
                dst.put((byte) 0);
            }
        }
    }

    private int nextBlockAfter(long paddr) {
        for (int lo = 0, hi = blockStarts.length; ; ) {
            if (lo >= hi) {
                return lo < blockStarts.length ? lo : -1;
            }
            int mid = (lo + hi) >>> 1;
            if (Long.compareUnsigned(blockStarts[mid], paddr) > 0) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
    }
}

package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.elf.DataRuns;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The guest's physical memory as a sorted list of {@link GuestPhysBlock}s over the core file. Reads go straight to
 * the core at the block's file offset; nothing is copied at open. Where the core file has holes
 * ({@link CoreFile#dataRuns()}), guest RAM reads as zeros without I/O: {@link #dataRuns()} and {@link #isHole} let a
 * scan of guest RAM skip those parts. Thread-safe and immutable.
 *
 * <p>The blocks cover exactly what the core holds. Guest RAM QEMU had but the core does not (a truncated file, a
 * mapping without data) is listed in {@link #absent()} and in no block, so every format leaves it out as it leaves
 * out the holes between RAM ranges: absent memory is never served as zeros. (A hole in the core file is the
 * opposite: the writer did not store zeros it knew, so it is RAM, in a block, read as zeros.) A guest page only partly
 * held is absent as a whole once {@link #withWholePages} has been applied.
 */
public final class GuestMemory {

    /**
     * A run of guest-physical addresses, [guestPaddrStart, guestPaddrEnd).
     *
     * @param guestPaddrStart first address
     * @param guestPaddrEnd   end, exclusive (an end of 2^64 reads as 0)
     */
    public record Range(long guestPaddrStart, long guestPaddrEnd) {
    }

    private final CoreFile core;
    private final List<GuestPhysBlock> blocks;
    private final List<AbsentRange> absent;
    private final long[] starts;

    /**
     * A complete guest: every byte of guest RAM is in a block.
     *
     * @param blocks sorted by guest-physical address, not overlapping; each must lie inside the core file
     */
    public GuestMemory(CoreFile core, List<GuestPhysBlock> blocks) {
        this(core, blocks, List.of());
    }

    /**
     * A guest whose RAM the core holds in {@code blocks} and lacks in {@code absent}.
     *
     * @param blocks sorted by guest-physical address, not overlapping; each must lie inside the core file
     * @param absent sorted by guest-physical address, overlapping neither each other nor a block
     */
    public GuestMemory(CoreFile core, List<GuestPhysBlock> blocks, List<AbsentRange> absent) {
        this.core = core;
        this.blocks = List.copyOf(blocks);
        this.absent = List.copyOf(absent);
        this.starts = new long[blocks.size()];
        for (int i = 0; i < blocks.size(); i++) {
            GuestPhysBlock b = blocks.get(i);
            if (i > 0 && Long.compareUnsigned(blocks.get(i - 1).guestPaddrEnd(), b.guestPaddrStart()) > 0) {
                throw new IllegalArgumentException("blocks overlap or are unsorted at index " + i);
            }
            if (b.fileOffset() < 0 || b.fileOffset() > core.size() || core.size() - b.fileOffset() < b.size()) {
                throw new BadCoreException(Kind.CORRUPT, core.path(), "block " + i + " (" + b.name()
                        + ") lies outside the core file");
            }
            starts[i] = b.guestPaddrStart();
        }
        for (int i = 0; i < this.absent.size(); i++) {
            AbsentRange a = this.absent.get(i);
            if (i > 0 && Long.compareUnsigned(this.absent.get(i - 1).guestPaddrEnd(), a.guestPaddrStart()) > 0) {
                throw new IllegalArgumentException("absent ranges overlap or are unsorted at index " + i);
            }
            int b = blockIndexOf(a.guestPaddrStart());
            int next = firstBlockAfter(a.guestPaddrStart());
            if (b >= 0 || (next >= 0 && Long.compareUnsigned(starts[next], a.guestPaddrEnd()) < 0)) {
                throw new IllegalArgumentException("absent range 0x" + Long.toHexString(a.guestPaddrStart())
                        + " overlaps a block");
            }
        }
    }

    public CoreFile core() {
        return core;
    }

    public List<GuestPhysBlock> blocks() {
        return blocks;
    }

    /** Returns the sum of all block sizes: the guest RAM the core holds. */
    public long totalBytes() {
        long t = 0;
        for (GuestPhysBlock b : blocks) {
            t += b.size();
        }
        return t;
    }

    /** Returns the guest RAM QEMU had but the core does not hold, sorted by guest-physical address. */
    public List<AbsentRange> absent() {
        return absent;
    }

    /** Returns the sum of the absent ranges' sizes. */
    public long absentBytes() {
        long t = 0;
        for (AbsentRange a : absent) {
            t += a.size();
        }
        return t;
    }

    /** Returns true when some guest RAM is absent from the core. */
    public boolean isPartial() {
        return !absent.isEmpty();
    }

    /**
     * Returns this memory with every guest page of {@code pageSize} that is partly absent made absent as a whole:
     * the absent ranges grow to page boundaries and the blocks give those bytes up. A page is what readers ask for
     * (crash's bitmap bit, a kdump page descriptor), and a page half of whose bytes would be invented is not one to
     * serve. Returns this when nothing is absent.
     *
     * @param pageSize the guest's page size, a power of two
     */
    public GuestMemory withWholePages(int pageSize) {
        if (absent.isEmpty()) {
            return this;
        }
        if (Integer.bitCount(pageSize) != 1) {
            throw new IllegalArgumentException("page size " + pageSize + " is not a power of two");
        }
        long mask = pageSize - 1L;
        List<AbsentRange> wide = new ArrayList<>();
        for (AbsentRange a : absent) {
            long lo = a.guestPaddrStart() & ~mask;
            long hi = (a.guestPaddrEnd() + mask) & ~mask;
            if (Long.compareUnsigned(hi, a.guestPaddrEnd()) < 0) {
                hi = a.guestPaddrEnd(); // the address space's last page: no boundary above it to round to
            }
            AbsentRange last = wide.isEmpty() ? null : wide.get(wide.size() - 1);
            if (last != null && Long.compareUnsigned(last.guestPaddrEnd(), lo) > 0) {
                // two absent ranges in one page (a block's few bytes between them go too)
                if (Long.compareUnsigned(hi, last.guestPaddrEnd()) <= 0) {
                    continue;
                }
                lo = last.guestPaddrEnd();
            }
            wide.add(a.slice(lo, hi));
        }
        List<GuestPhysBlock> kept = new ArrayList<>();
        int j = 0;
        for (GuestPhysBlock b : blocks) {
            while (j < wide.size() && Long.compareUnsigned(wide.get(j).guestPaddrEnd(), b.guestPaddrStart()) <= 0) {
                j++;
            }
            long cur = b.guestPaddrStart();
            for (int k = j; k < wide.size(); k++) {
                AbsentRange a = wide.get(k);
                if (Long.compareUnsigned(a.guestPaddrStart(), b.guestPaddrEnd()) >= 0) {
                    break;
                }
                if (Long.compareUnsigned(a.guestPaddrStart(), cur) > 0) {
                    kept.add(slice(b, cur, a.guestPaddrStart()));
                }
                if (Long.compareUnsigned(a.guestPaddrEnd(), cur) > 0) {
                    cur = a.guestPaddrEnd();
                }
            }
            if (Long.compareUnsigned(cur, b.guestPaddrEnd()) < 0) {
                kept.add(slice(b, cur, b.guestPaddrEnd()));
            }
        }
        return new GuestMemory(core, kept, wide);
    }

    private static GuestPhysBlock slice(GuestPhysBlock b, long from, long to) {
        long delta = from - b.guestPaddrStart();
        return new GuestPhysBlock(from, to, b.hostVaddr() + delta, b.fileOffset() + delta, b.name());
    }

    /** Returns the index of the block holding {@code guestPaddr}, or -1. O(log n). */
    public int blockIndexOf(long guestPaddr) {
        int lo = 0;
        int hi = starts.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (Long.compareUnsigned(starts[mid], guestPaddr) <= 0) {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return hi >= 0 && blocks.get(hi).contains(guestPaddr) ? hi : -1;
    }

    /**
     * Reads guest-physical memory at {@code guestPaddr} into {@code dst}, stopping at the end of the block that
     * holds it (so callers can loop across holes).
     *
     * @return bytes read, at least 1 when dst has room
     * @throws IllegalArgumentException when {@code guestPaddr} is not guest RAM
     */
    public int read(long guestPaddr, ByteBuffer dst) {
        int i = blockIndexOf(guestPaddr);
        if (i < 0) {
            throw new IllegalArgumentException("guest-physical 0x" + Long.toHexString(guestPaddr) + " is not RAM");
        }
        GuestPhysBlock b = blocks.get(i);
        long within = guestPaddr - b.guestPaddrStart();
        int n = (int) Math.min(dst.remaining(), b.size() - within);
        int oldLimit = dst.limit();
        dst.limit(dst.position() + n);
        try {
            core.readFully(b.fileOffset() + within, dst);
        } finally {
            dst.limit(oldLimit);
        }
        return n;
    }

    /**
     * Returns the runs of guest RAM whose bytes the core file holds as data, sorted, in guest-physical order; the rest
     * of every block lies in holes of the core and reads as zeros. Runs of adjacent blocks that touch are merged. The
     * first call may take a moment on a big sparse core (two lseek calls per run of data in the file).
     */
    public List<Range> dataRuns() {
        DataRuns file = core.dataRuns();
        List<Range> out = new ArrayList<>();
        for (GuestPhysBlock b : blocks) {
            long fileEnd = b.fileOffset() + b.size();
            for (int r = file.firstRunEndingAfter(b.fileOffset()); r < file.runCount() && file.start(r) < fileEnd; r++) {
                long from = b.guestPaddrStart() + (Math.max(file.start(r), b.fileOffset()) - b.fileOffset());
                long to = b.guestPaddrStart() + (Math.min(file.end(r), fileEnd) - b.fileOffset());
                Range last = out.isEmpty() ? null : out.get(out.size() - 1);
                if (last != null && last.guestPaddrEnd() == from) {
                    out.set(out.size() - 1, new Range(last.guestPaddrStart(), to));
                } else {
                    out.add(new Range(from, to));
                }
            }
        }
        return out;
    }

    /**
     * Returns true when no byte of [{@code guestPaddr}, {@code guestPaddr + length}) is data in the core: each lies
     * in no block or in a hole of the core file, so the range reads as zeros and need not be read. O(log n) per block
     * the range touches.
     */
    public boolean isHole(long guestPaddr, long length) {
        if (length <= 0) {
            return true;
        }
        DataRuns file = core.dataRuns();
        long last = guestPaddr + length - 1; // inclusive: a range may end at 2^64
        int i = blockIndexOf(guestPaddr);
        if (i < 0) {
            i = firstBlockAfter(guestPaddr);
        }
        for (; i >= 0 && i < blocks.size() && Long.compareUnsigned(blocks.get(i).guestPaddrStart(), last) <= 0; i++) {
            GuestPhysBlock b = blocks.get(i);
            long from = Long.compareUnsigned(guestPaddr, b.guestPaddrStart()) > 0 ? guestPaddr : b.guestPaddrStart();
            long blockLast = b.guestPaddrEnd() - 1;
            long to = Long.compareUnsigned(last, blockLast) < 0 ? last : blockLast;
            if (!file.isHole(b.fileOffset() + (from - b.guestPaddrStart()), to - from + 1)) {
                return false;
            }
        }
        return true;
    }

    private int firstBlockAfter(long guestPaddr) {
        int lo = 0;
        int hi = starts.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (Long.compareUnsigned(starts[mid], guestPaddr) > 0) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo < starts.length ? lo : -1;
    }

    /** Returns the guest-physical holes between blocks, as [start, end) pairs; used by formats that map them. */
    public List<long[]> holes() {
        List<long[]> out = new ArrayList<>();
        for (int i = 1; i < blocks.size(); i++) {
            long end = blocks.get(i - 1).guestPaddrEnd();
            long start = blocks.get(i).guestPaddrStart();
            if (end != start) {
                out.add(new long[] {end, start});
            }
        }
        return out;
    }
}

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
    private final long[] starts;

    /**
     * @param blocks sorted by guest-physical address, not overlapping; each must lie inside the core file
     */
    public GuestMemory(CoreFile core, List<GuestPhysBlock> blocks) {
        this.core = core;
        this.blocks = List.copyOf(blocks);
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
    }

    public CoreFile core() {
        return core;
    }

    public List<GuestPhysBlock> blocks() {
        return blocks;
    }

    /** Returns the sum of all block sizes. */
    public long totalBytes() {
        long t = 0;
        for (GuestPhysBlock b : blocks) {
            t += b.size();
        }
        return t;
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

package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.CoreFile;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The guest's physical memory as a sorted list of {@link GuestPhysBlock}s over the core file. Reads go straight to
 * the core at the block's file offset; nothing is copied at open. Thread-safe and immutable.
 */
public final class GuestMemory {

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

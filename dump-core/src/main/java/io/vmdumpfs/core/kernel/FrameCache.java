package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.guest.GuestMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * {@link PhysReader#caching}: the last {@link #SLOTS} 4 KiB guest-physical frames read, replaced round-robin. A page
 * table walk touches one frame per level, so eight slots keep every level of a 5-level walk plus the frames of a
 * neighbouring walk. Not thread-safe: one per thread.
 */
final class FrameCache implements PhysReader {

    /** Bytes per cached frame: the smallest page of every architecture we walk, and x86_64's table size. */
    static final int FRAME = 4096;
    static final int SLOTS = 8;

    private final GuestMemory memory;
    private final PhysReader uncached;
    private final long[] frameOf = new long[SLOTS];
    private final ByteBuffer[] frames = new ByteBuffer[SLOTS];
    private int next;
    private long misses;

    FrameCache(GuestMemory memory, ByteOrder order) {
        this.memory = memory;
        this.uncached = PhysReader.direct(memory, order);
        for (int i = 0; i < SLOTS; i++) {
            frameOf[i] = -1; // no frame starts at -1: frames are 4 KiB aligned
            frames[i] = ByteBuffer.allocate(FRAME).order(order);
        }
    }

    @Override
    public boolean holds(long guestPaddr) {
        return memory.blockIndexOf(guestPaddr) >= 0;
    }

    @Override
    public long readU64(long guestPaddr) {
        ByteBuffer f = frame(guestPaddr);
        return f != null ? f.getLong((int) (guestPaddr & (FRAME - 1))) : uncached.readU64(guestPaddr);
    }

    @Override
    public long readU32(long guestPaddr) {
        ByteBuffer f = frame(guestPaddr);
        return f != null ? Integer.toUnsignedLong(f.getInt((int) (guestPaddr & (FRAME - 1))))
                : uncached.readU32(guestPaddr);
    }

    /** Returns the frames read from the core so far, for tests and measurements. */
    long misses() {
        return misses;
    }

    /**
     * Returns the cached frame holding {@code guestPaddr}, reading it on a miss; null when the frame is not wholly
     * inside one block (blocks need only be byte-aligned; real ones are page-aligned), which is read uncached.
     */
    private ByteBuffer frame(long guestPaddr) {
        long start = guestPaddr & -FRAME;
        for (int i = 0; i < SLOTS; i++) {
            if (frameOf[i] == start) {
                return frames[i];
            }
        }
        int block = memory.blockIndexOf(start);
        if (block < 0 || !memory.blocks().get(block).contains(start + FRAME - 1)) {
            return null;
        }
        int slot = next;
        next = (next + 1) % SLOTS;
        ByteBuffer b = frames[slot].clear();
        frameOf[slot] = -1; // until the read succeeds
        memory.read(start, b);
        misses++;
        frameOf[slot] = start;
        return b;
    }
}

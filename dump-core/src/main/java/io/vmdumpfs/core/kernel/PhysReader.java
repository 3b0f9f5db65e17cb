package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.guest.GuestMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Reads page-table entries (and other small values) from guest-physical memory in the guest's byte order. Page
 * table walkers take one, so a bulk reader can hand them a {@link #caching caching} one and a one-off lookup an
 * {@link #direct uncached} one.
 */
public interface PhysReader {

    /** Returns true when {@code guestPaddr} is guest RAM held by the dump. */
    boolean holds(long guestPaddr);

    /**
     * Returns the 8 bytes at {@code guestPaddr} (8-byte aligned, as page-table entries are).
     *
     * @throws IllegalArgumentException when the dump does not hold {@code guestPaddr}
     */
    long readU64(long guestPaddr);

    /**
     * Returns the 4 bytes at {@code guestPaddr} (4-byte aligned), zero-extended.
     *
     * @throws IllegalArgumentException when the dump does not hold {@code guestPaddr}
     */
    long readU32(long guestPaddr);

    /** Returns a reader that goes to the core on every call: thread-safe, one pread per value. */
    static PhysReader direct(GuestMemory memory, ByteOrder order) {
        return new PhysReader() {
            @Override
            public boolean holds(long guestPaddr) {
                return memory.blockIndexOf(guestPaddr) >= 0;
            }

            @Override
            public long readU64(long guestPaddr) {
                return read(guestPaddr, 8).getLong(0);
            }

            @Override
            public long readU32(long guestPaddr) {
                return Integer.toUnsignedLong(read(guestPaddr, 4).getInt(0));
            }

            /** Reads all {@code n} bytes, across a block end if the next block goes on there. */
            private ByteBuffer read(long guestPaddr, int n) {
                ByteBuffer b = ByteBuffer.allocate(n).order(order);
                while (b.hasRemaining()) {
                    memory.read(guestPaddr + b.position(), b); // throws IllegalArgumentException past RAM
                }
                return b;
            }
        };
    }

    /**
     * Returns a reader for one thread that keeps the last few 4 KiB frames it read, for walks that revisit the same
     * tables: a scan of consecutive 4 KiB pages reads each page table once per 512 pages instead of four or five
     * entries per page. Not thread-safe; the bytes never change, so it needs no invalidation.
     */
    static PhysReader caching(GuestMemory memory, ByteOrder order) {
        return new FrameCache(memory, order);
    }
}

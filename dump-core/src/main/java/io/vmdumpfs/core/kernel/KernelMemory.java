package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.kernel.KernelAddressException.Reason;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Reads the guest kernel's memory by kernel virtual address: translate through the {@link KernelAddressSpace}, then
 * read guest-physical memory from the core. A read that crosses mapping units is translated once per unit.
 *
 * <p>Two kinds, one class: the shared reader ({@link GuestKernel#memory()}) is thread-safe and walks the page
 * tables on every unit with uncached entry reads, fit for a few lookups; a {@link #bulk()} reader belongs to one
 * thread, keeps the last translations and the page-table frames it read, and is what a scan of many objects (such
 * as every {@code struct page} through vmemmap) should use, one per worker thread.
 */
public final class KernelMemory {

    /** Translations a bulk reader remembers: the units of a few interleaved streams. */
    private static final int TLB_SLOTS = 4;

    private final KernelAddressSpace space;
    private final GuestMemory memory;
    private final ByteOrder order;
    private final PhysReader phys;
    /** Recent translations (bulk readers only; null for the shared one), replaced round-robin. */
    private final Translation[] tlb;
    private int tlbNext;
    private long walks;

    KernelMemory(KernelAddressSpace space, GuestMemory memory, ByteOrder order, boolean bulk) {
        this.space = space;
        this.memory = memory;
        this.order = order;
        this.phys = bulk ? PhysReader.caching(memory, order) : PhysReader.direct(memory, order);
        this.tlb = bulk ? new Translation[TLB_SLOTS] : null;
    }

    /** Returns a reader for one thread that caches translations and page-table frames. */
    public KernelMemory bulk() {
        return new KernelMemory(space, memory, order, true);
    }

    /** Returns the address space this reader translates through. */
    public KernelAddressSpace space() {
        return space;
    }

    /** Returns the guest's byte order, in which multi-byte values are read. */
    public ByteOrder order() {
        return order;
    }

    /**
     * Returns the translation unit holding {@code kernelVaddr}.
     *
     * @throws KernelAddressException when it is not mapped, or the page tables are unreadable or malformed
     */
    public Translation translate(long kernelVaddr) {
        if (tlb != null) {
            for (Translation t : tlb) {
                if (t != null && t.contains(kernelVaddr)) {
                    return t;
                }
            }
        }
        Translation t = space.translate(kernelVaddr, phys);
        walks++;
        if (tlb != null) {
            tlb[tlbNext] = t;
            tlbNext = (tlbNext + 1) % TLB_SLOTS;
        }
        return t;
    }

    /** Returns the guest-physical address of {@code kernelVaddr}. */
    public long toGuestPaddr(long kernelVaddr) {
        return translate(kernelVaddr).guestPaddrOf(kernelVaddr);
    }

    /** Returns how many translations were not served from this reader's remembered ones (all, when shared). */
    public long walks() {
        return walks;
    }

    /**
     * Fills {@code dst} (all of its remaining bytes) from {@code kernelVaddr} on.
     *
     * @throws KernelAddressException when any byte of the range is not mapped or not in the dump; {@code dst}'s
     *                                position is then undefined
     */
    public void read(long kernelVaddr, ByteBuffer dst) {
        long vaddr = kernelVaddr;
        while (dst.hasRemaining()) {
            Translation t = translate(vaddr);
            long paddr = t.guestPaddrOf(vaddr);
            int want = (int) Math.min(dst.remaining(), t.remainingFrom(vaddr));
            int oldLimit = dst.limit();
            dst.limit(dst.position() + want);
            try {
                while (dst.hasRemaining()) {
                    long p = paddr + (want - dst.remaining());
                    if (memory.blockIndexOf(p) < 0) {
                        throw new KernelAddressException(Reason.NOT_IN_DUMP, vaddr + (want - dst.remaining()), 0,
                                "mapped to guest-physical 0x" + Long.toHexString(p) + ", which the dump does not hold");
                    }
                    memory.read(p, dst);
                }
            } finally {
                dst.limit(oldLimit);
            }
            vaddr += want;
        }
    }

    /** Returns {@code length} bytes from {@code kernelVaddr} on. */
    public byte[] readBytes(long kernelVaddr, int length) {
        ByteBuffer b = ByteBuffer.allocate(length);
        read(kernelVaddr, b);
        return b.array();
    }

    /** Returns the 8-byte value at {@code kernelVaddr} in the guest's byte order. */
    public long readU64(long kernelVaddr) {
        ByteBuffer b = ByteBuffer.allocate(8).order(order);
        read(kernelVaddr, b);
        return b.getLong(0);
    }

    /** Returns the 4-byte value at {@code kernelVaddr}, zero-extended. */
    public long readU32(long kernelVaddr) {
        ByteBuffer b = ByteBuffer.allocate(4).order(order);
        read(kernelVaddr, b);
        return Integer.toUnsignedLong(b.getInt(0));
    }

    /**
     * Returns the NUL-terminated string in the {@code capacity}-byte char array at {@code kernelVaddr} (such as a
     * {@code char[65]} utsname field), decoded as UTF-8; the whole array when it holds no NUL.
     */
    public String readCString(long kernelVaddr, int capacity) {
        byte[] b = readBytes(kernelVaddr, capacity);
        int n = 0;
        while (n < b.length && b[n] != 0) {
            n++;
        }
        return new String(b, 0, n, StandardCharsets.UTF_8);
    }
}

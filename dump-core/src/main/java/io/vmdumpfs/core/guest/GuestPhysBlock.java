package io.vmdumpfs.core.guest;

/**
 * One run of guest RAM that is contiguous in guest-physical and in QEMU's host-virtual address space, as QEMU's
 * {@code GuestPhysBlock} (memory_mapping.h): {@code target_start}, {@code target_end} (exclusive),
 * {@code host_addr}; plus where those bytes live in the core file and the RAMBlock's idstr.
 *
 * @param guestPaddrStart first guest-physical address (QEMU's target_start)
 * @param guestPaddrEnd   guest-physical end, exclusive (QEMU's target_end)
 * @param hostVaddr       QEMU's host virtual address of guestPaddrStart (host_addr)
 * @param fileOffset      offset of guestPaddrStart's byte in the core file
 * @param name            the RAMBlock idstr, e.g. "pc.ram"
 */
public record GuestPhysBlock(long guestPaddrStart, long guestPaddrEnd, long hostVaddr, long fileOffset,
        String name) {

    public GuestPhysBlock {
        if (Long.compareUnsigned(guestPaddrEnd, guestPaddrStart) <= 0) {
            throw new IllegalArgumentException("empty or inverted block " + Long.toHexString(guestPaddrStart));
        }
    }

    /** Returns the block's length in bytes. */
    public long size() {
        return guestPaddrEnd - guestPaddrStart;
    }

    /** Returns true when {@code guestPaddr} falls inside this block. */
    public boolean contains(long guestPaddr) {
        return Long.compareUnsigned(guestPaddr, guestPaddrStart) >= 0
                && Long.compareUnsigned(guestPaddr, guestPaddrEnd) < 0;
    }
}

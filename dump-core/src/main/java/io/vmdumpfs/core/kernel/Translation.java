package io.vmdumpfs.core.kernel;

/**
 * One mapping unit of the guest kernel's address space: a page or large page, naturally aligned in both spaces.
 * Everything in {@code [kernelVaddr, kernelVaddr + size)} lies at the same distance in guest-physical memory, so a
 * bulk reader translates once per unit (once per 2 MiB for a vmemmap mapped with PMD pages) and not once per byte.
 *
 * @param kernelVaddr first kernel virtual address of the unit
 * @param guestPaddr  where it lies in guest-physical memory
 * @param size        bytes in the unit: a power of two (4 KiB, 2 MiB, 1 GiB on x86_64), or for a linear window
 *                    such as the kernel image the window's size
 */
public record Translation(long kernelVaddr, long guestPaddr, long size) {

    public Translation {
        if (size <= 0) {
            throw new IllegalArgumentException("empty translation at 0x" + Long.toHexString(kernelVaddr));
        }
    }

    /** Returns true when {@code vaddr} lies in this unit. */
    public boolean contains(long vaddr) {
        return Long.compareUnsigned(vaddr - kernelVaddr, size) < 0;
    }

    /** Returns the guest-physical address of {@code vaddr}, which must lie in this unit. */
    public long guestPaddrOf(long vaddr) {
        return guestPaddr + (vaddr - kernelVaddr);
    }

    /** Returns the bytes from {@code vaddr} to the end of the unit. */
    public long remainingFrom(long vaddr) {
        return size - (vaddr - kernelVaddr);
    }
}

package io.vmdumpfs.core.kernel;

/**
 * The kernel's direct map (x86_64's "physmap" at {@code page_offset_base}, arm64's linear map): all of RAM mapped at
 * one fixed distance, {@code kernelVaddr = guestPaddr + offset}. It is where the kernel's own pointers to RAM point
 * (slab objects, page tables, task structs), so ELF readers that translate through program headers (gdb, drgn)
 * read those pointers from RAM segments whose {@code p_vaddr} is the direct-map address.
 *
 * @param offset   kernelVaddr minus guestPaddr (x86_64: page_offset_base; arm64: PAGE_OFFSET − PHYS_OFFSET)
 * @param evidence how it was found and checked, for diagnostics ("page_offset_base (kallsyms), verified …")
 */
public record DirectMap(long offset, String evidence) {

    /** Returns the direct-map address of {@code guestPaddr}. */
    public long kernelVaddrOf(long guestPaddr) {
        return guestPaddr + offset;
    }
}

package io.vmdumpfs.core.format;

/**
 * One PT_LOAD program header of vmcore.elf: a run of guest-physical memory and, where the guest kernel maps it at
 * one known place, that kernel virtual address. Its bytes are always those of the {@link
 * io.vmdumpfs.core.guest.GuestPhysBlock} that holds the run, in the file where the block's data is.
 *
 * @param guestPaddr  p_paddr; the run must lie inside one block
 * @param size        p_filesz = p_memsz, unsigned, not 0
 * @param kernelVaddr p_vaddr, or 0 when the run has no single kernel mapping worth stating
 */
public record LoadSegment(long guestPaddr, long size, long kernelVaddr) {

    public LoadSegment {
        if (size == 0) {
            throw new IllegalArgumentException("empty PT_LOAD at guest-physical 0x" + Long.toHexString(guestPaddr));
        }
    }
}

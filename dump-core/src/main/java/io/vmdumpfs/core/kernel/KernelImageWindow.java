package io.vmdumpfs.core.kernel;

/**
 * The window of kernel virtual addresses where the kernel image is mapped at a fixed distance from its physical
 * location, known from VMCOREINFO without reading a page table (x86_64: {@code __START_KERNEL_map} and
 * {@code NUMBER(phys_base)}; arm64: {@code kimage_voffset}). It is how a reader reaches the page tables in the first
 * place: their root ({@code init_top_pgt}, {@code swapper_pg_dir}) is a kernel-image address.
 *
 * <p>The window is the range the architecture reserves for the image (x86_64: {@code KERNEL_IMAGE_SIZE}), larger
 * than the image itself; addresses in it are translated linearly whether or not the guest maps them now (the kernel
 * unmaps its freed init sections). Readers such as crash and makedumpfile do the same.
 *
 * @param kernelVaddrStart first address of the window
 * @param size             bytes in the window
 * @param guestPaddrStart  guest-physical address of {@code kernelVaddrStart} (may wrap below 0 when the kernel
 *                         was loaded below its link address: only addresses inside the image are ever read)
 */
public record KernelImageWindow(long kernelVaddrStart, long size, long guestPaddrStart) {

    public KernelImageWindow {
        if (size <= 0) {
            throw new IllegalArgumentException("empty kernel image window");
        }
    }

    /** Returns true when {@code kernelVaddr} lies in the window. */
    public boolean contains(long kernelVaddr) {
        return Long.compareUnsigned(kernelVaddr - kernelVaddrStart, size) < 0;
    }

    /** Returns the guest-physical address of {@code kernelVaddr}, which must lie in the window. */
    public long guestPaddrOf(long kernelVaddr) {
        return guestPaddrStart + (kernelVaddr - kernelVaddrStart);
    }

    /** Returns the window as one translation unit. */
    public Translation translation() {
        return new Translation(kernelVaddrStart, guestPaddrStart, size);
    }
}

package io.vmdumpfs.core.kernel;

/**
 * The guest kernel's virtual address space as one architecture lays it out: the kernel image window, translated
 * linearly, and everything else through the guest's own page tables. Immutable and thread-safe; the
 * {@link PhysReader} passed to {@link #translate} decides about caching.
 *
 * @param image  where the kernel image lies (translated without a table walk)
 * @param tables the walk for every other address
 */
public record KernelAddressSpace(KernelImageWindow image, PageTableWalker tables) {

    /**
     * Returns the translation unit holding {@code kernelVaddr}: the image window itself, or the page or large page
     * the page tables map there.
     *
     * @throws KernelAddressException when the page tables do not map it, lead outside the dump or are malformed
     */
    public Translation translate(long kernelVaddr, PhysReader phys) {
        if (image.contains(kernelVaddr)) {
            return image.translation();
        }
        return tables.walk(kernelVaddr, phys);
    }
}

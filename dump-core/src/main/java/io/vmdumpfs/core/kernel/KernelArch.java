package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.GuestPlatform;
import java.util.List;
import java.util.Optional;

/**
 * What one architecture contributes to the guest-kernel layer. {@link GuestKernel} does everything else the same way
 * for every architecture: reading, symbol lookup, checking direct-map candidates through the page tables, finding
 * the kernel image's extent.
 *
 * <p>To add an architecture: implement this (usually with a {@link PageTableWalker} of its own) and name it in
 * {@link #of}. x86_64 ({@link X86_64Kernel}), aarch64 ({@link Aarch64Kernel}) and i386 ({@link I386Kernel}) are
 * done. What the others need from VMCOREINFO:
 * <ul>
 *   <li>s390x: big-endian; kernel virtual equals physical in the identity map of older kernels, newer ones move
 *       the image (KERNELOFFSET) and the identity map (as arch/s390/kernel/machine_kexec.c prints it); region and
 *       segment tables from SYMBOL(swapper_pg_dir).</li>
 *   <li>ppc64: 64 KiB pages, radix or hash MMU; the linear map at PAGE_OFFSET 0xc000000000000000.</li>
 * </ul>
 */
public interface KernelArch {

    /**
     * Returns the guest kernel's address space as VMCOREINFO describes it: the image window and the page table walk.
     *
     * @throws KernelUnavailableException naming what VMCOREINFO lacks
     */
    KernelAddressSpace addressSpace(VmcoreInfoTable info, GuestPlatform platform);

    /**
     * Returns the kernel virtual address where the kernel image's mapping starts (x86_64: SYMBOL(_stext)).
     *
     * @throws KernelUnavailableException naming what VMCOREINFO lacks
     */
    long imageStart(VmcoreInfoTable info);

    /**
     * Returns the direct-map offsets worth trying, the most trusted first (the kernel's own variable, then values
     * derived from pointers VMCOREINFO holds, then the architecture's defaults). {@link GuestKernel} keeps the first
     * one its page tables confirm, so a candidate may be a guess.
     */
    List<DirectMap> directMapCandidates(GuestKernel kernel);

    /**
     * Returns true when the kernel image lies inside the direct map at the direct map's own distance (i386: one
     * linear map of low memory at PAGE_OFFSET), so that the image's addresses are direct-map addresses; false where
     * the image has a mapping of its own (x86_64's __START_KERNEL_map), whose addresses then confirm no direct map.
     */
    default boolean imageInDirectMap() {
        return false;
    }

    /** Returns the support for {@code arch}, or empty where it is not implemented yet. */
    static Optional<KernelArch> of(GuestArch arch) {
        return switch (arch) {
            case X86_64 -> Optional.of(X86_64Kernel.INSTANCE);
            case AARCH64 -> Optional.of(Aarch64Kernel.INSTANCE);
            case I386 -> Optional.of(I386Kernel.INSTANCE);
            default -> Optional.empty();
        };
    }
}

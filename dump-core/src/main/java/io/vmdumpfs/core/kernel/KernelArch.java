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
 * {@link #of}. x86_64 ({@link X86_64Kernel}) and aarch64 ({@link Aarch64Kernel}) are done. What the others need
 * from VMCOREINFO:
 * <ul>
 *   <li>i386: the image and the direct map are one linear map at PAGE_OFFSET (0xc0000000 by default); 2-level
 *       tables of 4-byte entries, or 3-level PAE ones of 8 bytes (SYMBOL(swapper_pg_dir), CONFIG_X86_PAE shows
 *       as NUMBER(X86_PAE) or the size of pte_t). {@link PhysReader#readU32} is there for it.</li>
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

    /** Returns the support for {@code arch}, or empty where it is not implemented yet. */
    static Optional<KernelArch> of(GuestArch arch) {
        return switch (arch) {
            case X86_64 -> Optional.of(X86_64Kernel.INSTANCE);
            case AARCH64 -> Optional.of(Aarch64Kernel.INSTANCE);
            default -> Optional.empty();
        };
    }
}

package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.guest.GuestPlatform;
import java.util.List;

/**
 * The i386 kernel's address space (arch/x86/include/asm/page_32_types.h, Documentation/arch/x86/x86_32 has none):
 * one linear map of low memory at {@code PAGE_OFFSET}, {@code kernelVaddr = guestPaddr + PAGE_OFFSET}, which holds
 * the kernel image as well (there is no separate image mapping as on x86_64: KASLR moves the image physically and
 * its virtual address moves with it, so every SYMBOL() already tells); everything else (vmalloc, fixmap, pkmap)
 * through the tables at SYMBOL(swapper_pg_dir), whose guest-physical address is its virtual one less PAGE_OFFSET.
 *
 * <p>PAGE_OFFSET is CONFIG_PAGE_OFFSET, which VMCOREINFO does not carry: 0xc0000000 (VMSPLIT_3G, the default and
 * Debian's), 0xb0000000, 0x80000000, 0x78000000 or 0x40000000. It is taken as the highest of these not above
 * SYMBOL(_stext) that leaves the image's physical address below KERNEL_IMAGE_SIZE (512 MiB: 32-bit KASLR places the
 * image below it, arch/x86/boot/compressed/kaslr.c). Only a VMSPLIT_3G_OPT kernel loaded above 256 MiB would be
 * taken for a VMSPLIT_3G one; its page tables, read at the wrong place, then confirm no direct map.
 *
 * <p>The table format: PAE when VMCOREINFO has {@code CONFIG_X86_PAE=y} (what arch/x86/kernel/crash_core_32.c
 * writes for CONFIG_X86_PAE, and machine_kexec_32.c before 4.19), else the 2-level one.
 *
 * <p>The image window, translated without a table walk, is what VMCOREINFO bounds of the image: from the page of
 * SYMBOL(_stext) to the end of swapper_pg_dir's page (in the image's page-aligned bss). Its rest (later bss, brk) is
 * read through the page tables like the direct map it is part of.
 */
public final class I386Kernel implements KernelArch {

    public static final I386Kernel INSTANCE = new I386Kernel();

    /** CONFIG_PAGE_OFFSET of the VMSPLIT_* choices, highest first. */
    static final long[] PAGE_OFFSETS = {0xc000_0000L, 0xb000_0000L, 0x8000_0000L, 0x7800_0000L, 0x4000_0000L};
    /** KERNEL_IMAGE_SIZE of i386 (page_32_types.h): the image lies physically below it. */
    static final long KERNEL_IMAGE_SIZE = 512L << 20;
    /** swapper_pg_dir's size: a page in both formats (head_32.S reserves 1024 longs; PAE uses its first 32 bytes). */
    static final long ROOT_TABLE_BYTES = 4096;

    private I386Kernel() {
    }

    @Override
    public KernelAddressSpace addressSpace(VmcoreInfoTable info, GuestPlatform platform) {
        long stext = imageStart(info);
        long root = info.requireSymbol("swapper_pg_dir");
        long pageOffset = pageOffset(info);
        if (Long.compareUnsigned(root, stext) <= 0 || root - stext >= KERNEL_IMAGE_SIZE
                || (root >>> 32) != 0) {
            throw new KernelUnavailableException("SYMBOL(swapper_pg_dir) 0x" + Long.toHexString(root)
                    + " is not in the kernel image after SYMBOL(_stext) 0x" + Long.toHexString(stext));
        }
        if ((root & (ROOT_TABLE_BYTES - 1)) != 0) {
            throw new KernelUnavailableException("SYMBOL(swapper_pg_dir) 0x" + Long.toHexString(root)
                    + " is not on a page boundary");
        }
        long start = stext & -(long) platform.pageSize();
        KernelImageWindow image = new KernelImageWindow(start, root + ROOT_TABLE_BYTES - start, start - pageOffset);
        return new KernelAddressSpace(image, new I386PageTables(root - pageOffset, pae(info)));
    }

    @Override
    public long imageStart(VmcoreInfoTable info) {
        long stext = info.requireSymbol("_stext");
        if ((stext >>> 32) != 0) {
            throw new KernelUnavailableException("SYMBOL(_stext) 0x" + Long.toHexString(stext)
                    + " is not a 32-bit address");
        }
        return stext;
    }

    /** The direct map is the image's own linear map: one candidate, which the page tables confirm or not. */
    @Override
    public List<DirectMap> directMapCandidates(GuestKernel kernel) {
        long pageOffset = pageOffset(kernel.vmcoreinfo());
        return List.of(new DirectMap(pageOffset, "PAGE_OFFSET 0x" + Long.toHexString(pageOffset)
                + " (from SYMBOL(_stext))"));
    }

    @Override
    public boolean imageInDirectMap() {
        return true;
    }

    /** Returns true when VMCOREINFO says the kernel was built with CONFIG_X86_PAE. */
    static boolean pae(VmcoreInfoTable info) {
        return info.text("CONFIG_X86_PAE").map("y"::equals).orElse(false)
                || info.number("X86_PAE").orElse(0) == 1;
    }

    /**
     * Returns PAGE_OFFSET: the highest CONFIG_PAGE_OFFSET that puts SYMBOL(_stext) within KERNEL_IMAGE_SIZE of
     * guest-physical 0.
     *
     * @throws KernelUnavailableException when none does
     */
    static long pageOffset(VmcoreInfoTable info) {
        long stext = INSTANCE.imageStart(info);
        for (long pageOffset : PAGE_OFFSETS) {
            if (Long.compareUnsigned(stext, pageOffset) >= 0 && stext - pageOffset < KERNEL_IMAGE_SIZE) {
                return pageOffset;
            }
        }
        throw new KernelUnavailableException("SYMBOL(_stext) 0x" + Long.toHexString(stext)
                + " is within 512 MiB of no i386 PAGE_OFFSET");
    }
}

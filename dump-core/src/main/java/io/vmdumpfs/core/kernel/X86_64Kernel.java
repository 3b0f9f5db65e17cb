package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.guest.GuestPlatform;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * The x86_64 kernel's address space (Documentation/arch/x86/x86_64/mm.rst):
 * <ul>
 *   <li>the kernel image at {@code __START_KERNEL_map} = 0xffffffff80000000, {@code KERNEL_IMAGE_SIZE} long
 *       (NUMBER(KERNEL_IMAGE_SIZE); 1 GiB with KASLR, 512 MiB without), physical = virtual −
 *       __START_KERNEL_map + NUMBER(phys_base). KASLR moves both the virtual image (KERNELOFFSET, already in every
 *       SYMBOL()) and phys_base, so no more is needed;</li>
 *   <li>everything else through the tables at SYMBOL(init_top_pgt) (init_level4_pgt before 4.13), 5-level when
 *       NUMBER(pgtable_l5_enabled) is 1;</li>
 *   <li>the direct map at {@code page_offset_base}: 0xffff888000000000 (4-level; 0xffff880000000000 before 4.20) or
 *       0xff11000000000000 (5-level), moved by KASLR's memory randomisation to a 1 GiB boundary.</li>
 * </ul>
 */
public final class X86_64Kernel implements KernelArch {

    public static final X86_64Kernel INSTANCE = new X86_64Kernel();

    /** __START_KERNEL_map (arch/x86/include/asm/page_64_types.h). */
    public static final long START_KERNEL_MAP = 0xffff_ffff_8000_0000L;
    /** KERNEL_IMAGE_SIZE with CONFIG_RANDOMIZE_BASE, and without. */
    static final long IMAGE_SIZE_KASLR = 1L << 30;
    static final long IMAGE_SIZE_FIXED = 512L << 20;
    /** KASLR places the direct map on a PUD boundary (arch/x86/mm/kaslr.c). */
    static final long DIRECT_MAP_ALIGN = 1L << 30;

    private X86_64Kernel() {
    }

    @Override
    public KernelAddressSpace addressSpace(VmcoreInfoTable info, GuestPlatform platform) {
        long physBase = info.requireNumber("phys_base");
        long imageSize = info.number("KERNEL_IMAGE_SIZE")
                .orElse(info.kernelOffset().isPresent() ? IMAGE_SIZE_KASLR : IMAGE_SIZE_FIXED);
        if (imageSize <= 0 || imageSize > (1L << 31)) {
            throw new KernelUnavailableException("NUMBER(KERNEL_IMAGE_SIZE) is " + imageSize
                    + ", not a size the x86_64 kernel image window can have");
        }
        KernelImageWindow image = new KernelImageWindow(START_KERNEL_MAP, imageSize, physBase);
        long root = firstSymbol(info, "init_top_pgt", "init_level4_pgt", "swapper_pg_dir");
        if (!image.contains(root)) {
            throw new KernelUnavailableException("the page table root 0x" + Long.toHexString(root)
                    + " is not in the kernel image window");
        }
        long levels = info.number("pgtable_l5_enabled").orElse(0) == 1 ? 5 : 4;
        long sme = info.number("sme_mask").orElse(0);
        long rootPaddr = image.guestPaddrOf(root);
        if ((rootPaddr & 0xfff) != 0) {
            throw new KernelUnavailableException("the page table root is at guest-physical 0x"
                    + Long.toHexString(rootPaddr) + ", not on a page boundary (is NUMBER(phys_base) right?)");
        }
        return new KernelAddressSpace(image, new X86_64PageTables(rootPaddr, (int) levels, sme));
    }

    @Override
    public long imageStart(VmcoreInfoTable info) {
        return info.requireSymbol("_stext");
    }

    @Override
    public List<DirectMap> directMapCandidates(GuestKernel kernel) {
        List<DirectMap> out = new ArrayList<>();
        // The kernel's own variable, when kallsyms can say where it is.
        OptionalLong pob = kernel.symbol("page_offset_base");
        if (pob.isPresent()) {
            try {
                out.add(new DirectMap(kernel.memory().readU64(pob.getAsLong()), "page_offset_base (kallsyms)"));
            } catch (KernelAddressException e) {
                // not readable: try the others
            }
        }
        // mem_section's value is a pointer into the direct map (memblock or kmalloc memory): its distance from its
        // physical address is the direct map's offset, if it is on the boundary KASLR would have chosen.
        OptionalLong ms = kernel.vmcoreinfo().symbol("mem_section");
        if (ms.isPresent()) {
            try {
                long off = ms.getAsLong() - kernel.memory().toGuestPaddr(ms.getAsLong());
                if ((off & (DIRECT_MAP_ALIGN - 1)) == 0) {
                    out.add(new DirectMap(off, "SYMBOL(mem_section) through the page tables"));
                }
            } catch (KernelAddressException e) {
                // not mapped: try the others
            }
        }
        boolean l5 = kernel.vmcoreinfo().number("pgtable_l5_enabled").orElse(0) == 1;
        if (l5) {
            out.add(new DirectMap(0xff11_0000_0000_0000L, "the 5-level default"));
            out.add(new DirectMap(0xff10_0000_0000_0000L, "the 5-level default before 4.20"));
        } else {
            out.add(new DirectMap(0xffff_8880_0000_0000L, "the 4-level default"));
            out.add(new DirectMap(0xffff_8800_0000_0000L, "the 4-level default before 4.20"));
        }
        return out;
    }

    private static long firstSymbol(VmcoreInfoTable info, String... names) {
        for (String n : names) {
            OptionalLong v = info.symbol(n);
            if (v.isPresent()) {
                return v.getAsLong();
            }
        }
        throw new KernelUnavailableException("VMCOREINFO has none of SYMBOL(" + String.join("), SYMBOL(", names) + ")");
    }
}

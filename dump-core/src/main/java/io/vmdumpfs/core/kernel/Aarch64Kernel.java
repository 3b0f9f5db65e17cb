package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.guest.GuestPlatform;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/**
 * The arm64 kernel's address space (arch/arm64/include/asm/memory.h, Documentation/arch/arm64/memory.rst), from what
 * arch/arm64/kernel/crash_core.c puts in VMCOREINFO:
 * <ul>
 *   <li>the kernel image, linked in the vmalloc area and moved by KASLR, at {@code guestPaddr = kernelVaddr −
 *       kimage_voffset} (NUMBER(kimage_voffset), printed 0x-hex);</li>
 *   <li>everything else through the tables at SYMBOL(swapper_pg_dir) (an image address), with the granule of
 *       PAGESIZE and the levels of NUMBER(VA_BITS); NUMBER(TCR_EL1_T1SZ) says how many bits the CPU really uses;</li>
 *   <li>the linear ("direct") map: {@code kernelVaddr = guestPaddr − PHYS_OFFSET + PAGE_OFFSET}, with PAGE_OFFSET =
 *       −2^VA_BITS since 5.4 (the upper half's start, −2^(VA_BITS−1), before) and PHYS_OFFSET = memstart_addr
 *       (NUMBER(PHYS_OFFSET); KASLR lowers it, even below zero, to move the linear map).</li>
 * </ul>
 *
 * <p>The image window is only as large as VMCOREINFO proves the image to be: from SYMBOL(_stext)'s page to the end of
 * the page of the highest image symbol it names (SYMBOL(swapper_pg_dir), init_uts_ns, printk's buffers). Unlike
 * x86_64, whose image has a reserved range of its own, arm64's image lies in the vmalloc area, so addresses past
 * its end may be vmalloc mappings: they are left to the page tables, which map the image there too.
 */
public final class Aarch64Kernel implements KernelArch {

    public static final Aarch64Kernel INSTANCE = new Aarch64Kernel();

    /**
     * How far past _stext a SYMBOL() may lie and still count as part of the image: arm64 images are tens of MiB
     * (Debian's 6.1 is 33 MiB with bss), and the vmalloc area around them is far larger.
     */
    static final long MAX_IMAGE_SIZE = 1L << 30;

    private Aarch64Kernel() {
    }

    @Override
    public KernelAddressSpace addressSpace(VmcoreInfoTable info, GuestPlatform platform) {
        long kimageVoffset = info.requireNumber("kimage_voffset");
        long stext = info.requireSymbol("_stext");
        long root = info.requireSymbol("swapper_pg_dir");
        long pageSize = info.pageSize().orElse(platform.pageSize());
        if (pageSize != 4096 && pageSize != 16384 && pageSize != 65536) {
            throw new KernelUnavailableException("PAGESIZE is " + pageSize
                    + ", not an arm64 granule (4, 16 or 64 KiB)");
        }
        long vaBits = info.requireNumber("VA_BITS");
        if (vaBits < 36 || vaBits > 52) {
            throw new KernelUnavailableException("NUMBER(VA_BITS) is " + vaBits + ", not an arm64 kernel's (36 to 52)");
        }
        // TCR_EL1_T1SZ came with 5.12 for 52-bit kernels on 48-bit CPUs; without it the CPU uses VA_BITS.
        long activeVaBits = 64 - info.number("TCR_EL1_T1SZ").orElse(64 - vaBits);
        if (activeVaBits < 36 || activeVaBits > vaBits) {
            throw new KernelUnavailableException("NUMBER(TCR_EL1_T1SZ) gives " + activeVaBits
                    + "-bit kernel addresses with NUMBER(VA_BITS)=" + vaBits);
        }
        boolean pa52 = pageSize == 65536 && info.number("MAX_PHYSMEM_BITS").orElse(48) == 52;

        long start = stext & -pageSize;
        long end = start;
        for (Map.Entry<String, Long> s : info.symbols().entrySet()) {
            long offset = s.getValue() - start;
            if (Long.compareUnsigned(offset, MAX_IMAGE_SIZE) < 0 && Long.compareUnsigned(offset, end - start) >= 0) {
                end = (s.getValue() & -pageSize) + pageSize;
            }
        }
        KernelImageWindow image = new KernelImageWindow(start, end - start, start - kimageVoffset);
        if (!image.contains(root)) {
            throw new KernelUnavailableException("SYMBOL(swapper_pg_dir) 0x" + Long.toHexString(root)
                    + " is not in the kernel image after SYMBOL(_stext) 0x" + Long.toHexString(stext));
        }
        long rootPaddr = image.guestPaddrOf(root);
        if ((rootPaddr & (pageSize - 1)) != 0) {
            throw new KernelUnavailableException("swapper_pg_dir is at guest-physical 0x" + Long.toHexString(rootPaddr)
                    + ", not on a page boundary (is NUMBER(kimage_voffset) right?)");
        }
        try {
            return new KernelAddressSpace(image, new Aarch64PageTables(rootPaddr, (int) pageSize, (int) vaBits,
                    (int) activeVaBits, pa52));
        } catch (IllegalArgumentException e) {
            throw new KernelUnavailableException(e.getMessage());
        }
    }

    @Override
    public long imageStart(VmcoreInfoTable info) {
        // Since 4.x every kernel's VMCOREINFO names _stext (crash_core.c); map_kernel maps the image from there on.
        return info.requireSymbol("_stext");
    }

    @Override
    public List<DirectMap> directMapCandidates(GuestKernel kernel) {
        List<DirectMap> out = new ArrayList<>();
        VmcoreInfoTable info = kernel.vmcoreinfo();
        OptionalLong physOffset = info.number("PHYS_OFFSET");
        OptionalLong vaBits = info.number("VA_BITS");
        if (physOffset.isPresent() && vaBits.isPresent() && vaBits.getAsLong() > 0 && vaBits.getAsLong() < 64) {
            long pageOffset = -(1L << vaBits.getAsLong());
            out.add(new DirectMap(pageOffset - physOffset.getAsLong(),
                    "PAGE_OFFSET -2^VA_BITS - NUMBER(PHYS_OFFSET) (5.4 and later)"));
            long pageOffsetBefore54 = -(1L << (vaBits.getAsLong() - 1));
            out.add(new DirectMap(pageOffsetBefore54 - physOffset.getAsLong(),
                    "PAGE_OFFSET -2^(VA_BITS-1) - NUMBER(PHYS_OFFSET) (before 5.4)"));
        }
        // mem_section's value points into the linear map (memblock memory): its distance from its physical address
        // is the linear map's offset.
        OptionalLong ms = info.symbol("mem_section");
        if (ms.isPresent()) {
            try {
                long off = ms.getAsLong() - kernel.memory().toGuestPaddr(ms.getAsLong());
                if ((off & (kernel.platform().pageSize() - 1)) == 0) {
                    out.add(new DirectMap(off, "SYMBOL(mem_section) through the page tables"));
                }
            } catch (KernelAddressException e) {
                // not mapped: nothing to offer
            }
        }
        return out;
    }
}

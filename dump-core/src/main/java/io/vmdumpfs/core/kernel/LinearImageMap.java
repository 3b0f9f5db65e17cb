package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.guest.VmcoreInfo;
import java.util.ArrayList;
import java.util.List;

/**
 * The kernel image's linear map: {@code guestPaddr = kernelVaddr − offset} for every address of the kernel image,
 * known from VMCOREINFO without reading a page table. Enough to read the image's own variables
 * ({@code init_uts_ns}) on the architectures whose page-table walkers are not written yet:
 * <ul>
 *   <li>aarch64: {@code kimage_voffset} (NUMBER, 0x-hex), which KASLR moves along with the image (the fallback
 *       for when {@link Aarch64Kernel} cannot set up the page-table walk, e.g. VMCOREINFO without VA_BITS);</li>
 *   <li>i386: PAGE_OFFSET, where the one linear map of low memory starts: 0xc0000000 by default, 0x80000000,
 *       0xb0000000 or 0x78000000 with the other CONFIG_VMSPLIT_* choices, 0x40000000 for 1G/3G; VMCOREINFO does
 *       not say which, so each is a candidate and the caller confirms by what it reads;</li>
 *   <li>ppc64: PAGE_OFFSET 0xc000000000000000 (Book3S and Book3E alike);</li>
 *   <li>s390x as Debian 12's 6.1 kernel runs: kernel virtual equals physical (the image runs in the identity map;
 *       a kernel that maps its image elsewhere is simply not found, since what is read there is checked).</li>
 * </ul>
 * x86_64 is the kernel layer's page-table walk's (its image window is {@code __START_KERNEL_map} +
 * {@code phys_base}); none is offered for it here.
 *
 * @param offset   kernel virtual minus guest-physical
 * @param evidence where the offset comes from
 */
public record LinearImageMap(long offset, String evidence) {

    /** CONFIG_PAGE_OFFSET of i386 kernels, the default (VMSPLIT_3G) first. */
    static final long[] I386_PAGE_OFFSETS = {0xc000_0000L, 0x8000_0000L, 0xb000_0000L, 0x7800_0000L, 0x4000_0000L};
    /** PAGE_OFFSET of 64-bit PowerPC kernels. */
    static final long PPC64_PAGE_OFFSET = 0xc000_0000_0000_0000L;

    /** Returns the guest-physical address of {@code kernelVaddr}, an address of the kernel image. */
    public long guestPaddrOf(long kernelVaddr) {
        return kernelVaddr - offset;
    }

    /** Returns the maps worth trying for {@code platform}'s kernel, the likeliest first; empty when none is known. */
    public static List<LinearImageMap> candidates(GuestPlatform platform, VmcoreInfo vi) {
        List<LinearImageMap> out = new ArrayList<>();
        switch (platform.arch()) {
            case AARCH64 -> {
                String v = vi.get("NUMBER(kimage_voffset)");
                if (v != null) {
                    try {
                        out.add(new LinearImageMap(Long.parseUnsignedLong(v.trim().replaceFirst("^0x", ""), 16),
                                "NUMBER(kimage_voffset)"));
                    } catch (NumberFormatException e) {
                        // not the kernel's number: no map
                    }
                }
            }
            case I386 -> {
                for (long pageOffset : I386_PAGE_OFFSETS) {
                    out.add(new LinearImageMap(pageOffset, "PAGE_OFFSET 0x" + Long.toHexString(pageOffset)));
                }
            }
            case PPC64 -> out.add(new LinearImageMap(PPC64_PAGE_OFFSET, "PAGE_OFFSET 0xc000000000000000"));
            case S390X -> out.add(new LinearImageMap(0, "the identity map"));
            case X86_64 -> {
                // the page-table walk's
            }
        }
        return out;
    }
}

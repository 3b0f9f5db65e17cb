package io.vmdumpfs.core.kernel;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.OptionalLong;

/**
 * Where the guest kernel keeps each page's {@code struct page}: its SPARSEMEM memory map, found the way makedumpfile's
 * {@code get_mm_sparsemem()} finds it from VMCOREINFO alone. Memory is cut into sections of
 * {@code 2^SECTION_SIZE_BITS} bytes; {@code mem_section} (SYMBOL) holds, per section, a {@code struct mem_section}
 * (SIZE, OFFSET(mem_section.section_mem_map)) whose {@code section_mem_map} is the section's map address encoded
 * minus the section's first pfn, its low bits flags (bit 0: present). With SPARSEMEM_EXTREME (LENGTH(mem_section)
 * equal to the number of roots, or absent) {@code mem_section} is an array of pointers to pages of sections; the
 * kernel prints the array's address (4.15 and later) or the pointer's, so both readings are tried, as makedumpfile
 * tries them: the first under which some section is present. With SPARSEMEM_VMEMMAP (x86_64) the decoded address
 * is simply {@code vmemmap + pfn * SIZE(page)}, but reading it per section costs nothing and holds for every model.
 *
 * <p>Also makedumpfile's adjustment of max_mapnr: the dump ends with the last section that has a memory map, since
 * pages beyond have no struct page and no kernel use ({@link #maxPfn()}).
 *
 * <p>Immutable and thread-safe; opening reads a few bytes per section (1 TiB: 8192 sections).
 */
public final class MemMap {

    /** makedumpfile's SECTION_MARKED_PRESENT and SECTION_MAP_MASK (flags below bit 5). */
    static final long SECTION_MARKED_PRESENT = 1;
    static final long SECTION_MAP_MASK = ~((1L << 5) - 1);
    /** x86_64 defaults when VMCOREINFO does not say (makedumpfile arch/x86_64.c: 2.6.31 and later, 5-level). */
    static final int X86_64_SECTION_SIZE_BITS = 27;
    static final int X86_64_MAX_PHYSMEM_BITS = 46;
    static final int X86_64_MAX_PHYSMEM_BITS_L5 = 52;

    private final int pageShift;
    private final int sectionShift;
    private final int structPageSize;
    /** Per section below the dump's max_mapnr: the kernel virtual address of its first pfn's struct page, or 0. */
    private final long[] memMaps;
    private final long maxMapnr;
    private final long maxPfn;
    private final String model;

    private MemMap(int pageShift, int sectionShift, int structPageSize, long[] memMaps, long maxMapnr, String model) {
        this.pageShift = pageShift;
        this.sectionShift = sectionShift;
        this.structPageSize = structPageSize;
        this.memMaps = memMaps;
        this.maxMapnr = maxMapnr;
        this.model = model;
        long max = 0;
        for (int s = 0; s < memMaps.length; s++) {
            if (memMaps[s] != 0) {
                max = Math.max(max, Math.min(maxMapnr, ((long) s + 1) << (sectionShift - pageShift)));
            }
        }
        // makedumpfile get_mem_map(): max_mapnr = MIN(max_mapnr, end of the last section with a memory map), when
        // there is one at all
        this.maxPfn = max == 0 ? maxMapnr : Math.min(maxMapnr, max);
    }

    /**
     * Reads the memory map of the sections below {@code maxMapnr} (one past the highest pfn of the dump).
     *
     * @param kernel a reader of kernel virtual addresses; used only while opening
     * @throws KernelUnavailableException naming what VMCOREINFO lacks, or when no section can be found
     */
    public static MemMap open(VmcoreInfoTable info, KernelMemory kernel, int pageSize, long maxMapnr, boolean l5) {
        long symbol = info.requireSymbol("mem_section");
        int sizeSection = (int) info.size("mem_section")
                .orElseThrow(() -> new KernelUnavailableException("VMCOREINFO has no SIZE(mem_section)"));
        int offMap = (int) info.requireOffset("mem_section.section_mem_map");
        int sizePage = (int) info.size("page")
                .orElseThrow(() -> new KernelUnavailableException("VMCOREINFO has no SIZE(page)"));
        int pageShift = Integer.numberOfTrailingZeros(pageSize);
        int sectionBits = (int) info.number("SECTION_SIZE_BITS").orElse(X86_64_SECTION_SIZE_BITS);
        int physBits = (int) info.number("MAX_PHYSMEM_BITS")
                .orElse(l5 ? X86_64_MAX_PHYSMEM_BITS_L5 : X86_64_MAX_PHYSMEM_BITS);
        if (sizeSection < 8 || sizeSection > pageSize || offMap < 0 || offMap + 8 > sizeSection || sizePage <= 0
                || sectionBits <= pageShift || sectionBits > 40 || physBits < sectionBits || physBits > 64) {
            throw new KernelUnavailableException("VMCOREINFO's SIZE(mem_section) " + sizeSection
                    + ", OFFSET(mem_section.section_mem_map) " + offMap + ", SECTION_SIZE_BITS " + sectionBits
                    + " and MAX_PHYSMEM_BITS " + physBits + " do not describe a SPARSEMEM memory map");
        }
        long pagesPerSection = 1L << (sectionBits - pageShift);
        long sections = (maxMapnr + pagesPerSection - 1) / pagesPerSection;
        if (sections > 1 << 24) {
            throw new KernelUnavailableException(sections + " memory sections: more than a memory map can have");
        }
        int n = (int) sections;
        // makedumpfile is_sparsemem_extreme(): LENGTH(mem_section) is the number of roots (or absent)
        int perRootExtreme = pageSize / sizeSection;
        long nrMemSections = 1L << (physBits - sectionBits);
        OptionalLong length = info.length("mem_section");
        boolean extreme = length.isEmpty()
                || length.getAsLong() == (nrMemSections + perRootExtreme - 1) / perRootExtreme;
        int perRoot = extreme ? perRootExtreme : 1;
        Layout layout = new Layout(sizeSection, offMap, sizePage, pageShift, sectionBits, perRoot, extreme);
        long[] maps = layout.read(kernel, symbol, n);
        String how = "SYMBOL(mem_section)";
        if (maps == null && extreme) {
            // the symbol's value may be the address of the pointer to the roots (kernels before 4.15, vmlinux)
            try {
                maps = layout.read(kernel, kernel.readU64(symbol), n);
                how = "*SYMBOL(mem_section)";
            } catch (KernelAddressException e) {
                maps = null;
            }
        }
        if (maps == null) {
            throw new KernelUnavailableException("no memory section below pfn 0x" + Long.toHexString(maxMapnr)
                    + " is present in the guest's mem_section (SYMBOL(mem_section) 0x" + Long.toHexString(symbol) + ")");
        }
        return new MemMap(pageShift, sectionBits, sizePage, maps, maxMapnr,
                (extreme ? "SPARSEMEM_EXTREME" : "SPARSEMEM") + " through " + how);
    }

    /** How mem_section is laid out, and reading it. */
    private record Layout(int sizeSection, int offMap, int sizePage, int pageShift, int sectionBits, int perRoot,
            boolean extreme) {

        /**
         * Returns each section's struct page address (0: none) reading the sections from {@code base}, or null when
         * this reading is wrong: no section present, or one whose map is not a kernel address (makedumpfile
         * validate_mem_section()).
         */
        long[] read(KernelMemory kernel, long base, int sections) {
            long[] roots = null;
            if (extreme) {
                int nRoots = (sections + perRoot - 1) / perRoot;
                roots = new long[nRoots];
                try {
                    ByteBuffer b = ByteBuffer.allocate(8 * nRoots).order(kernel.order());
                    kernel.read(base, b);
                    b.flip().asLongBuffer().get(roots);
                } catch (KernelAddressException e) {
                    return null;
                }
            }
            long[] maps = new long[sections];
            boolean any = false;
            ByteBuffer entry = ByteBuffer.allocate(8).order(kernel.order());
            for (int nr = 0; nr < sections; nr++) {
                long section;
                if (extreme) {
                    long root = roots[nr / perRoot];
                    if (root == 0) {
                        continue;
                    }
                    section = root + (long) (nr % perRoot) * sizeSection;
                } else {
                    section = base + (long) nr * sizeSection;
                }
                long map;
                try {
                    kernel.read(section + offMap, entry.clear());
                    map = entry.getLong(0);
                } catch (KernelAddressException e) {
                    continue; // unreadable: no memory map there (makedumpfile: NOT_KV_ADDR, not present)
                }
                if ((map & SECTION_MARKED_PRESENT) == 0) {
                    continue;
                }
                long memMap = (map & SECTION_MAP_MASK) + ((long) nr << (sectionBits - pageShift)) * sizePage;
                if (memMap >= 0) {
                    return null; // not a kernel address: this reading of mem_section is wrong
                }
                maps[nr] = memMap;
                any = true;
            }
            return any ? maps : null;
        }
    }

    /** Returns the number of pfns per section. */
    public long pagesPerSection() {
        return 1L << (sectionShift - pageShift);
    }

    /** Returns the number of sections below the dump's max_mapnr. */
    public int sections() {
        return memMaps.length;
    }

    /** Returns the kernel virtual address of section {@code s}'s first struct page, or empty when it has no map. */
    public OptionalLong memMap(int s) {
        return memMaps[s] == 0 ? OptionalLong.empty() : OptionalLong.of(memMaps[s]);
    }

    /** Returns the kernel virtual address of {@code pfn}'s struct page, or empty when its section has no map. */
    public OptionalLong structPage(long pfn) {
        int s = (int) (pfn >>> (sectionShift - pageShift));
        if (pfn < 0 || s >= memMaps.length || memMaps[s] == 0) {
            return OptionalLong.empty();
        }
        return OptionalLong.of(memMaps[s] + (pfn - ((long) s << (sectionShift - pageShift))) * structPageSize);
    }

    /** Returns SIZE(page). */
    public int structPageSize() {
        return structPageSize;
    }

    /** Returns the pfns of section {@code s} below the dump's max_mapnr: {start, end}. */
    public long[] sectionPfns(int s) {
        long start = (long) s << (sectionShift - pageShift);
        return new long[] {start, Math.min(maxMapnr, start + pagesPerSection())};
    }

    /**
     * Returns one past the highest pfn a makedumpfile dump covers: the dump's max_mapnr, lowered to the end of the
     * last section with a memory map.
     */
    public long maxPfn() {
        return maxPfn;
    }

    /** Returns how many sections have a memory map. */
    public int sectionsWithMap() {
        return (int) Arrays.stream(memMaps).filter(m -> m != 0).count();
    }

    @Override
    public String toString() {
        return model + ": " + sectionsWithMap() + " of " + memMaps.length + " sections of " + (1L << sectionShift >> 20)
                + " MiB with a memory map";
    }
}

package io.vmdumpfs.core.kernel;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.OptionalLong;

/**
 * Where the guest kernel keeps each page's {@code struct page}. FLATMEM kernels (i386 without NUMA) have one array,
 * {@code mem_map}, found as makedumpfile's {@code get_mm_flatmem()} finds it ({@link #openFlatmem}) and cut here into
 * aligned runs of pfns that play the part of sections. The rest of this comment is about SPARSEMEM's memory map,
 * found the way makedumpfile's
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
    /** The pfns {@code [firstMappedPfn, endMappedPfn)} a map may cover (FLATMEM: node 0's span). */
    private final long firstMappedPfn;
    private final long endMappedPfn;
    private final long maxPfn;
    private final String model;

    private MemMap(int pageShift, int sectionShift, int structPageSize, long[] memMaps, long maxMapnr, String model) {
        this(pageShift, sectionShift, structPageSize, memMaps, maxMapnr, 0, maxMapnr, lastMapped(memMaps, maxMapnr,
                sectionShift - pageShift), model);
    }

    private MemMap(int pageShift, int sectionShift, int structPageSize, long[] memMaps, long maxMapnr,
            long firstMappedPfn, long endMappedPfn, long maxPfn, String model) {
        this.pageShift = pageShift;
        this.sectionShift = sectionShift;
        this.structPageSize = structPageSize;
        this.memMaps = memMaps;
        this.maxMapnr = maxMapnr;
        this.firstMappedPfn = firstMappedPfn;
        this.endMappedPfn = endMappedPfn;
        this.maxPfn = maxPfn;
        this.model = model;
    }

    /**
     * makedumpfile get_mem_map() for SPARSEMEM: max_mapnr = MIN(max_mapnr, end of the last section with a memory
     * map), when there is one at all.
     */
    private static long lastMapped(long[] memMaps, long maxMapnr, int sectionPageShift) {
        long max = 0;
        for (int s = 0; s < memMaps.length; s++) {
            if (memMaps[s] != 0) {
                max = Math.max(max, Math.min(maxMapnr, ((long) s + 1) << sectionPageShift));
            }
        }
        return max == 0 ? maxMapnr : Math.min(maxMapnr, max);
    }

    /**
     * Reads the guest kernel's memory map, whichever model it has: SPARSEMEM when VMCOREINFO has SYMBOL(mem_section),
     * else FLATMEM when it has SYMBOL(mem_map), in makedumpfile's order (get_mem_type()).
     *
     * @param wordBytes the guest kernel's pointer size ({@code GuestPlatform.wordBytes()})
     * @throws KernelUnavailableException naming what VMCOREINFO lacks
     */
    public static MemMap open(VmcoreInfoTable info, KernelMemory kernel, int pageSize, long maxMapnr, boolean l5,
            int wordBytes) {
        if (info.symbol("mem_section").isEmpty() && info.symbol("mem_map").isPresent()) {
            return openFlatmem(info, kernel, pageSize, maxMapnr, wordBytes);
        }
        if (info.symbol("mem_section").isEmpty()) {
            throw new KernelUnavailableException("VMCOREINFO has no SYMBOL(mem_section) nor SYMBOL(mem_map)");
        }
        if (wordBytes != 8) {
            // section_mem_map and the roots are 4-byte words there, and kernel addresses are not negative longs
            throw new KernelUnavailableException("SPARSEMEM memory maps of " + 8 * wordBytes
                    + "-bit kernels are not supported (only FLATMEM's SYMBOL(mem_map))");
        }
        return open(info, kernel, pageSize, maxMapnr, l5);
    }

    /** FLATMEM's map is cut into runs of this many pfns (a multiple of every buddy and compound order's alignment). */
    static final int FLATMEM_CHUNK_PAGE_SHIFT = 15;

    /**
     * Reads a FLATMEM memory map as makedumpfile's get_mm_flatmem() does: the pointer variable at SYMBOL(mem_map) is
     * the struct page of pfn 0 (ARCH_PFN_OFFSET on x86; a kernel whose node 0 map is elsewhere is refused), one
     * array for every pfn. Where VMCOREINFO gives node 0's span (SYMBOL(contig_page_data),
     * OFFSET(pglist_data.node_start_pfn) and .node_spanned_pages) only the pfns it spans have a struct page: the
     * kernel allocates mem_map for those alone, so a pfn past them would be judged by bytes that are no struct page.
     * makedumpfile walks all of max_mapnr; we keep such pfns unjudged (dumped) instead, which is the safe side: on a
     * pc guest max_mapnr ends with the BIOS ROM just below 4 GiB, whose "struct pages" would lie far past mem_map's
     * end, beyond low memory.
     * Unlike SPARSEMEM, max_mapnr is not lowered (makedumpfile does not lower it for FLATMEM either).
     *
     * <p>The map is walked in runs of {@code 2^15} pfns, aligned: free blocks and compound pages, aligned to their
     * order (at most MAX_ORDER - 1 = 10 on i386), never cross a run, so the walk matches makedumpfile's single one.
     *
     * @throws KernelUnavailableException naming what VMCOREINFO lacks, or when mem_map is NULL or unreadable
     */
    static MemMap openFlatmem(VmcoreInfoTable info, KernelMemory kernel, int pageSize, long maxMapnr, int wordBytes) {
        long symbol = info.requireSymbol("mem_map");
        int sizePage = (int) info.size("page")
                .orElseThrow(() -> new KernelUnavailableException("VMCOREINFO has no SIZE(page)"));
        if (sizePage <= 0 || sizePage > 1024) {
            throw new KernelUnavailableException("VMCOREINFO's SIZE(page) " + sizePage + " is no struct page");
        }
        int pageShift = Integer.numberOfTrailingZeros(pageSize);
        long memMap;
        try {
            memMap = readWord(kernel, symbol, wordBytes);
        } catch (KernelAddressException e) {
            throw new KernelUnavailableException("SYMBOL(mem_map) 0x" + Long.toHexString(symbol)
                    + " cannot be read: " + e.getMessage());
        }
        if (memMap == 0) {
            throw new KernelUnavailableException("the guest's mem_map (SYMBOL(mem_map) 0x" + Long.toHexString(symbol)
                    + ") is NULL");
        }
        long first = 0;
        long end = maxMapnr;
        String span = " (the dump's max_mapnr)";
        OptionalLong pgdat = info.symbol("contig_page_data");
        OptionalLong offStart = info.offset("pglist_data.node_start_pfn");
        OptionalLong offSpanned = info.offset("pglist_data.node_spanned_pages");
        if (pgdat.isPresent() && offStart.isPresent() && offSpanned.isPresent()) {
            long start;
            long spanned;
            try {
                start = readWord(kernel, pgdat.getAsLong() + offStart.getAsLong(), wordBytes);
                spanned = readWord(kernel, pgdat.getAsLong() + offSpanned.getAsLong(), wordBytes);
            } catch (KernelAddressException e) {
                throw new KernelUnavailableException("SYMBOL(contig_page_data) 0x"
                        + Long.toHexString(pgdat.getAsLong()) + " cannot be read: " + e.getMessage());
            }
            if (spanned <= 0 || Long.compareUnsigned(start, maxMapnr) >= 0) {
                throw new KernelUnavailableException("node 0 spans pfns 0x" + Long.toHexString(start) + " + 0x"
                        + Long.toHexString(spanned) + ": not in the dump's memory (max_mapnr 0x"
                        + Long.toHexString(maxMapnr) + ")");
            }
            OptionalLong offNodeMap = info.offset("pglist_data.node_mem_map");
            if (offNodeMap.isPresent()) {
                // node_mem_map is the struct page of node_start_pfn; with mem_map that of pfn 0 they differ by
                // node_start_pfn struct pages (the kernel's alloc_node_mem_map()), or pfn 0 is not mem_map[0]
                long nodeMap = readWord(kernel, pgdat.getAsLong() + offNodeMap.getAsLong(), wordBytes);
                if (nodeMap != memMap + start * sizePage) {
                    throw new KernelUnavailableException("node 0's node_mem_map 0x" + Long.toHexString(nodeMap)
                            + " is not mem_map 0x" + Long.toHexString(memMap) + " + node_start_pfn 0x"
                            + Long.toHexString(start) + " struct pages: pfn 0 is not mem_map[0]");
                }
            }
            first = start;
            end = Math.min(maxMapnr, start + spanned);
            span = " (node 0's span)";
        }
        try {
            // the first struct page must be readable: else this mem_map is no map of this dump's kernel
            kernel.read(memMap + first * sizePage, ByteBuffer.allocate(sizePage));
        } catch (KernelAddressException e) {
            throw new KernelUnavailableException("the guest's mem_map 0x" + Long.toHexString(memMap)
                    + " cannot be read: " + e.getMessage());
        }
        int chunkShift = pageShift + FLATMEM_CHUNK_PAGE_SHIFT;
        long chunks = (maxMapnr + (1L << FLATMEM_CHUNK_PAGE_SHIFT) - 1) >>> FLATMEM_CHUNK_PAGE_SHIFT;
        if (chunks > 1 << 24) {
            throw new KernelUnavailableException(maxMapnr + " pfns: more than a FLATMEM memory map can have");
        }
        long[] maps = new long[(int) chunks];
        for (int c = 0; c < maps.length; c++) {
            long cStart = (long) c << FLATMEM_CHUNK_PAGE_SHIFT;
            if (cStart < end && cStart + (1L << FLATMEM_CHUNK_PAGE_SHIFT) > first) {
                // the struct page of the run's first pfn, as an address (it may be before the node's first pfn)
                maps[c] = memMap + cStart * sizePage;
            }
        }
        return new MemMap(pageShift, chunkShift, sizePage, maps, maxMapnr, first, end, maxMapnr,
                "FLATMEM through SYMBOL(mem_map): mem_map 0x" + Long.toHexString(memMap) + ", struct pages of pfns 0x"
                        + Long.toHexString(first) + "-0x" + Long.toHexString(end) + span);
    }

    private static long readWord(KernelMemory kernel, long kernelVaddr, int wordBytes) {
        return wordBytes == 8 ? kernel.readU64(kernelVaddr) : kernel.readU32(kernelVaddr);
    }

    /**
     * Reads the SPARSEMEM memory map of a 64-bit kernel, the sections below {@code maxMapnr} (one past the highest
     * pfn of the dump).
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
        if (pfn < firstMappedPfn || pfn >= endMappedPfn || s >= memMaps.length || memMaps[s] == 0) {
            return OptionalLong.empty();
        }
        return OptionalLong.of(memMaps[s] + (pfn - ((long) s << (sectionShift - pageShift))) * structPageSize);
    }

    /** Returns SIZE(page). */
    public int structPageSize() {
        return structPageSize;
    }

    /**
     * Returns the pfns of section {@code s} below the dump's max_mapnr that the map may cover: {start, end}
     * (FLATMEM: a run of pfns, cut to node 0's span; possibly empty).
     */
    public long[] sectionPfns(int s) {
        long start = (long) s << (sectionShift - pageShift);
        long from = Math.max(start, firstMappedPfn);
        return new long[] {from, Math.max(from, Math.min(endMappedPfn, Math.min(maxMapnr, start + pagesPerSection())))};
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
        if (model.startsWith("FLATMEM")) {
            return model;
        }
        return model + ": " + sectionsWithMap() + " of " + memMaps.length + " sections of " + (1L << sectionShift >> 20)
                + " MiB with a memory map";
    }
}

package io.vmdumpfs.core.testing;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * A synthetic x86_64 guest whose kernel has a SPARSEMEM_VMEMMAP memory map, for filtered kdump files: 32 MiB of RAM
 * at 0 plus the 256 KiB BIOS ROM below 4 GiB (a block beyond the memory map, as on a real pc), a KASLR-moved
 * kernel image, a direct map, {@code mem_section} in the direct map and {@code struct page}s (Debian 6.1's layout:
 * SIZE(page) 64) in guest RAM mapped at {@link #VMEMMAP}. Sections are 8 MiB ({@code SECTION_SIZE_BITS=23}), so the
 * RAM has four; which of them have a memory map, and how {@code mem_section} is laid out, are the builder's choice.
 *
 * <pre>
 * SyntheticMemMap m = new SyntheticMemMap(tmp, Layout.EXTREME, true, true, true, true);
 * m.pages().putLong(0x200 * 64, 1L << 4);   // pfn 0x200 on an LRU list
 * SyntheticGuest g = m.build("");            // extra VMCOREINFO lines
 * </pre>
 */
public final class SyntheticMemMap {

    /** How {@code mem_section} is laid out. */
    public enum Layout {
        /** SPARSEMEM_EXTREME, SYMBOL(mem_section) the array of root pointers (4.15 and later). */
        EXTREME,
        /** SPARSEMEM_EXTREME, SYMBOL(mem_section) the address of a pointer to that array (older kernels). */
        EXTREME_POINTER,
        /** Classic SPARSEMEM: SYMBOL(mem_section) an array of NR_MEM_SECTIONS struct mem_section. */
        CLASSIC
    }

    public static final long START = 0xffff_ffff_8000_0000L;
    public static final long STEXT = START + 0x3000000;
    public static final long STEXT_PADDR = 0x800000;
    public static final long ROOT_PADDR = 0x900000;
    public static final long UTS_PADDR = 0xa00000;
    public static final long DMAP = 0xffff_9e00_0000_0000L;
    public static final long VMEMMAP = 0xffff_ea00_0000_0000L;
    public static final long RAM = 32L << 20;
    public static final long BIOS = 0xfffc0000L;
    public static final int SECTION_BITS = 23;
    public static final int PAGES_PER_SECTION = 1 << (SECTION_BITS - 12);
    public static final int STRUCT_PAGE = 64;
    /** Where the struct pages of the RAM's 8192 pfns are (512 KiB). */
    public static final long STRUCT_PAGES_PADDR = 0x1800000;
    /** Where mem_section (and its roots) are. */
    public static final long MEM_SECTION_PADDR = 0x1f00000;

    /** VMCOREINFO of Debian's 6.1 about struct page, as {@code PageClassifierTest} uses it. */
    public static final String STRUCT_PAGE_INFO = """
            SIZE(page)=64
            OFFSET(page.flags)=0
            OFFSET(page._refcount)=52
            OFFSET(page.mapping)=24
            OFFSET(page.lru)=8
            OFFSET(page._mapcount)=48
            OFFSET(page.private)=40
            OFFSET(page.compound_dtor)=16
            OFFSET(page.compound_order)=17
            OFFSET(page.compound_head)=8
            LENGTH(zone.free_area)=11
            NUMBER(PG_lru)=4
            NUMBER(PG_private)=13
            NUMBER(PG_swapcache)=10
            NUMBER(PG_swapbacked)=19
            NUMBER(PG_slab)=9
            NUMBER(PG_head_mask)=65536
            NUMBER(HUGETLB_PAGE_DTOR)=2
            NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129
            NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257
            """;

    private final Path dir;
    private final Layout layout;
    private final boolean[] mapped;
    /** VMCOREINFO lines left out, for kernels that lack them. */
    private final java.util.List<String> omitted = new java.util.ArrayList<>();
    private final ByteBuffer pages = ByteBuffer.allocate((int) (RAM / 4096) * STRUCT_PAGE)
            .order(ByteOrder.LITTLE_ENDIAN);

    /** @param mapped for each of the RAM's four sections, whether it has a memory map */
    public SyntheticMemMap(Path dir, Layout layout, boolean... mapped) {
        if (mapped.length != 4) {
            throw new IllegalArgumentException("four sections");
        }
        this.dir = dir;
        this.layout = layout;
        this.mapped = mapped.clone();
    }

    /** Returns the struct pages of pfns 0 to 8191 (little-endian, SIZE(page) bytes each), zero until set. */
    public ByteBuffer pages() {
        return pages;
    }

    /** Leaves the VMCOREINFO line {@code line} (such as "NUMBER(PG_lru)=4") out; returns this. */
    public SyntheticMemMap omit(String line) {
        omitted.add(line + "\n");
        return this;
    }

    /** Returns the kernel virtual address of {@code pfn}'s struct page. */
    public static long structPage(long pfn) {
        return VMEMMAP + pfn * STRUCT_PAGE;
    }

    /** Returns the guest's VMCOREINFO: the kernel, its memory map, struct page, and {@code extra}. */
    public String vmcoreinfo(String extra) {
        long physBase = STEXT_PADDR - (STEXT - START);
        // NR_MEM_SECTIONS = 2^(46 - 23); SPARSEMEM_EXTREME has one root per 4096 / 16 of them
        long nrSections = 1L << (46 - SECTION_BITS);
        long length = layout == Layout.CLASSIC ? nrSections : nrSections / 256;
        String text = "OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\n"
                + "SYMBOL(init_uts_ns)=" + Long.toHexString(STEXT + (UTS_PADDR - STEXT_PADDR)) + "\n"
                + "OFFSET(uts_namespace.name)=0\n"
                + "SYMBOL(_stext)=" + Long.toHexString(STEXT) + "\n"
                + "SYMBOL(init_top_pgt)=" + Long.toHexString(STEXT + (ROOT_PADDR - STEXT_PADDR)) + "\n"
                + "SYMBOL(mem_section)=" + Long.toHexString(DMAP + MEM_SECTION_PADDR) + "\n"
                + "NUMBER(phys_base)=" + physBase + "\n"
                + "NUMBER(pgtable_l5_enabled)=0\nKERNELOFFSET=2000000\nNUMBER(KERNEL_IMAGE_SIZE)=1073741824\n"
                + "SIZE(mem_section)=16\nOFFSET(mem_section.section_mem_map)=0\nLENGTH(mem_section)=" + length + "\n"
                + "NUMBER(SECTION_SIZE_BITS)=" + SECTION_BITS + "\nNUMBER(MAX_PHYSMEM_BITS)=46\n"
                + STRUCT_PAGE_INFO + extra;
        for (String line : omitted) {
            if (!text.contains(line)) {
                throw new IllegalArgumentException("no VMCOREINFO line " + line.strip());
            }
            text = text.replace(line, "");
        }
        return text;
    }

    /** Builds the guest with {@code extraVmcoreinfo}; the caller closes it. */
    public SyntheticGuest build(String extraVmcoreinfo) {
        SyntheticGuest guest = SyntheticGuest.builder(dir).block(0, RAM, "pc.ram").block(BIOS, 0x40000, "pc.bios")
                .vmcoreinfo(vmcoreinfo(extraVmcoreinfo)).vcpus(2).build();
        SyntheticKernel k = new SyntheticKernel(guest, 4, ROOT_PADDR);
        k.map2m(STEXT, STEXT_PADDR).map2m(STEXT + (2 << 20), STEXT_PADDR + (2 << 20));
        for (long p = 0; p < RAM; p += 2 << 20) {
            k.map2m(DMAP + p, p);
        }
        k.map4kRange(VMEMMAP, STRUCT_PAGES_PADDR, pages.capacity());
        k.putUtsname(UTS_PADDR, "Linux", "synthetic-guest", "6.1.0-synthetic", "#1 SMP PREEMPT_DYNAMIC Test",
                "x86_64", "(none)");
        k.put(STRUCT_PAGES_PADDR, pages.array());
        k.put(MEM_SECTION_PADDR, memSection());
        k.write();
        return guest;
    }

    /** Returns mem_section's bytes at MEM_SECTION_PADDR: roots (or the pointer to them) and the sections. */
    private byte[] memSection() {
        ByteBuffer b = ByteBuffer.allocate(3 * 4096).order(ByteOrder.LITTLE_ENDIAN);
        long roots = MEM_SECTION_PADDR; // guest-physical
        long sections = MEM_SECTION_PADDR + 4096;
        switch (layout) {
            case EXTREME -> b.putLong(0, DMAP + sections); // root 0; the others stay NULL
            case EXTREME_POINTER -> {
                roots = MEM_SECTION_PADDR + 2 * 4096;
                b.putLong(0, DMAP + roots); // the symbol's value points at the pointer to the roots
                b.putLong((int) (roots - MEM_SECTION_PADDR), DMAP + sections);
            }
            case CLASSIC -> sections = MEM_SECTION_PADDR;
        }
        for (int s = 0; s < 4; s++) {
            if (mapped[s]) {
                // section_mem_map: the map's address minus the section's first pfn's offset, flags in the low bits
                // (SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP)
                long encoded = structPage((long) s * PAGES_PER_SECTION) - (long) s * PAGES_PER_SECTION * STRUCT_PAGE;
                b.putLong((int) (sections - MEM_SECTION_PADDR) + 16 * s, encoded | 3);
            }
        }
        return b.array();
    }
}

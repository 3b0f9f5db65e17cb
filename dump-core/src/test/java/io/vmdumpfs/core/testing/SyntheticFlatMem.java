package io.vmdumpfs.core.testing;

import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.GuestPlatform;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A synthetic i386 PAE guest whose kernel has a FLATMEM memory map, for filtered kdump files of 32-bit kernels: 32
 * MiB of RAM at 0 plus the 256 KiB BIOS ROM below 4 GiB (past node 0's span and mem_map's end, as on a real pc),
 * low memory mapped at PAGE_OFFSET 0xc0000000 with 2 MiB pages (the image inside it at 8 MiB), the pointer variable
 * {@code mem_map} and {@code contig_page_data} (node 0 spanning pfns 1 to 8191, as x86's first page is reserved
 * before memblock sees it) in guest RAM, and one {@code struct page} per pfn from pfn 0 in Debian 6.1 686-pae's
 * layout (SIZE(page) 40, 4-byte words; copied from the i386 fixture's VMCOREINFO).
 *
 * <pre>
 * SyntheticFlatMem m = new SyntheticFlatMem(tmp);
 * m.pages().putInt(0x200 * 40, 1 &lt;&lt; 4);   // pfn 0x200 on an LRU list
 * SyntheticGuest g = m.build("");             // extra VMCOREINFO lines
 * </pre>
 */
public final class SyntheticFlatMem {

    public static final GuestPlatform I386 = new GuestPlatform(GuestArch.I386, ByteOrder.LITTLE_ENDIAN, 4096,
            "synthetic i386");
    public static final long PAGE_OFFSET = 0xc000_0000L;
    public static final long STEXT = PAGE_OFFSET + 0x800000;
    public static final long ROOT_PADDR = 0xa00000;
    public static final long UTS_PADDR = 0x9f0000;
    public static final long RAM = 32L << 20;
    public static final long BIOS = 0xfffc0000L;
    public static final int STRUCT_PAGE = 40;
    /** Where the struct pages of the RAM's 8192 pfns are (320 KiB), pfn 0's first. */
    public static final long MEM_MAP_PADDR = 0x1800000;
    /** Where the variable {@code mem_map} (a pointer to MEM_MAP_PADDR's struct pages) is. */
    public static final long MEM_MAP_VAR_PADDR = 0x1f00000;
    /** Where {@code contig_page_data} (node 0's pglist_data) is. */
    public static final long PGDAT_PADDR = 0x1f01000;
    /** Its fields, at the 6.1 686-pae kernel's offsets. */
    public static final int OFF_NODE_MEM_MAP = 3116;
    public static final int OFF_NODE_START_PFN = 3124;
    public static final int OFF_NODE_SPANNED = 3132;
    public static final long NODE_START_PFN = 1;
    public static final long NODE_SPANNED = RAM / 4096 - 1;

    /** VMCOREINFO of Debian's 6.1.0-57-686-pae about struct page (from the i386 fixture). */
    public static final String STRUCT_PAGE_INFO = """
            SIZE(page)=40
            OFFSET(page.flags)=0
            OFFSET(page._refcount)=28
            OFFSET(page.mapping)=12
            OFFSET(page.lru)=4
            OFFSET(page._mapcount)=24
            OFFSET(page.private)=20
            OFFSET(page.compound_dtor)=8
            OFFSET(page.compound_order)=9
            OFFSET(page.compound_head)=4
            OFFSET(list_head.next)=0
            OFFSET(list_head.prev)=4
            LENGTH(zone.free_area)=11
            NUMBER(PG_lru)=4
            NUMBER(PG_private)=13
            NUMBER(PG_swapcache)=10
            NUMBER(PG_swapbacked)=19
            NUMBER(PG_slab)=9
            NUMBER(PG_head_mask)=65536
            NUMBER(PG_hwpoison)=23
            NUMBER(HUGETLB_PAGE_DTOR)=2
            NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129
            NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257
            """;

    private final Path dir;
    private final List<String> omitted = new ArrayList<>();
    private final ByteBuffer pages = ByteBuffer.allocate((int) (RAM / 4096) * STRUCT_PAGE)
            .order(ByteOrder.LITTLE_ENDIAN);
    private long memMapValue = PAGE_OFFSET + MEM_MAP_PADDR;
    private long nodeMemMap = PAGE_OFFSET + MEM_MAP_PADDR + NODE_START_PFN * STRUCT_PAGE;

    public SyntheticFlatMem(Path dir) {
        this.dir = dir;
    }

    /** Returns the struct pages of pfns 0 to 8191 (little-endian, 40 bytes each), zero until set. */
    public ByteBuffer pages() {
        return pages;
    }

    /** Leaves the VMCOREINFO line {@code line} (such as "SYMBOL(contig_page_data)=...") out; returns this. */
    public SyntheticFlatMem omit(String line) {
        omitted.add(line);
        return this;
    }

    /** Sets the value of the variable {@code mem_map} (default: the struct page of pfn 0); returns this. */
    public SyntheticFlatMem memMapValue(long kernelVaddr) {
        memMapValue = kernelVaddr;
        return this;
    }

    /** Sets node 0's {@code node_mem_map} (default: the struct page of NODE_START_PFN); returns this. */
    public SyntheticFlatMem nodeMemMap(long kernelVaddr) {
        nodeMemMap = kernelVaddr;
        return this;
    }

    /** Returns the kernel virtual address of {@code pfn}'s struct page. */
    public static long structPage(long pfn) {
        return PAGE_OFFSET + MEM_MAP_PADDR + pfn * STRUCT_PAGE;
    }

    /** Returns the guest's VMCOREINFO: the kernel, its memory map, struct page, and {@code extra}. */
    public String vmcoreinfo(String extra) {
        String text = "OSRELEASE=6.1.0-synthetic-686-pae\nPAGESIZE=4096\n"
                + "SYMBOL(init_uts_ns)=" + Long.toHexString(PAGE_OFFSET + UTS_PADDR) + "\n"
                + "OFFSET(uts_namespace.name)=0\n"
                + "SYMBOL(swapper_pg_dir)=" + Long.toHexString(PAGE_OFFSET + ROOT_PADDR) + "\n"
                + "SYMBOL(_stext)=" + Long.toHexString(STEXT) + "\n"
                + "CONFIG_X86_PAE=y\n"
                + "SYMBOL(mem_map)=" + Long.toHexString(PAGE_OFFSET + MEM_MAP_VAR_PADDR) + "\n"
                + "SYMBOL(contig_page_data)=" + Long.toHexString(PAGE_OFFSET + PGDAT_PADDR) + "\n"
                + "OFFSET(pglist_data.node_mem_map)=" + OFF_NODE_MEM_MAP + "\n"
                + "OFFSET(pglist_data.node_start_pfn)=" + OFF_NODE_START_PFN + "\n"
                + "OFFSET(pglist_data.node_spanned_pages)=" + OFF_NODE_SPANNED + "\n"
                + STRUCT_PAGE_INFO + extra;
        for (String prefix : omitted) {
            int at = text.indexOf(prefix);
            if (at < 0 || at > 0 && text.charAt(at - 1) != '\n') {
                throw new IllegalArgumentException("no VMCOREINFO line " + prefix);
            }
            text = text.substring(0, at) + text.substring(text.indexOf('\n', at) + 1);
        }
        return text;
    }

    /** Builds the guest with {@code extraVmcoreinfo}; the caller closes it. */
    public SyntheticGuest build(String extraVmcoreinfo) {
        SyntheticGuest guest = SyntheticGuest.builder(dir).platform(I386).block(0, RAM, "pc.ram")
                .block(BIOS, 0x40000, "pc.bios").vmcoreinfo(vmcoreinfo(extraVmcoreinfo)).vcpusCounted(2).build();
        SyntheticKernel k = new SyntheticKernel(guest, 3, ROOT_PADDR);
        for (long p = 0; p < RAM; p += 2 << 20) {
            k.map2m(PAGE_OFFSET + p, p);
        }
        k.putUtsname(UTS_PADDR, "Linux", "synthetic-i386", "6.1.0-synthetic-686-pae", "#1 SMP PREEMPT_DYNAMIC Test",
                "i686", "(none)");
        k.put(MEM_MAP_PADDR, pages.array());
        ByteBuffer var = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, (int) memMapValue);
        k.put(MEM_MAP_VAR_PADDR, var.array());
        ByteBuffer pgdat = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        pgdat.putInt(OFF_NODE_MEM_MAP, (int) nodeMemMap);
        pgdat.putInt(OFF_NODE_START_PFN, (int) NODE_START_PFN);
        pgdat.putInt(OFF_NODE_SPANNED, (int) NODE_SPANNED);
        k.put(PGDAT_PADDR, pgdat.array());
        k.write();
        return guest;
    }
}

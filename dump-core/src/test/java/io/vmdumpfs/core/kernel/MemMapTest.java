package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.testing.SyntheticFlatMem;
import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticMemMap;
import io.vmdumpfs.core.testing.SyntheticMemMap.Layout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The guest's memory map found from VMCOREINFO as makedumpfile finds it, on synthetic kernels: SPARSEMEM_EXTREME
 * (roots at the symbol, or behind a pointer at it) and classic SPARSEMEM, sections with and without a map, and the
 * dump's end lowered to the last section with one.
 */
class MemMapTest {

    /** One past the highest pfn of the synthetic guest: the BIOS ROM's last page, just below 4 GiB. */
    static final long MAX_MAPNR = 0x100000;

    @TempDir
    Path tmp;

    private SyntheticGuest guest;

    @AfterEach
    void tearDown() throws Exception {
        if (guest != null) {
            guest.close();
        }
    }

    private MemMap open(SyntheticMemMap m, String extra) {
        guest = m.build(extra);
        GuestKernel k = GuestKernel.open(guest.dump());
        return MemMap.open(k.vmcoreinfo(), k.memory().bulk(), 4096, MAX_MAPNR, false);
    }

    private void assertVmemmap(MemMap map, boolean... mapped) {
        assertEquals(MAX_MAPNR / SyntheticMemMap.PAGES_PER_SECTION, map.sections());
        for (int s = 0; s < mapped.length; s++) {
            long pfn = (long) s * SyntheticMemMap.PAGES_PER_SECTION + 77;
            assertEquals(mapped[s] ? OptionalLong.of(SyntheticMemMap.structPage(pfn)) : OptionalLong.empty(),
                    map.structPage(pfn), "pfn " + pfn);
        }
        assertEquals(OptionalLong.empty(), map.structPage(0xfffc0), "the BIOS ROM has no struct page");
    }

    @Test
    void open_sparsememExtreme_rootsAtTheSymbol() {
        MemMap map = open(new SyntheticMemMap(tmp, Layout.EXTREME, true, true, false, true), "");
        assertVmemmap(map, true, true, false, true);
        assertEquals(3, map.sectionsWithMap());
        assertEquals(4L * SyntheticMemMap.PAGES_PER_SECTION, map.maxPfn(), "ends with the last mapped section");
        assertEquals(SyntheticMemMap.structPage(2048), map.memMap(1).getAsLong());
        assertTrue(map.toString().startsWith("SPARSEMEM_EXTREME through SYMBOL(mem_section): 3 of 512"), map.toString());
    }

    @Test
    void open_sparsememExtreme_rootsBehindAPointer() {
        MemMap map = open(new SyntheticMemMap(tmp, Layout.EXTREME_POINTER, true, true, true, true), "");
        assertVmemmap(map, true, true, true, true);
        assertTrue(map.toString().startsWith("SPARSEMEM_EXTREME through *SYMBOL(mem_section)"), map.toString());
    }

    @Test
    void open_classicSparsemem_sectionsAtTheSymbol() {
        MemMap map = open(new SyntheticMemMap(tmp, Layout.CLASSIC, true, false, true, false), "");
        assertVmemmap(map, true, false, true, false);
        assertEquals(3L * SyntheticMemMap.PAGES_PER_SECTION, map.maxPfn(), "section 3 has no map: the dump ends before");
        assertTrue(map.toString().startsWith("SPARSEMEM through SYMBOL(mem_section)"), map.toString());
    }

    @Test
    void open_noSectionPresent_refusedNamingTheSymbol() {
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> open(new SyntheticMemMap(tmp, Layout.EXTREME, false, false, false, false), ""));
        assertTrue(e.getMessage().contains("no memory section below pfn 0x100000"), e.getMessage());
        assertTrue(e.getMessage().contains("SYMBOL(mem_section)"), e.getMessage());
    }

    @Test
    void open_missingSizeOfMemSection_refusedNamingIt() {
        SyntheticMemMap m = new SyntheticMemMap(tmp, Layout.EXTREME, true, true, true, true);
        guest = m.build("");
        GuestKernel k = GuestKernel.open(guest.dump());
        VmcoreInfoTable without = VmcoreInfoTable.parse(m.vmcoreinfo("").replace("SIZE(mem_section)=16\n", ""));
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> MemMap.open(without, k.memory().bulk(), 4096, MAX_MAPNR, false));
        assertEquals("VMCOREINFO has no SIZE(mem_section)", e.getMessage());
        VmcoreInfoTable noSymbol = VmcoreInfoTable.parse(m.vmcoreinfo("").replaceAll("SYMBOL\\(mem_section\\)=.*\n", ""));
        e = assertThrows(KernelUnavailableException.class,
                () -> MemMap.open(noSymbol, k.memory().bulk(), 4096, MAX_MAPNR, false));
        assertTrue(e.getMessage().contains("SYMBOL(mem_section)"), e.getMessage());
    }

    @Test
    void open_sectionMapNotAKernelAddress_thatReadingRefused() {
        // a "present" section whose map decodes to a user address: mem_section was misread, nothing is guessed
        SyntheticMemMap m = new SyntheticMemMap(tmp, Layout.CLASSIC, true, true, true, true);
        m.pages().putLong(0, 0x1001); // pfn 0's flags, read as section 0's section_mem_map: present, at 0x1000
        guest = m.build("");
        GuestKernel k = GuestKernel.open(guest.dump());
        VmcoreInfoTable shifted = VmcoreInfoTable.parse(m.vmcoreinfo("").replace(
                "SYMBOL(mem_section)=" + Long.toHexString(SyntheticMemMap.DMAP + SyntheticMemMap.MEM_SECTION_PADDR),
                "SYMBOL(mem_section)=" + Long.toHexString(SyntheticMemMap.DMAP + SyntheticMemMap.STRUCT_PAGES_PADDR)));
        assertThrows(KernelUnavailableException.class,
                () -> MemMap.open(shifted, k.memory().bulk(), 4096, MAX_MAPNR, false));
    }

    // ------------------------------------------------------------------ FLATMEM (i386)

    private MemMap openFlat(SyntheticFlatMem m) {
        guest = m.build("");
        GuestKernel k = GuestKernel.open(guest.dump());
        return MemMap.open(k.vmcoreinfo(), k.memory().bulk(), 4096, MAX_MAPNR, false, 4);
    }

    @Test
    void open_flatmem_memMapIsPfn0sStructPage_cutToNode0sSpan() {
        MemMap map = openFlat(new SyntheticFlatMem(tmp));
        assertEquals(40, map.structPageSize());
        assertEquals(OptionalLong.of(SyntheticFlatMem.structPage(1)), map.structPage(1));
        assertEquals(OptionalLong.of(SyntheticFlatMem.structPage(0x1fff)), map.structPage(0x1fff));
        assertEquals(OptionalLong.empty(), map.structPage(0), "pfn 0: before node 0's span");
        assertEquals(OptionalLong.empty(), map.structPage(0x2000), "past node 0's span");
        assertEquals(OptionalLong.empty(), map.structPage(0xfffc0), "the BIOS ROM has no struct page");
        assertEquals(MAX_MAPNR, map.maxPfn(), "FLATMEM: max_mapnr is not lowered (makedumpfile neither)");
        assertEquals(1, map.sectionsWithMap(), "32 MiB: one run of 128 MiB");
        assertEquals(MAX_MAPNR >>> MemMap.FLATMEM_CHUNK_PAGE_SHIFT, map.sections());
        assertEquals(List.of(1L, 0x2000L), Arrays.stream(map.sectionPfns(0)).boxed().toList());
        assertEquals(map.sectionPfns(1)[0], map.sectionPfns(1)[1], "runs past the span are empty");
        assertTrue(map.toString().startsWith("FLATMEM through SYMBOL(mem_map): mem_map 0xc1800000, struct pages of"
                + " pfns 0x1-0x2000 (node 0's span)"), map.toString());
    }

    @Test
    void open_flatmemWithoutNodeData_everyPfnOfTheDump() {
        // makedumpfile's get_mm_flatmem(): mem_map for all of max_mapnr
        MemMap map = openFlat(new SyntheticFlatMem(tmp).omit("SYMBOL(contig_page_data)="));
        assertEquals(OptionalLong.of(SyntheticFlatMem.structPage(0)), map.structPage(0));
        assertEquals(OptionalLong.of(SyntheticFlatMem.structPage(0x3000)), map.structPage(0x3000));
        assertEquals(MAX_MAPNR >>> MemMap.FLATMEM_CHUNK_PAGE_SHIFT, map.sectionsWithMap());
        assertTrue(map.toString().startsWith("FLATMEM through SYMBOL(mem_map): mem_map 0xc1800000, struct pages of pfns"
                + " 0x0-0x100000 (the dump's max_mapnr)"),
                map.toString());
    }

    @Test
    void open_flatmemNodeMapNotMemMapPlusStart_refused() {
        // ARCH_PFN_OFFSET other than 0, or a misread: pfn 0 is not mem_map[0], and nothing is guessed
        SyntheticFlatMem m = new SyntheticFlatMem(tmp).nodeMemMap(SyntheticFlatMem.structPage(0));
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class, () -> openFlat(m));
        assertTrue(e.getMessage().contains("pfn 0 is not mem_map[0]"), e.getMessage());
    }

    @Test
    void open_flatmemNullOrUnmapped_refused() {
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> openFlat(new SyntheticFlatMem(tmp).memMapValue(0).omit("SYMBOL(contig_page_data)=")));
        assertTrue(e.getMessage().contains("is NULL"), e.getMessage());
    }

    @Test
    void open_flatmemUnmappedMemMap_refused() {
        // beyond the 32 MiB of low memory the page tables map
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> openFlat(new SyntheticFlatMem(tmp).memMapValue(0xf000_0000L).omit("SYMBOL(contig_page_data)=")));
        assertTrue(e.getMessage().contains("mem_map 0xf0000000 cannot be read"), e.getMessage());
    }

    @Test
    void open_noMemoryModelOrSparsememOf32Bit_refused() {
        SyntheticFlatMem m = new SyntheticFlatMem(tmp);
        guest = m.build("");
        GuestKernel k = GuestKernel.open(guest.dump());
        VmcoreInfoTable none = VmcoreInfoTable.parse(m.vmcoreinfo("").replaceAll("SYMBOL\\(mem_map\\)=.*\n", ""));
        assertEquals("VMCOREINFO has no SYMBOL(mem_section) nor SYMBOL(mem_map)", assertThrows(
                KernelUnavailableException.class,
                () -> MemMap.open(none, k.memory().bulk(), 4096, MAX_MAPNR, false, 4)).getMessage());
        VmcoreInfoTable sparse = VmcoreInfoTable.parse(m.vmcoreinfo("SYMBOL(mem_section)=c1f00000\n"));
        assertTrue(assertThrows(KernelUnavailableException.class,
                () -> MemMap.open(sparse, k.memory().bulk(), 4096, MAX_MAPNR, false, 4)).getMessage()
                .contains("SPARSEMEM memory maps of 32-bit kernels are not supported"));
    }
}

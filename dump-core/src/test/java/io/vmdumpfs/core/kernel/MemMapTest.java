package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticMemMap;
import io.vmdumpfs.core.testing.SyntheticMemMap.Layout;
import java.nio.file.Path;
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
}

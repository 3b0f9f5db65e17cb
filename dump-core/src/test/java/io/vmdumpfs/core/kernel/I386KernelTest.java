package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.format.ElfLoads;
import io.vmdumpfs.core.format.LoadSegment;
import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticKernel;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A synthetic i386 PAE kernel in a synthetic guest (32 MiB of RAM plus the BIOS ROM below 4 GiB): low memory mapped
 * at PAGE_OFFSET with 2 MiB pages (the image inside it, KASLR-moved to 8 MiB), a vmalloc page, {@code init_uts_ns},
 * and VMCOREINFO as 6.1's crash_core_32.c writes it. Checked: what {@link I386Kernel} takes from VMCOREINFO and what
 * {@link GuestKernel} and vmcore.elf's program headers make of it.
 */
class I386KernelTest {

    static final long PAGE_OFFSET = 0xc000_0000L;
    static final long STEXT = PAGE_OFFSET + 0x800000;
    static final long ROOT_PADDR = 0xa00000;
    static final long UTS_PADDR = 0x9f0000;
    static final long VMALLOC = 0xf800_3000L;
    static final long RAM = 32L << 20;
    static final GuestPlatform I386 = new GuestPlatform(GuestArch.I386, ByteOrder.LITTLE_ENDIAN, 4096, "test");
    static final String[] UTS = {"Linux", "synthetic-i386", "6.1.0-synthetic-686-pae", "#1 SMP Test", "i686",
        "(none)"};

    @TempDir
    Path tmp;

    private SyntheticGuest guest;

    @AfterEach
    void tearDown() throws Exception {
        if (guest != null) {
            guest.close();
        }
    }

    static String vmcoreinfo(long stext, long root, boolean pae) {
        return "OSRELEASE=6.1.0-synthetic-686-pae\nPAGESIZE=4096\n"
                + "SYMBOL(init_uts_ns)=" + Long.toHexString(PAGE_OFFSET + UTS_PADDR) + "\n"
                + "OFFSET(uts_namespace.name)=0\n"
                + "SYMBOL(swapper_pg_dir)=" + Long.toHexString(root) + "\n"
                + "SYMBOL(_stext)=" + Long.toHexString(stext) + "\n"
                + (pae ? "CONFIG_X86_PAE=y\n" : "");
    }

    private static VmcoreInfoTable info(long stext, long root, boolean pae) {
        return VmcoreInfoTable.parse(vmcoreinfo(stext, root, pae));
    }

    private GuestKernel build() {
        return build(false);
    }

    /** Builds the guest; with {@code imageElsewhere} its tables map _stext's 2 MiB page to other memory. */
    private GuestKernel build(boolean imageElsewhere) {
        guest = SyntheticGuest.builder(tmp).platform(I386).block(0, RAM, "pc.ram")
                .block(0xfffc0000L, 0x40000, "pc.bios").build();
        SyntheticKernel k = new SyntheticKernel(guest, 3, ROOT_PADDR);
        for (long p = 0; p < RAM; p += 2 << 20) {
            k.map2m(PAGE_OFFSET + p, imageElsewhere && p == 0x800000 ? 0x1000000 : p);
        }
        k.map4k(VMALLOC, 0x1f00000);
        k.putUtsname(UTS_PADDR, UTS);
        k.write();
        return GuestKernel.open(I386, guest.dump().memory(), info(STEXT, PAGE_OFFSET + ROOT_PADDR, true));
    }

    @Test
    void addressSpace_vmcoreinfoOf61_paeTablesAtSwapperPgDirLessPageOffset() {
        KernelAddressSpace s = I386Kernel.INSTANCE.addressSpace(info(0xca000000L, 0xcaea6000L, true), I386);
        I386PageTables t = (I386PageTables) s.tables();
        assertTrue(t.pae());
        assertEquals(0x0aea6000L, t.rootGuestPaddr());
        assertEquals(new KernelImageWindow(0xca000000L, 0xea7000L, 0x0a000000L), s.image());
        assertFalse(((I386PageTables) I386Kernel.INSTANCE.addressSpace(info(0xca000000L, 0xcaea6000L, false), I386)
                .tables()).pae(), "no CONFIG_X86_PAE: the 2-level format");
    }

    @Test
    void pageOffset_otherVmsplits_highestThatFits() {
        assertEquals(0xc000_0000L, I386Kernel.pageOffset(info(0xc100_0000L, 0xc200_0000L, true)));
        assertEquals(0xb000_0000L, I386Kernel.pageOffset(info(0xb100_0000L, 0xb200_0000L, true)), "VMSPLIT_3G_OPT");
        assertEquals(0x8000_0000L, I386Kernel.pageOffset(info(0x8100_0000L, 0x8200_0000L, true)), "VMSPLIT_2G");
        assertEquals(0x4000_0000L, I386Kernel.pageOffset(info(0x4100_0000L, 0x4200_0000L, true)), "VMSPLIT_1G");
        assertThrows(KernelUnavailableException.class, () -> I386Kernel.pageOffset(info(0x0100_0000L, 0x0200_0000L,
                true)));
    }

    @Test
    void addressSpace_swapperBeforeStextOrNot32Bit_unavailable() {
        assertThrows(KernelUnavailableException.class,
                () -> I386Kernel.INSTANCE.addressSpace(info(0xca000000L, 0xc9000000L, true), I386));
        assertThrows(KernelUnavailableException.class,
                () -> I386Kernel.INSTANCE.addressSpace(info(0xca000000L, 0xcaea6800L, true), I386));
        assertThrows(KernelUnavailableException.class,
                () -> I386Kernel.INSTANCE.addressSpace(info(0xffff_ffff_ca00_0000L, 0xcaea6000L, true), I386));
    }

    @Test
    void open_syntheticPaeKernel_readsImageDirectMapAndVmalloc() {
        GuestKernel k = build();
        assertEquals(new Utsname(UTS[0], UTS[1], UTS[2], UTS[3], UTS[4], UTS[5]), k.utsname());
        assertEquals(0x123456, k.memory().toGuestPaddr(PAGE_OFFSET + 0x123456));
        assertEquals(0x1f00010, k.memory().toGuestPaddr(VMALLOC + 0x10));
        assertEquals(Optional.empty(), k.kallsyms(), "no kallsyms in this VMCOREINFO");
        assertTrue(k.describe().get(0).contains("i386 PAE 3-level, root at guest-physical 0xa00000"),
                k.describe().toString());
    }

    @Test
    void directMap_imageInsideIt_pageOffsetConfirmedByTheTables() {
        GuestKernel k = build();
        DirectMap d = k.directMap().orElseThrow();
        assertEquals(PAGE_OFFSET, d.offset());
        assertTrue(d.evidence().endsWith("confirmed by the page tables"), d.evidence());
        assertEquals(List.of(), k.directMapConflicts(d, guest.dump().memory().blocks().subList(0, 1)),
                "low memory: every page at PAGE_OFFSET + its address, the image's too");
    }

    @Test
    void directMap_tablesMapTheImageElsewhere_notConfirmed() {
        // the window alone (image addresses translated linearly) must not confirm what the tables contradict
        GuestKernel k = build(true);
        assertEquals(Optional.empty(), k.directMap());
    }

    @Test
    void elfLoads_i386_imageAtStextRamAtPageOffsetBiosWithout() {
        GuestKernel k = build();
        List<LoadSegment> loads = ElfLoads.of(guest.dump(), Optional.of(k));
        long imageEnd = ROOT_PADDR + 4096; // the window: _stext to the end of swapper_pg_dir
        assertEquals(List.of(
                new LoadSegment(0, 0x800000, PAGE_OFFSET),
                new LoadSegment(0x800000, imageEnd - 0x800000, STEXT),
                new LoadSegment(imageEnd, RAM - imageEnd, PAGE_OFFSET + imageEnd),
                new LoadSegment(0xfffc0000L, 0x40000, 0)), loads, "the BIOS at PAGE_OFFSET + 4 GiB - 256 KiB would "
                        + "be beyond 32 bits: no address");
    }
}

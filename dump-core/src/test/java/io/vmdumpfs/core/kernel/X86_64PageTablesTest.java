package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.kernel.KernelAddressException.Reason;
import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticKernel;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The x86_64 walk on page tables built entry by entry in a synthetic guest's RAM (0 … 32 MiB, tables from 1 MiB on):
 * every page size, every level's empty entry, and the tables no kernel builds.
 */
class X86_64PageTablesTest {

    /** A direct-map address (4-level default page_offset_base). */
    static final long DMAP = 0xffff_8880_0000_0000L;
    static final long RAM = 32L << 20;
    static final long ARENA = 0x100000;

    @TempDir
    Path tmp;

    private SyntheticGuest guest;

    private SyntheticKernel kernel(int levels) {
        guest = SyntheticGuest.builder(tmp).block(0, RAM, "pc.ram").build();
        return new SyntheticKernel(guest, levels, ARENA);
    }

    @AfterEach
    void close() {
        close0();
    }

    private void close0() {
        if (guest != null) {
            try {
                guest.close();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            guest = null;
        }
    }

    private Translation walk(SyntheticKernel k, int levels, long vaddr) {
        k.write();
        return new X86_64PageTables(k.root(), levels, 0).walk(vaddr,
                PhysReader.direct(guest.dump().memory(), ByteOrder.LITTLE_ENDIAN));
    }

    private KernelAddressException fault(SyntheticKernel k, int levels, long vaddr) {
        return assertThrows(KernelAddressException.class, () -> walk(k, levels, vaddr));
    }

    @Test
    void walk_4level4kPage_translatesThePage() {
        SyntheticKernel k = kernel(4).map4k(DMAP + 0x7000, 0x1345000);
        Translation t = walk(k, 4, DMAP + 0x7abc);
        assertEquals(new Translation(DMAP + 0x7000, 0x1345000, 4096), t);
        assertEquals(0x1345abc, t.guestPaddrOf(DMAP + 0x7abc));
    }

    @Test
    void walk_4level2MiBPage_largeUnit() {
        SyntheticKernel k = kernel(4).map2m(0xffff_ffff_8100_0000L, 0x1e00000);
        Translation t = walk(k, 4, 0xffff_ffff_811f_fff8L);
        assertEquals(new Translation(0xffff_ffff_8100_0000L, 0x1e00000, 2 << 20), t);
    }

    @Test
    void walk_4level1GiBPage_largeUnit() {
        SyntheticKernel k = kernel(4).map1g(DMAP + (1L << 30), 0x4000_0000L);
        Translation t = walk(k, 4, DMAP + (1L << 30) + 0x1234_5678);
        assertEquals(new Translation(DMAP + (1L << 30), 0x4000_0000L, 1L << 30), t);
    }

    @Test
    void walk_largePageWithPatBit_frameAtPageAlignment() {
        // bit 12 of a PS entry is PAT, not an address bit
        SyntheticKernel k = kernel(4);
        long pmd = k.table(DMAP, 2);
        k.setEntry(pmd, 0, 0x600000 | 0x1000 | SyntheticKernel.PRESENT_RW | SyntheticKernel.PS);
        assertEquals(0x600000, walk(k, 4, DMAP + 0x1000).guestPaddr());
    }

    @Test
    void walk_highBitsAndSmeMask_strippedFromFrame() {
        SyntheticKernel k = kernel(4);
        long pt = k.table(DMAP, 1);
        long sme = 1L << 47;
        k.setEntry(pt, 3, 0x8000_0000_0000_0000L | sme | 0x0123_4000L | SyntheticKernel.PRESENT_RW); // NX, C-bit
        k.write();
        Translation t = new X86_64PageTables(k.root(), 4, sme).walk(DMAP + 0x3000,
                PhysReader.direct(guest.dump().memory(), ByteOrder.LITTLE_ENDIAN));
        assertEquals(0x0123_4000L, t.guestPaddr());
    }

    @Test
    void walk_5level_usesAll57Bits() {
        long dmap5 = 0xff11_0000_0000_0000L; // the 5-level page_offset_base
        SyntheticKernel k = kernel(5).map4k(dmap5 + 0x5000, 0x3000).map2m(dmap5 + (4L << 20), 0x400000);
        assertEquals(new Translation(dmap5 + 0x5000, 0x3000, 4096), walk(k, 5, dmap5 + 0x5008));
        assertEquals(0x400000 + 0x1234, walk(k, 5, dmap5 + (4L << 20) + 0x1234).guestPaddrOf(dmap5 + (4L << 20) + 0x1234));
        // the same low 48 bits under another PML5 entry: not mapped
        assertEquals(Reason.NOT_MAPPED, fault(k, 5, 0xff12_0000_0000_5000L).reason());
    }

    @Test
    void walk_5levelAddressOn4level_notCanonical() {
        SyntheticKernel k = kernel(4);
        KernelAddressException e = fault(k, 4, 0xff11_0000_0000_0000L);
        assertEquals(Reason.NOT_KERNEL, e.reason());
        assertTrue(e.getMessage().contains("0xff11000000000000"), e.getMessage());
    }

    @Test
    void walk_emptyEntryAtEachLevel_notMappedWithItsSpan() {
        long v = DMAP + (3L << 30) + (5L << 21) + 0x7000;
        // PML4 empty: 512 GiB
        assertEquals(1L << 39, fault(kernel(4), 4, v).unmappedSpan());
        close0();
        // PUD empty: 1 GiB
        SyntheticKernel k = kernel(4);
        k.table(v, 3);
        assertEquals(1L << 30, fault(k, 4, v).unmappedSpan());
        close0();
        // PMD empty: 2 MiB
        k = kernel(4);
        k.table(v, 2);
        assertEquals(2L << 20, fault(k, 4, v).unmappedSpan());
        close0();
        // PTE empty (a neighbour mapped): 4 KiB
        k = kernel(4).map4k(v + 4096, 0x5000);
        KernelAddressException e = fault(k, 4, v);
        assertEquals(Reason.NOT_MAPPED, e.reason());
        assertEquals(4096, e.unmappedSpan());
        assertTrue(e.getMessage().contains("PT (pte) entry 7"), e.getMessage());
    }

    @Test
    void walk_presentBitClear_notMappedWhateverElseTheEntryHolds() {
        SyntheticKernel k = kernel(4);
        long pt = k.table(DMAP, 1);
        k.setEntry(pt, 0, 0x5000 | 0x2); // RW, address, but not present (a swap entry looks like this)
        assertEquals(Reason.NOT_MAPPED, fault(k, 4, DMAP).reason());
    }

    @Test
    void walk_tableBeyondGuestRam_notInDump() {
        SyntheticKernel k = kernel(4);
        long pud = k.table(DMAP, 3);
        k.setEntry(pud, 0, 0x10_0000_0000L | SyntheticKernel.PRESENT_RW); // a PMD table at 64 GiB, no RAM there
        KernelAddressException e = fault(k, 4, DMAP);
        assertEquals(Reason.NOT_IN_DUMP, e.reason());
        assertTrue(e.getMessage().contains("0x1000000000"), e.getMessage());
    }

    @Test
    void walk_entryPointingBackAtRoot_loopReportedNotFollowed() {
        SyntheticKernel k = kernel(4);
        k.setEntry(k.root(), SyntheticKernel.index(DMAP, 4), k.root() | SyntheticKernel.PRESENT_RW);
        KernelAddressException e = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> fault(k, 4, DMAP));
        assertEquals(Reason.BAD_PAGE_TABLE, e.reason());
        assertTrue(e.getMessage().contains("loop"), e.getMessage());
    }

    @Test
    void walk_pmdPointingAtItsPud_loopReported() {
        SyntheticKernel k = kernel(5);
        long dmap5 = 0xff11_0000_0000_0000L;
        long pud = k.table(dmap5, 3);
        long pmd = k.table(dmap5, 2);
        k.setEntry(pmd, 0, pud | SyntheticKernel.PRESENT_RW);
        KernelAddressException e = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> fault(k, 5, dmap5));
        assertEquals(Reason.BAD_PAGE_TABLE, e.reason());
    }

    @Test
    void walk_psBitInPml4_badPageTable() {
        SyntheticKernel k = kernel(4);
        k.setEntry(k.root(), SyntheticKernel.index(DMAP, 4), 0x4000_0000L | SyntheticKernel.PRESENT_RW
                | SyntheticKernel.PS);
        assertEquals(Reason.BAD_PAGE_TABLE, fault(k, 4, DMAP).reason());
    }

    @Test
    void walk_dataPageBeyondGuestRam_translatesButReadSaysNotInDump() {
        SyntheticKernel k = kernel(4).map4k(DMAP, 0x20_0000_0000L);
        assertEquals(0x20_0000_0000L, walk(k, 4, DMAP).guestPaddr());
        KernelMemory mem = new KernelMemory(new KernelAddressSpace(new KernelImageWindow(
                X86_64Kernel.START_KERNEL_MAP, 1L << 30, 0), new X86_64PageTables(k.root(), 4, 0)),
                guest.dump().memory(), ByteOrder.LITTLE_ENDIAN, false);
        KernelAddressException e = assertThrows(KernelAddressException.class, () -> mem.readU64(DMAP + 8));
        assertEquals(Reason.NOT_IN_DUMP, e.reason());
    }

    @Test
    void read_acrossUnitsAndImageWindow_joinsTheRightBytes() {
        // two consecutive virtual pages backed by physical pages far apart, in reverse order
        SyntheticKernel k = kernel(4).map4k(DMAP, 0x1800000).map4k(DMAP + 4096, 0x200000);
        k.write();
        KernelAddressSpace space = new KernelAddressSpace(new KernelImageWindow(X86_64Kernel.START_KERNEL_MAP,
                1L << 30, 0x1000000), new X86_64PageTables(k.root(), 4, 0));
        for (boolean bulk : new boolean[] {false, true}) {
            KernelMemory mem = new KernelMemory(space, guest.dump().memory(), ByteOrder.LITTLE_ENDIAN, bulk);
            byte[] got = mem.readBytes(DMAP + 4000, 200);
            byte[] want = new byte[200];
            System.arraycopy(guest.expected(0x1800000 + 4000, 96), 0, want, 0, 96);
            System.arraycopy(guest.expected(0x200000, 104), 0, want, 96, 104);
            assertArrayEquals(want, got, bulk ? "bulk" : "shared");
            // the image window is linear: no table is read for it
            assertArrayEquals(guest.expected(0x1000000 + 0x123, 64),
                    mem.readBytes(X86_64Kernel.START_KERNEL_MAP + 0x123, 64));
        }
    }

    @Test
    void bulk_scanOf4kPages_readsEachTableFrameOnce() {
        SyntheticKernel k = kernel(4).map4kRange(DMAP, 0x1000000, 2 << 20); // 512 pages: one PT
        k.write();
        KernelAddressSpace space = new KernelAddressSpace(new KernelImageWindow(X86_64Kernel.START_KERNEL_MAP,
                1L << 30, 0), new X86_64PageTables(k.root(), 4, 0));
        FrameCache frames = (FrameCache) PhysReader.caching(guest.dump().memory(), ByteOrder.LITTLE_ENDIAN);
        for (long o = 0; o < (2 << 20); o += 4096) {
            assertEquals(0x1000000 + o, space.translate(DMAP + o, frames).guestPaddr());
        }
        assertEquals(4, frames.misses(), "PML4, PDPT, PD and PT: one read each for 512 walks");
    }
}

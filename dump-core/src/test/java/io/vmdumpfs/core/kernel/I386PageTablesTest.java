package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.kernel.KernelAddressException.Reason;
import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticKernel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The i386 walks on page tables built entry by entry in a synthetic guest's RAM (0 … 32 MiB, tables from 1 MiB on).
 * PAE tables are x86_64's format with three levels (the top one indexed by bits 30-31), so {@link SyntheticKernel}
 * builds them with {@code levels = 3}; the 2-level tables of 4-byte entries are written here, entry by entry.
 */
class I386PageTablesTest {

    static final long PAGE_OFFSET = 0xc000_0000L;
    static final long RAM = 32L << 20;
    static final long ARENA = 0x100000;

    @TempDir
    Path tmp;

    private SyntheticGuest guest;

    @AfterEach
    void close() throws Exception {
        if (guest != null) {
            guest.close();
            guest = null;
        }
    }

    private SyntheticKernel pae() {
        guest = SyntheticGuest.builder(tmp).block(0, RAM, "pc.ram").build();
        return new SyntheticKernel(guest, 3, ARENA);
    }

    private Translation walkPae(SyntheticKernel k, long vaddr) {
        k.write();
        return new I386PageTables(k.root(), true).walk(vaddr, phys());
    }

    private KernelAddressException faultPae(SyntheticKernel k, long vaddr) {
        return assertThrows(KernelAddressException.class, () -> walkPae(k, vaddr));
    }

    private PhysReader phys() {
        return PhysReader.direct(guest.dump().memory(), ByteOrder.LITTLE_ENDIAN);
    }

    /** 2-level tables: a page directory at ARENA, page tables after it; entries written as 4-byte values. */
    private final class TwoLevel {
        final SyntheticKernel bytes;
        long nextTable = ARENA + 4096;

        TwoLevel() {
            guest = SyntheticGuest.builder(tmp).block(0, RAM, "pc.ram").build();
            bytes = new SyntheticKernel(guest, 4, RAM - (1 << 20)); // only for its put(); its own tables lie apart
            bytes.put(ARENA, new byte[4096]);
        }

        TwoLevel entry(long tablePaddr, int index, long value) {
            bytes.put(tablePaddr + 4L * index, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN)
                    .putInt((int) value).array());
            return this;
        }

        /** Returns a new, empty page table, entered in the directory for {@code vaddr}. */
        long pageTable(long vaddr) {
            long t = nextTable;
            nextTable += 4096;
            bytes.put(t, new byte[4096]);
            entry(ARENA, (int) (vaddr >>> 22), t | SyntheticKernel.PRESENT_RW);
            return t;
        }

        Translation walk(long vaddr) {
            bytes.write();
            return new I386PageTables(ARENA, false).walk(vaddr, phys());
        }

        KernelAddressException fault(long vaddr) {
            return assertThrows(KernelAddressException.class, () -> walk(vaddr));
        }
    }

    @Test
    void walk_pae4kPage_translatesThePage() {
        SyntheticKernel k = pae().map4k(0xf800_7000L, 0x1345000); // a vmalloc-like address
        Translation t = walkPae(k, 0xf800_7abcL);
        assertEquals(new Translation(0xf800_7000L, 0x1345000, 4096), t);
        assertEquals(0x1345abc, t.guestPaddrOf(0xf800_7abcL));
    }

    @Test
    void walk_pae2MiBPage_largeUnitWithoutPatOrNx() {
        SyntheticKernel k = pae();
        long pd = k.table(PAGE_OFFSET, 2);
        // 0xc0400000: PD index 2; bit 12 is PAT in a large entry, bit 63 NX
        k.setEntry(pd, 2, 0x8000_0000_0000_0000L | 0x600000 | 0x1000 | SyntheticKernel.PRESENT_RW
                | SyntheticKernel.PS);
        Translation t = walkPae(k, PAGE_OFFSET + 0x5f_fff8L);
        assertEquals(new Translation(PAGE_OFFSET + 0x40_0000L, 0x600000, 2 << 20), t);
    }

    @Test
    void walk_paeFrameAbove4GiB_keptWhole() {
        // PAE reaches 64 GiB of physical memory: the frame's bits 32 and up are not cut off
        SyntheticKernel k = pae().map4k(0xf800_0000L, 0x3_2000_1000L);
        assertEquals(0x3_2000_1000L, walkPae(k, 0xf800_0010L).guestPaddr());
    }

    @Test
    void walk_paeEmptyEntryAtEachLevel_notMappedWithItsSpan() {
        long v = PAGE_OFFSET + (5L << 21) + 0x7000;
        // PDPT empty: 1 GiB
        KernelAddressException e = faultPae(pae(), v);
        assertEquals(Reason.NOT_MAPPED, e.reason());
        assertEquals(1L << 30, e.unmappedSpan());
        assertTrue(e.getMessage().contains("PDPT (pgd) entry 3"), e.getMessage());
        close0();
        // PD empty: 2 MiB
        SyntheticKernel k = pae();
        k.table(v, 2);
        assertEquals(2L << 20, faultPae(k, v).unmappedSpan());
        close0();
        // PT entry not present, though it holds an address (a swap entry looks like this): 4 KiB
        k = pae().map4k(v + 4096, 0x5000);
        k.setEntry(k.table(v, 1), SyntheticKernel.index(v, 1), 0x6000 | 0x2);
        e = faultPae(k, v);
        assertEquals(Reason.NOT_MAPPED, e.reason());
        assertEquals(4096, e.unmappedSpan());
        assertTrue(e.getMessage().contains("PT (pte) entry 7"), e.getMessage());
    }

    @Test
    void walk_paeTableBeyondGuestRam_notInDump() {
        SyntheticKernel k = pae();
        k.setEntry(k.root(), 3, 0x10_0000_0000L | 1); // a page directory at 64 GiB, no RAM there
        KernelAddressException e = faultPae(k, PAGE_OFFSET);
        assertEquals(Reason.NOT_IN_DUMP, e.reason());
        assertTrue(e.getMessage().contains("0x1000000000"), e.getMessage());
    }

    @Test
    void walk_paePsInPdpt_badPageTable() {
        SyntheticKernel k = pae();
        k.setEntry(k.root(), 3, 0x4000_0000L | SyntheticKernel.PRESENT_RW | SyntheticKernel.PS);
        assertEquals(Reason.BAD_PAGE_TABLE, faultPae(k, PAGE_OFFSET).reason());
    }

    @Test
    void walk_paePdPointingAtThePdpt_loopReportedNotFollowed() {
        SyntheticKernel k = pae();
        long pd = k.table(PAGE_OFFSET, 2);
        k.setEntry(pd, 0, k.root() | SyntheticKernel.PRESENT_RW);
        KernelAddressException e = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> faultPae(k, PAGE_OFFSET));
        assertEquals(Reason.BAD_PAGE_TABLE, e.reason());
        assertTrue(e.getMessage().contains("loop"), e.getMessage());
    }

    @Test
    void walk_beyond32Bits_notKernel() {
        SyntheticKernel k = pae();
        assertEquals(Reason.NOT_KERNEL, faultPae(k, 0x1_c000_0000L).reason());
        assertEquals(Reason.NOT_KERNEL, faultPae(k, 0xffff_ffff_c000_0000L).reason(), "sign-extended");
    }

    @Test
    void walk_twoLevel4kPage_translatesThePage() {
        TwoLevel t = new TwoLevel();
        long pt = t.pageTable(0xd080_0000L);
        t.entry(pt, 0x5, 0x1234000 | SyntheticKernel.PRESENT_RW);
        assertEquals(new Translation(0xd080_5000L, 0x1234000, 4096), t.walk(0xd080_5ffcL));
    }

    @Test
    void walk_twoLevel4MiBPage_largeUnitWithPatIgnored() {
        TwoLevel t = new TwoLevel();
        // 0xc0800000: directory entry 0x302, a 4 MiB page at 8 MiB, PAT (bit 12) set
        t.entry(ARENA, 0x302, 0x800000 | 0x1000 | SyntheticKernel.PRESENT_RW | SyntheticKernel.PS);
        assertEquals(new Translation(PAGE_OFFSET + 0x80_0000L, 0x800000, 4 << 20), t.walk(PAGE_OFFSET + 0xbf_ffffL));
    }

    @Test
    void walk_twoLevelPse36_highPhysicalBitsFromBits13To20() {
        TwoLevel t = new TwoLevel();
        // bits 13-20 hold physical bits 32-39: 0x2 there is 8 GiB
        t.entry(ARENA, 0x300, 0x400000 | (0x2L << 13) | SyntheticKernel.PRESENT_RW | SyntheticKernel.PS);
        assertEquals(0x2_0040_0000L, t.walk(PAGE_OFFSET).guestPaddr());
    }

    @Test
    void walk_twoLevelEmptyEntries_notMappedWithTheirSpans() {
        TwoLevel t = new TwoLevel();
        KernelAddressException e = t.fault(PAGE_OFFSET + 0x12345);
        assertEquals(Reason.NOT_MAPPED, e.reason());
        assertEquals(4L << 20, e.unmappedSpan());
        assertTrue(e.getMessage().contains("PD (pgd) entry 768"), e.getMessage());
        long pt = t.pageTable(0xd000_0000L);
        t.entry(pt, 1, 0x5000 | SyntheticKernel.PRESENT_RW);
        e = t.fault(0xd000_2000L);
        assertEquals(4096, e.unmappedSpan());
    }

    @Test
    void walk_twoLevelTableBeyondGuestRam_notInDump() {
        TwoLevel t = new TwoLevel();
        t.entry(ARENA, 0x300, 0xf000_0000L | SyntheticKernel.PRESENT_RW);
        assertEquals(Reason.NOT_IN_DUMP, t.fault(PAGE_OFFSET).reason());
    }

    @Test
    void walk_twoLevelDirectoryPointingAtItself_loopReported() {
        // the "recursive mapping" some 32-bit systems use; Linux does not, and a walk must not take it as a page
        TwoLevel t = new TwoLevel();
        t.entry(ARENA, 0x3ff, ARENA | SyntheticKernel.PRESENT_RW);
        assertEquals(Reason.BAD_PAGE_TABLE, t.fault(0xffc0_0000L).reason());
    }

    @Test
    void constructor_misalignedRoot_rejected() {
        assertThrows(IllegalArgumentException.class, () -> new I386PageTables(0x1000 + 16, true));
        assertThrows(IllegalArgumentException.class, () -> new I386PageTables(0x1020, false));
        assertEquals(0x1020, new I386PageTables(0x1020, true).rootGuestPaddr(), "a PAE PDPT is 32-byte aligned");
    }

    private void close0() {
        try {
            close();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}

package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.kernel.KernelAddressException.Reason;
import io.vmdumpfs.core.testing.SyntheticArm64Tables;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The AArch64 walk on translation tables built descriptor by descriptor in a synthetic guest's RAM (guest-physical
 * 0x40000000 … +64 MiB, as on QEMU's virt board; tables from +1 MiB on): 4 KiB pages and 2 MiB / 1 GiB blocks with
 * 48-bit addresses, a 64 KiB granule (3 levels, 512 MiB blocks), 16 KiB, the 52-bit-on-48 offset root, and the
 * descriptors no kernel writes.
 */
class Aarch64PageTablesTest {

    /** PAGE_OFFSET of a 48-bit kernel (5.4 and later): the linear map. */
    static final long LINEAR = 0xffff_0000_0000_0000L;
    static final long RAM_BASE = 0x4000_0000L;
    static final long RAM = 64L << 20;
    static final long ARENA = RAM_BASE + 0x100000;

    @TempDir
    Path tmp;

    private SyntheticGuest guest;

    @AfterEach
    void close() throws IOException {
        if (guest != null) {
            guest.close();
            guest = null;
        }
    }

    private SyntheticArm64Tables tables(int granule, int vaBits) {
        guest = SyntheticGuest.builder(tmp).block(RAM_BASE, RAM, "mach-virt.ram")
                .platform(new GuestPlatform(GuestArch.AARCH64, ByteOrder.LITTLE_ENDIAN, granule, "test")).build();
        return new SyntheticArm64Tables(guest, granule, vaBits, ARENA);
    }

    private Translation walk(SyntheticArm64Tables t, int granule, int vaBits, long vaddr) {
        return walk(t, granule, vaBits, vaBits, vaddr);
    }

    private Translation walk(SyntheticArm64Tables t, int granule, int vaBits, int active, long vaddr) {
        t.write();
        return new Aarch64PageTables(t.root(), granule, vaBits, active, false).walk(vaddr,
                PhysReader.direct(guest.dump().memory(), ByteOrder.LITTLE_ENDIAN));
    }

    private KernelAddressException fault(SyntheticArm64Tables t, int granule, int vaBits, long vaddr) {
        return assertThrows(KernelAddressException.class, () -> walk(t, granule, vaBits, vaddr));
    }

    @Test
    void walk_4k48bit4kPage_translatesThroughFourLevels() {
        SyntheticArm64Tables t = tables(4096, 48).mapPage(LINEAR + 0x7000, RAM_BASE + 0x345000);
        Translation tr = walk(t, 4096, 48, LINEAR + 0x7abc);
        assertEquals(new Translation(LINEAR + 0x7000, RAM_BASE + 0x345000, 4096), tr);
        assertEquals(RAM_BASE + 0x345abc, tr.guestPaddrOf(LINEAR + 0x7abc));
        assertEquals(4, new Aarch64PageTables(t.root(), 4096, 48, 48, false).levels());
    }

    @Test
    void walk_4k2MiBBlock_largeUnitAttributesStripped() {
        long image = 0xffff_d575_8480_0000L;
        SyntheticArm64Tables t = tables(4096, 48).mapBlock(image, RAM_BASE + 0x200000, 2);
        assertEquals(new Translation(image, RAM_BASE + 0x200000, 2 << 20), walk(t, 4096, 48, image + 0x1ffff8));
    }

    @Test
    void walk_4k1GiBBlock_largeUnit() {
        SyntheticArm64Tables t = tables(4096, 48).mapBlock(LINEAR + (1L << 30), RAM_BASE, 1);
        assertEquals(new Translation(LINEAR + (1L << 30), RAM_BASE, 1L << 30),
                walk(t, 4096, 48, LINEAR + (1L << 30) + 0x1234_5678));
    }

    @Test
    void walk_4k39bit_threeLevelsWithBlockAtTheTop() {
        long linear39 = -(1L << 39);
        SyntheticArm64Tables t = tables(4096, 39).mapBlock(linear39, RAM_BASE, 1)
                .mapPage(linear39 + (1L << 30) + 0x3000, RAM_BASE + 0x5000);
        assertEquals(RAM_BASE + 0x1234, walk(t, 4096, 39, linear39 + 0x1234).guestPaddrOf(linear39 + 0x1234));
        assertEquals(new Translation(linear39 + (1L << 30) + 0x3000, RAM_BASE + 0x5000, 4096),
                walk(t, 4096, 39, linear39 + (1L << 30) + 0x3008));
    }

    @Test
    void walk_64k48bit_threeLevelsPagesAnd512MiBBlocks() {
        SyntheticArm64Tables t = tables(65536, 48).mapPage(LINEAR + 0x30000, RAM_BASE + 0x250000)
                .mapBlock(LINEAR + (512L << 20), RAM_BASE, 2);
        assertEquals(3, new Aarch64PageTables(t.root(), 65536, 48, 48, false).levels());
        assertEquals(new Translation(LINEAR + 0x30000, RAM_BASE + 0x250000, 65536),
                walk(t, 65536, 48, LINEAR + 0x3fff0));
        assertEquals(new Translation(LINEAR + (512L << 20), RAM_BASE, 512L << 20),
                walk(t, 65536, 48, LINEAR + (512L << 20) + 0x123_4567));
        // 64 KiB pages: bits [15:12] of a page descriptor are not address bits without 52-bit PA
        long pte = t.table(LINEAR, 3);
        t.setEntry(pte, 1, (RAM_BASE + 0x260000) | 0xf000 | SyntheticArm64Tables.TABLE);
        assertEquals(RAM_BASE + 0x260000, walk(t, 65536, 48, LINEAR + 0x10000).guestPaddr());
    }

    @Test
    void walk_64k52bitPa_highAddressBitsFromBits15To12() {
        SyntheticArm64Tables t = tables(65536, 48);
        long pte = t.table(LINEAR, 3);
        t.setEntry(pte, 2, 0x0000_0000_4027_0000L | 0x3000 | SyntheticArm64Tables.TABLE);
        t.write();
        Translation tr = new Aarch64PageTables(t.root(), 65536, 48, 48, true).walk(LINEAR + 0x20000,
                PhysReader.direct(guest.dump().memory(), ByteOrder.LITTLE_ENDIAN));
        assertEquals(0x0003_0000_4027_0000L, tr.guestPaddr());
    }

    @Test
    void walk_16k47bit_32MiBBlock() {
        long linear47 = -(1L << 47);
        SyntheticArm64Tables t = tables(16384, 47).mapBlock(linear47 + (32L << 20), RAM_BASE, 2)
                .mapPage(linear47 + 0x8000, RAM_BASE + 0x1c000);
        assertEquals(new Translation(linear47 + (32L << 20), RAM_BASE, 32L << 20),
                walk(t, 16384, 47, linear47 + (33L << 20)));
        assertEquals(new Translation(linear47 + 0x8000, RAM_BASE + 0x1c000, 16384),
                walk(t, 16384, 47, linear47 + 0x8010));
    }

    @Test
    void walk_52bitKernelOn48bitCpu_rootIndexedAsTheOffsetTtbr1() {
        // 64 KiB granule, VA_BITS=52: a 1024-entry pgd; with T1SZ=16 the CPU uses its last 64 entries, which a
        // sign-extended 48-bit address indexes when the table is read as 52-bit
        SyntheticArm64Tables t = tables(65536, 52).mapPage(LINEAR + 0x50000, RAM_BASE + 0x70000);
        assertEquals(960, t.index(LINEAR, 1));
        assertEquals(RAM_BASE + 0x70000, walk(t, 65536, 52, 48, LINEAR + 0x50000).guestPaddr());
        KernelAddressException e = assertThrows(KernelAddressException.class,
                () -> walk(t, 65536, 52, 48, -(1L << 52)));
        assertEquals(Reason.NOT_KERNEL, e.reason(), "below the 48-bit TTBR1 range");
    }

    @Test
    void walk_invalidDescriptorAtEachLevel_notMappedWithItsSpan() {
        long v = LINEAR + (3L << 30) + (5L << 21) + 0x7000;
        assertEquals(1L << 39, fault(tables(4096, 48), 4096, 48, v).unmappedSpan());
        close0();
        SyntheticArm64Tables t = tables(4096, 48);
        t.table(v, 1);
        assertEquals(1L << 30, fault(t, 4096, 48, v).unmappedSpan());
        close0();
        t = tables(4096, 48);
        t.table(v, 2);
        assertEquals(2L << 20, fault(t, 4096, 48, v).unmappedSpan());
        close0();
        t = tables(4096, 48).mapPage(v + 4096, RAM_BASE);
        // bit 0 clear, whatever else the descriptor holds (a swap or PROT_NONE entry looks like this)
        t.setEntry(t.table(v, 3), t.index(v, 3), (RAM_BASE + 0x9000) | 0x2 | SyntheticArm64Tables.ATTRS);
        KernelAddressException e = fault(t, 4096, 48, v);
        assertEquals(Reason.NOT_MAPPED, e.reason());
        assertEquals(4096, e.unmappedSpan());
        assertTrue(e.getMessage().contains("level 3 (pte) entry 7"), e.getMessage());
    }

    @Test
    void walk_blockWhereNoneMayBe_badPageTable() {
        // level 0 (512 GiB) with 4 KiB, level 3 with 0b01, level 1 with 64 KiB: reserved encodings
        SyntheticArm64Tables t = tables(4096, 48);
        t.setEntry(t.root(), t.index(LINEAR, 0), RAM_BASE | SyntheticArm64Tables.BLOCK);
        assertEquals(Reason.BAD_PAGE_TABLE, fault(t, 4096, 48, LINEAR).reason());
        close0();
        SyntheticArm64Tables t3 = tables(4096, 48);
        t3.setEntry(t3.table(LINEAR, 3), 0, RAM_BASE | SyntheticArm64Tables.BLOCK);
        assertEquals(Reason.BAD_PAGE_TABLE, fault(t3, 4096, 48, LINEAR).reason());
        close0();
        SyntheticArm64Tables t64 = tables(65536, 48);
        t64.setEntry(t64.root(), t64.index(LINEAR, 1), RAM_BASE | SyntheticArm64Tables.BLOCK);
        assertEquals(Reason.BAD_PAGE_TABLE, fault(t64, 65536, 48, LINEAR).reason());
    }

    @Test
    void walk_tableBeyondGuestRam_notInDump() {
        SyntheticArm64Tables t = tables(4096, 48);
        t.setEntry(t.table(LINEAR, 1), 0, 0x10_0000_0000L | SyntheticArm64Tables.TABLE);
        KernelAddressException e = fault(t, 4096, 48, LINEAR);
        assertEquals(Reason.NOT_IN_DUMP, e.reason());
        assertTrue(e.getMessage().contains("0x1000000000"), e.getMessage());
    }

    @Test
    void walk_entryPointingBackAtRoot_loopReported() {
        SyntheticArm64Tables t = tables(4096, 48);
        t.setEntry(t.root(), t.index(LINEAR, 0), t.root() | SyntheticArm64Tables.TABLE);
        KernelAddressException e = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> fault(t, 4096, 48, LINEAR));
        assertEquals(Reason.BAD_PAGE_TABLE, e.reason());
        assertTrue(e.getMessage().contains("loop"), e.getMessage());
    }

    @Test
    void walk_userAddress_notKernel() {
        SyntheticArm64Tables t = tables(4096, 48);
        assertEquals(Reason.NOT_KERNEL, fault(t, 4096, 48, 0x0000_7fff_0000_0000L).reason());
        assertEquals(Reason.NOT_KERNEL, fault(t, 4096, 48, 0xfffe_ffff_0000_0000L).reason());
    }

    @Test
    void constructor_unsupportedGeometry_refused() {
        assertThrows(IllegalArgumentException.class, () -> new Aarch64PageTables(ARENA, 8192, 48, 48, false));
        assertThrows(IllegalArgumentException.class, () -> new Aarch64PageTables(ARENA, 4096, 52, 52, false),
                "4 KiB with 52 bits needs LPA2's fifth level");
        assertThrows(IllegalArgumentException.class, () -> new Aarch64PageTables(ARENA, 4096, 48, 52, false));
        assertThrows(IllegalArgumentException.class, () -> new Aarch64PageTables(ARENA + 8, 4096, 48, 48, false));
    }

    private void close0() {
        try {
            close();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}

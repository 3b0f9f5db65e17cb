package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.format.ElfView;
import io.vmdumpfs.core.format.LoadSegment;
import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.testing.SyntheticArm64Tables;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A synthetic arm64 6.1 kernel laid out as Debian's is on QEMU's virt board (RAM at 1 GiB, 64 MiB here): the image
 * in the vmalloc area moved by KASLR (kimage_voffset), its text and data mapped with 4 KiB pages and a hole (freed
 * init) between, swapper_pg_dir at the end of rodata, and a linear map of 2 MiB blocks moved by KASLR (PHYS_OFFSET
 * below zero, as the real fixture's 0xfffff2d240000000).
 */
class Aarch64KernelTest {

    static final long RAM_BASE = 0x4000_0000L;
    static final long RAM = 64L << 20;
    static final long STEXT = 0xffff_d575_8481_0000L;
    static final long STEXT_PADDR = RAM_BASE + 0x21_0000L;
    static final long KIMAGE_VOFFSET = STEXT - STEXT_PADDR;
    /** Text and rodata: 8 MiB from _stext, swapper_pg_dir on its last page. */
    static final long TEXT_SIZE = 8L << 20;
    static final long SWAPPER = STEXT + TEXT_SIZE - 4096;
    /** Data after a 2 MiB hole (freed init): 1 MiB, init_uts_ns on its first page, so 255 pages beyond it. */
    static final long DATA = STEXT + TEXT_SIZE + (2L << 20);
    static final long END = DATA + (1L << 20);
    static final long UTS = DATA + 0x840;
    static final long PHYS_OFFSET = 0xffff_f2d2_4000_0000L;
    static final long LINEAR_OFFSET = -(1L << 48) - PHYS_OFFSET;
    static final String[] UTS_FIELDS = {"Linux", "arm64-synthetic", "6.1.0-synthetic", "#1 SMP", "aarch64", "(none)"};

    @TempDir
    Path tmp;

    private SyntheticGuest guest;

    @AfterEach
    void close() throws IOException {
        if (guest != null) {
            guest.close();
        }
    }

    static String vmcoreinfo(boolean withKimageVoffset) {
        return "OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\n"
                + "SYMBOL(init_uts_ns)=" + Long.toHexString(UTS) + "\nOFFSET(uts_namespace.name)=0\n"
                + "SYMBOL(swapper_pg_dir)=" + Long.toHexString(SWAPPER) + "\n"
                + "SYMBOL(_stext)=" + Long.toHexString(STEXT) + "\n"
                + "SYMBOL(mem_section)=" + Long.toHexString(RAM_BASE + 0x3f0_0000L + LINEAR_OFFSET) + "\n"
                + "NUMBER(VA_BITS)=48\n"
                + (withKimageVoffset ? "NUMBER(kimage_voffset)=0x" + Long.toHexString(KIMAGE_VOFFSET) + "\n" : "")
                + "NUMBER(PHYS_OFFSET)=0x" + Long.toHexString(PHYS_OFFSET) + "\nNUMBER(TCR_EL1_T1SZ)=0x10\n"
                + "KERNELOFFSET=55757c800000\nNUMBER(KERNELPACMASK)=0x0\n";
    }

    private SyntheticArm64Tables build(boolean withKimageVoffset) {
        guest = SyntheticGuest.builder(tmp).block(RAM_BASE, RAM, "mach-virt.ram")
                .platform(new GuestPlatform(GuestArch.AARCH64, ByteOrder.LITTLE_ENDIAN, 4096, "test"))
                .vmcoreinfo(vmcoreinfo(withKimageVoffset)).build();
        SyntheticArm64Tables t = new SyntheticArm64Tables(guest, 4096, 48, SWAPPER - KIMAGE_VOFFSET);
        t.mapPages(STEXT, STEXT_PADDR, TEXT_SIZE);
        t.mapPages(DATA, DATA - KIMAGE_VOFFSET, END - DATA);
        for (long p = RAM_BASE; p < RAM_BASE + RAM; p += 2 << 20) {
            t.mapBlock(p + LINEAR_OFFSET, p, 2);
        }
        t.write();
        byte[] uts = new byte[6 * 65];
        for (int i = 0; i < UTS_FIELDS.length; i++) {
            byte[] f = UTS_FIELDS[i].getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(f, 0, uts, i * 65, f.length);
        }
        try (FileChannel ch = FileChannel.open(guest.corePath(), StandardOpenOption.WRITE)) {
            long off = guest.blocks().get(0).fileOffset() + (UTS - KIMAGE_VOFFSET - RAM_BASE);
            ch.write(java.nio.ByteBuffer.wrap(uts), off);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return t;
    }

    @Test
    void open_arm64_swapperPgDirThroughKimageVoffsetAndWindowToLastSymbol() {
        SyntheticArm64Tables t = build(true);
        GuestKernel k = GuestKernel.open(guest.dump());
        assertEquals(t.root(), k.addressSpace().tables().rootGuestPaddr());
        assertEquals(SWAPPER - KIMAGE_VOFFSET, t.root());
        KernelImageWindow w = k.addressSpace().image();
        assertEquals(STEXT, w.kernelVaddrStart());
        assertEquals(STEXT_PADDR, w.guestPaddrStart());
        assertEquals(UTS - STEXT + 4096 - 0x840, w.size(), "to the end of init_uts_ns's page, the highest symbol");
        assertTrue(k.describe().get(0).contains("aarch64 4 KiB granule, 4-level, 48-bit VA"), k.describe().get(0));
    }

    @Test
    void utsname_readsInitUtsNs() {
        build(true);
        GuestKernel k = GuestKernel.open(guest.dump());
        assertEquals(new Utsname(UTS_FIELDS[0], UTS_FIELDS[1], UTS_FIELDS[2], UTS_FIELDS[3], UTS_FIELDS[4],
                UTS_FIELDS[5]), k.utsname());
        // the window and the page tables agree on it
        assertEquals(UTS - KIMAGE_VOFFSET, k.addressSpace().tables().walk(UTS,
                PhysReader.direct(guest.dump().memory(), ByteOrder.LITTLE_ENDIAN)).guestPaddrOf(UTS));
    }

    @Test
    void directMap_physOffsetBelowZero_confirmedByThePageTables() {
        build(true);
        GuestKernel k = GuestKernel.open(guest.dump());
        DirectMap d = k.directMap().orElseThrow();
        assertEquals(LINEAR_OFFSET, d.offset());
        assertEquals(0xffff_0d2d_c000_0000L + RAM_BASE, d.kernelVaddrOf(RAM_BASE), "the fixture's linear map");
        assertTrue(d.evidence().contains("PHYS_OFFSET") && d.evidence().contains("confirmed"), d.evidence());
        assertEquals(RAM_BASE + 0x123_4567, k.memory().toGuestPaddr(d.kernelVaddrOf(RAM_BASE + 0x123_4567)));
        assertEquals(List.of(), k.directMapConflicts(d, guest.dump().memory().blocks()));
    }

    @Test
    void imageMapping_fromStextPastTheWindowToTheGuardPage() {
        build(true);
        GuestKernel k = GuestKernel.open(guest.dump());
        assertEquals(Optional.of(new Translation(STEXT, STEXT_PADDR, END - STEXT)), k.imageMapping());
    }

    @Test
    void elfLoads_imageAtStextAndRamAtLinearMapAddresses() {
        build(true);
        List<LoadSegment> loads = new ElfView(guest.dump()).layout().loads();
        long imageSize = END - STEXT;
        assertEquals(List.of(
                new LoadSegment(RAM_BASE, STEXT_PADDR - RAM_BASE, RAM_BASE + LINEAR_OFFSET),
                new LoadSegment(STEXT_PADDR, imageSize, STEXT),
                new LoadSegment(STEXT_PADDR + imageSize, RAM_BASE + RAM - STEXT_PADDR - imageSize,
                        STEXT_PADDR + imageSize + LINEAR_OFFSET)), loads);
    }

    @Test
    void open_noKimageVoffset_unavailableNamingIt() {
        build(false);
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> GuestKernel.open(guest.dump()));
        assertEquals("VMCOREINFO has no NUMBER(kimage_voffset)", e.getMessage());
    }
}

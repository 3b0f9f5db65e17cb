package io.vmdumpfs.core.format.kdump;

import static io.vmdumpfs.core.format.kdump.KdumpViewTest.readAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.format.ElfClass;
import io.vmdumpfs.core.format.ElfLayout;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * kdump files of guests other than x86_64: header fields in the guest's byte order, the 32-bit header layout QEMU
 * writes for an ELFCLASS32 dump (create_header32), blocks of the guest's page size up to 64 KiB, phys_base only on
 * x86_64, utsname.machine as the kernel names itself. Each file is compared byte for byte with
 * {@link ReferenceKdumpWriter}'s, and its pages are read back by {@link KdumpReader}.
 */
class KdumpPlatformsTest {

    /** One kind of guest: its platform, its RAM and its VMCOREINFO. */
    enum Guest {
        /** An i386 guest whose RAM ends below 4 GiB: ELFCLASS32, so QEMU's 452-byte header and 80-byte sub-header. */
        I386_ELF32(GuestArch.I386, ByteOrder.LITTLE_ENDIAN, 4096, """
                0        9f000    pc.ram
                100000   300000   pc.ram
                """, "i686", ElfClass.ELF32),
        /** The same with the PC BIOS ending at 4 GiB: QEMU's dump is ELF64, and so is the header. */
        I386_ELF64(GuestArch.I386, ByteOrder.LITTLE_ENDIAN, 4096, """
                0        9f000    pc.ram
                fffc0000 40000    pc.bios
                """, "i686", ElfClass.ELF64),
        S390X(GuestArch.S390X, ByteOrder.BIG_ENDIAN, 4096, "0 400000 s390.ram", "s390x", ElfClass.ELF64),
        AARCH64_16K(GuestArch.AARCH64, ByteOrder.LITTLE_ENDIAN, 16384, "40000000 400000 mach-virt.ram", "aarch64",
                ElfClass.ELF64),
        /** 64 KiB pages, and device RAM far above RAM (pseries puts vga.vram at 0x200080000000; here 64 GiB). */
        PPC64LE(GuestArch.PPC64, ByteOrder.LITTLE_ENDIAN, 65536, """
                0             400000   ppc_spapr.ram
                1000000000    100000   vga.vram
                """, "ppc64le", ElfClass.ELF64),
        PPC64(GuestArch.PPC64, ByteOrder.BIG_ENDIAN, 65536, "0 400000 ppc_spapr.ram", "ppc64", ElfClass.ELF64);

        final GuestPlatform platform;
        final String blocks;
        final String machine;
        final ElfClass elfClass;

        Guest(GuestArch arch, ByteOrder order, int pageSize, String blocks, String machine, ElfClass elfClass) {
            this.platform = new GuestPlatform(arch, order, pageSize, "test");
            this.blocks = blocks;
            this.machine = machine;
            this.elfClass = elfClass;
        }

        /** A VMCOREINFO with a NUMBER(phys_base): only x86_64's header may carry it. */
        String vmcoreinfo() {
            return "OSRELEASE=6.1.0-" + machine + "\nPAGESIZE=" + platform.pageSize() + "\nNUMBER(phys_base)=4096\n";
        }
    }

    @TempDir
    Path tmp;

    private SyntheticGuest guest(Guest g) {
        return SyntheticGuest.builder(tmp).platform(g.platform).blocks(g.blocks).vmcoreinfo(g.vmcoreinfo())
                .vcpusCounted(2)
                .seed(g.ordinal() + 11).build();
    }

    private static byte[] notes(GuestDump d) {
        return ElfLayout.notes(d.vmcoreinfo(), d.platform().byteOrder());
    }

    private static long mtime(SyntheticGuest sg) throws Exception {
        return Files.getLastModifiedTime(sg.corePath()).toMillis() / 1000;
    }

    @ParameterizedTest
    @EnumSource(Guest.class)
    void read_equalsReference(Guest g) throws Exception {
        try (SyntheticGuest sg = guest(g)) {
            for (KdumpCodec codec : KdumpCodec.values()) {
                byte[] ref = ReferenceKdumpWriter.write(sg.dump(), codec, notes(sg.dump()), mtime(sg));
                KdumpView v = KdumpView.open(sg.dump(), FormatContext.uncached(), codec);
                assertArrayEquals(ref, readAll(v, 3 * 65536 + 5), g + " " + codec);
            }
        }
    }

    /** The header's fields at the layout's own offsets, in the guest's order: what crash and libkdumpfile read. */
    @ParameterizedTest
    @EnumSource(Guest.class)
    void headers_guestsOrderAndLayout(Guest g) throws Exception {
        try (SyntheticGuest sg = guest(g)) {
            int p = g.platform.pageSize();
            KdumpView v = KdumpView.open(sg.dump(), FormatContext.uncached(), KdumpCodec.ZLIB);
            byte[] head = new byte[2 * p];
            v.read(0, ByteBuffer.wrap(head));
            ByteBuffer b = ByteBuffer.wrap(head).order(g.platform.byteOrder());
            boolean h32 = g.elfClass == ElfClass.ELF32;
            assertEquals(6, b.getInt(8), "header_version");
            assertEquals(g.machine, cString(head, 12 + 4 * 65), "utsname.machine");
            int st = h32 ? 412 : 424;
            assertEquals(mtime(sg), h32 ? b.getInt(404) : b.getLong(408), "timestamp.tv_sec");
            assertEquals(KdumpCodec.ZLIB.flag, b.getInt(st), "status");
            assertEquals(p, b.getInt(st + 4), "block_size: the guest's page size");
            assertEquals(2, b.getInt(st + 36), "nr_cpus: the vCPUs counted, registers or not");
            int noteOff = p + (h32 ? 80 : 104);
            byte[] notes = notes(sg.dump());
            assertEquals(h32 ? 0 : 0, h32 ? b.getInt(p) : b.getLong(p), "phys_base: x86_64's alone");
            assertEquals(noteOff, b.getLong(p + (h32 ? 32 : 48)), "offset_note");
            assertEquals(notes.length, h32 ? b.getInt(p + 40) : b.getLong(p + 56), "size_note");
            long vmci = b.getLong(p + (h32 ? 20 : 32));
            long vmciSize = h32 ? b.getInt(p + 28) : b.getLong(p + 40);
            assertEquals(g.vmcoreinfo(), new String(head, (int) vmci, (int) vmciSize, StandardCharsets.US_ASCII));
            byte[] noteBytes = new byte[notes.length];
            System.arraycopy(head, noteOff, noteBytes, 0, notes.length);
            assertArrayEquals(notes, noteBytes, "the notes, in the guest's order");
            assertEquals(11, b.getInt(noteOff), "VMCOREINFO n_namesz read in the guest's order");
        }
    }

    @ParameterizedTest
    @EnumSource(Guest.class)
    void pages_decompressToGuestMemory(Guest g) throws Exception {
        try (SyntheticGuest sg = guest(g)) {
            int p = g.platform.pageSize();
            KdumpView v = KdumpView.open(sg.dump(), FormatContext.uncached(), KdumpCodec.SNAPPY);
            KdumpReader r = new KdumpReader(readAll(v, 1 << 20), g.platform.byteOrder(), g.elfClass);
            assertEquals(p, r.blockSize);
            byte[] want = new byte[p];
            int dumped = 0;
            int compressed = 0;
            for (long pfn = 0; pfn < r.maxMapnr; pfn++) {
                long lo = pfn * p;
                boolean ram = sg.blocks().stream().anyMatch(
                        b -> Long.compareUnsigned(b.guestPaddrStart(), lo + p) < 0
                                && Long.compareUnsigned(b.guestPaddrEnd(), lo) > 0);
                assertEquals(ram, r.inBitmap2(pfn), "pfn " + Long.toHexString(pfn));
                if (!ram) {
                    continue;
                }
                PageDesc pd = r.desc(dumped++);
                ReferenceKdumpWriter.pageAt(sg.dump(), lo, want);
                assertArrayEquals(want, r.page(pd), "pfn " + Long.toHexString(pfn));
                if (pd.flags() != 0) {
                    compressed++;
                }
            }
            assertEquals(new DumpedPages(sg.dump().memory(), p).pageCount(), dumped);
            assertTrue(compressed > 0 && compressed < dumped, compressed + " of " + dumped + " compressed");
        }
    }

    /** 64 KiB pages stored raw do not fit the index's 16-bit sizes: they are kept as RAW_64K. */
    @Test
    void index_raw64KiBPage_storedSizeIsThePageSize() {
        char[] sizes = {KdumpIndex.encode(65536), 0, KdumpIndex.encode(1000), KdumpIndex.encode(65535 - 1)};
        KdumpIndex idx = KdumpIndex.ofPageSizes(65536, sizes);
        assertEquals(65536, idx.storedSize(0));
        assertEquals(0, idx.storedSize(1));
        assertEquals(1000, idx.storedSize(2));
        assertEquals(65534, idx.storedSize(3));
        assertEquals(65536 + 1000, idx.dataOffset(3));
        assertEquals(65536 + 1000 + 65534, idx.totalData());
        assertEquals(1000 + 65534, idx.packedLength(0), "the raw page is not packed");
        // With 4 KiB pages the value is an ordinary size, never 64 KiB.
        assertEquals(4096, KdumpIndex.ofPageSizes(4096, new char[] {KdumpIndex.encode(4096)}).storedSize(0));
    }

    /** A 64 KiB page of random bytes does not compress: it is stored raw, and read back from the core. */
    @Test
    void read_incompressible64KiBPages_rawAndEqualReference() throws Exception {
        // Seeds until the guest has a page whose kind is RANDOM (one in eight).
        Guest g = Guest.PPC64LE;
        try (SyntheticGuest sg = SyntheticGuest.builder(tmp).platform(g.platform).blocks("0 400000 ppc_spapr.ram")
                .vmcoreinfo(g.vmcoreinfo()).seed(3).build()) {
            boolean random = false;
            for (long i = 0; i < 0x40; i++) {
                random |= sg.pageKind(i) == SyntheticGuest.PageKind.RANDOM;
            }
            assertTrue(random, "seed 3 has a random 64 KiB page");
            KdumpView v = KdumpView.open(sg.dump(), FormatContext.uncached(), KdumpCodec.ZSTD);
            byte[] file = readAll(v, 100_000);
            assertArrayEquals(ReferenceKdumpWriter.write(sg.dump(), KdumpCodec.ZSTD, notes(sg.dump()), mtime(sg)),
                    file);
            KdumpReader r = new KdumpReader(file, ByteOrder.LITTLE_ENDIAN, ElfClass.ELF64);
            boolean raw = false;
            for (int i = 0; i < 0x40; i++) {
                raw |= r.desc(i).size() == 65536 && r.desc(i).flags() == 0;
            }
            assertTrue(raw, "a raw 64 KiB page");
        }
    }

    private static String cString(byte[] b, int off) {
        int n = 0;
        while (b[off + n] != 0) {
            n++;
        }
        return new String(b, off, n, StandardCharsets.US_ASCII);
    }
}

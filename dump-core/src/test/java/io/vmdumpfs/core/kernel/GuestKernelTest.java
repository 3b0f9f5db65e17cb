package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.format.ElfView;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.LoadSegment;
import io.vmdumpfs.core.format.kdump.DiskDumpHeader;
import io.vmdumpfs.core.format.kdump.KdumpCodec;
import io.vmdumpfs.core.format.kdump.KdumpView;
import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticKernel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A whole synthetic x86_64 kernel in a synthetic guest (32 MiB of RAM plus a BIOS ROM block): a KASLR-moved image
 * mapped with 2 MiB pages, a freed (unmapped) init section and a 4 KiB-mapped tail, a direct map at a randomised
 * base, {@code init_uts_ns}, and VMCOREINFO that describes them. Checked: what {@link GuestKernel} finds, and what
 * vmcore.elf's program headers and the kdump header make of it.
 */
class GuestKernelTest {

    static final long START = X86_64Kernel.START_KERNEL_MAP;
    static final long STEXT = START + 0x3000000; // __START_KERNEL_map + 16 MiB link offset + 32 MiB KASLR
    static final long STEXT_PADDR = 0x800000;
    static final long PHYS_BASE = STEXT_PADDR - (STEXT - START);
    static final long ROOT_PADDR = 0x900000;
    static final long UTS_PADDR = 0xa00000;
    static final long DMAP = 0xffff_9e00_0000_0000L;
    static final long RAM = 32L << 20;
    static final String[] UTS = {"Linux", "synthetic-guest", "6.1.0-synthetic", "#1 SMP PREEMPT_DYNAMIC Test",
        "x86_64", "(none)"};

    @TempDir
    Path tmp;

    private SyntheticGuest guest;

    @AfterEach
    void tearDown() throws Exception {
        if (guest != null) {
            guest.close();
        }
    }

    static String vmcoreinfo(long dmap, boolean memSection, boolean physBase) {
        return "OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\n"
                + "SYMBOL(init_uts_ns)=" + Long.toHexString(STEXT + (UTS_PADDR - STEXT_PADDR)) + "\n"
                + "OFFSET(uts_namespace.name)=0\n"
                + "SYMBOL(_stext)=" + Long.toHexString(STEXT) + "\n"
                + "SYMBOL(init_top_pgt)=" + Long.toHexString(STEXT + (ROOT_PADDR - STEXT_PADDR)) + "\n"
                + (memSection ? "SYMBOL(mem_section)=" + Long.toHexString(dmap + 0x1f00000) + "\n" : "")
                + (physBase ? "NUMBER(phys_base)=" + PHYS_BASE + "\n" : "")
                + "NUMBER(pgtable_l5_enabled)=0\nKERNELOFFSET=2000000\nNUMBER(KERNEL_IMAGE_SIZE)=1073741824\n";
    }

    /** Builds the guest; {@code extra} may add mappings before the tables are written. */
    private SyntheticKernel build(long dmap, boolean memSection, boolean physBase,
            java.util.function.Consumer<SyntheticKernel> extra) {
        guest = SyntheticGuest.builder(tmp).block(0, RAM, "pc.ram").block(0xfffc0000L, 0x40000, "pc.bios")
                .vmcoreinfo(vmcoreinfo(dmap, memSection, physBase)).vcpus(2).build();
        SyntheticKernel k = new SyntheticKernel(guest, 4, ROOT_PADDR);
        // the image: 4 MiB in 2 MiB pages, 2 MiB freed and unmapped (init), then 3 pages of 4 KiB
        k.map2m(STEXT, STEXT_PADDR).map2m(STEXT + (2 << 20), STEXT_PADDR + (2 << 20));
        k.map4kRange(STEXT + (6 << 20), STEXT_PADDR + (6 << 20), 3 * 4096);
        for (long p = 0; p < RAM; p += 2 << 20) {
            k.map2m(dmap + p, p);
        }
        k.putUtsname(UTS_PADDR, UTS);
        extra.accept(k);
        k.write();
        return k;
    }

    private GuestKernel kernel() {
        return GuestKernel.open(guest.dump());
    }

    @Test
    void open_syntheticKernel_tablesFromInitTopPgtThroughTheImage() {
        build(DMAP, true, true, k -> { });
        GuestKernel k = kernel();
        assertEquals(ROOT_PADDR, k.addressSpace().tables().rootGuestPaddr());
        assertEquals(PHYS_BASE, k.addressSpace().image().guestPaddrStart());
        assertEquals(STEXT_PADDR + 0x40, k.memory().toGuestPaddr(STEXT + 0x40));
        assertEquals(0x123456, k.memory().toGuestPaddr(DMAP + 0x123456));
    }

    @Test
    void utsname_readsInitUtsNs() {
        build(DMAP, true, true, k -> { });
        assertEquals(new Utsname(UTS[0], UTS[1], UTS[2], UTS[3], UTS[4], UTS[5]), kernel().utsname());
    }

    @Test
    void directMap_kaslrBase_foundThroughMemSection() {
        build(DMAP, true, true, k -> { });
        DirectMap d = kernel().directMap().orElseThrow();
        assertEquals(DMAP, d.offset());
        assertTrue(d.evidence().contains("mem_section"), d.evidence());
    }

    @Test
    void directMap_kaslrBaseAndNoHint_notGuessed() {
        build(DMAP, false, true, k -> { });
        assertEquals(Optional.empty(), kernel().directMap(), "the defaults do not match; nothing else is tried");
    }

    @Test
    void directMap_defaultBase_confirmedByTheTables() {
        long dflt = 0xffff_8880_0000_0000L;
        build(dflt, false, true, k -> { });
        DirectMap d = kernel().directMap().orElseThrow();
        assertEquals(dflt, d.offset());
        assertTrue(d.evidence().contains("default"), d.evidence());
    }

    @Test
    void imageMapping_fromStextToTheLastMappedPage_acrossTheFreedInitHole() {
        build(DMAP, true, true, k -> { });
        assertEquals(Optional.of(new Translation(STEXT, STEXT_PADDR, (6 << 20) + 3 * 4096)), kernel().imageMapping());
    }

    @Test
    void elfView_kernelImageAndDirectMapProgramHeaders() {
        build(DMAP, true, true, k -> { });
        ElfView v = new ElfView(guest.dump());
        List<LoadSegment> loads = v.layout().loads();
        long imageEnd = STEXT_PADDR + (6 << 20) + 3 * 4096;
        assertEquals(List.of(
                new LoadSegment(0, STEXT_PADDR, DMAP),
                new LoadSegment(STEXT_PADDR, imageEnd - STEXT_PADDR, STEXT),
                new LoadSegment(imageEnd, RAM - imageEnd, DMAP + imageEnd),
                new LoadSegment(0xfffc0000L, 0x40000, DMAP + 0xfffc0000L)), loads);
        List<long[]> phdrs = phdrs(v);
        assertEquals(5, phdrs.size(), "PT_NOTE and four PT_LOADs");
        long[] kernelPhdr = phdrs.get(2);
        assertEquals(1, kernelPhdr[0], "PT_LOAD");
        assertEquals(STEXT, kernelPhdr[2], "p_vaddr = __START_KERNEL_map + (p_paddr - phys_base)");
        assertEquals(START + (kernelPhdr[3] - PHYS_BASE), kernelPhdr[2]);
        // one block's data, described by three PT_LOADs in a row: no copy, no overlap
        long[] ram = phdrs.get(1);
        assertEquals(ram[1] + STEXT_PADDR, kernelPhdr[1], "the image's bytes follow RAM below it in the file");
        assertEquals(kernelPhdr[1] + kernelPhdr[4], phdrs.get(3)[1], "and RAM above it follows them");
        assertEquals(v.layout().memoryOffset() + guest.dump().memory().totalBytes(), v.size(), "no extra bytes");
        ByteBuffer img = ByteBuffer.allocate(4096);
        v.read(kernelPhdr[1] + (UTS_PADDR - STEXT_PADDR), img);
        assertEquals("Linux", new String(img.array(), 0, 5, java.nio.charset.StandardCharsets.US_ASCII));
    }

    @Test
    void elfView_directMapAddressMapsOtherMemory_thatPartSplitOffWithoutVaddr() {
        long clash = 16L << 20;
        build(DMAP, true, true, k -> {
            // 16-18 MiB of the direct map in 4 KiB pages, the 6th of them pointing at another frame
            long pmd = k.table(DMAP + clash, 2);
            k.setEntry(pmd, SyntheticKernel.index(DMAP + clash, 2), 0);
            k.map4kRange(DMAP + clash, clash, 2 << 20);
            k.map4k(DMAP + clash + 5 * 4096, 0x1234000);
        });
        List<LoadSegment> loads = new ElfView(guest.dump()).layout().loads();
        long imageEnd = STEXT_PADDR + (6 << 20) + 3 * 4096;
        assertEquals(List.of(
                new LoadSegment(0, STEXT_PADDR, DMAP),
                new LoadSegment(STEXT_PADDR, imageEnd - STEXT_PADDR, STEXT),
                new LoadSegment(imageEnd, clash + 5 * 4096 - imageEnd, DMAP + imageEnd),
                new LoadSegment(clash + 5 * 4096, 4096, 0),
                new LoadSegment(clash + 6 * 4096, RAM - clash - 6 * 4096, DMAP + clash + 6 * 4096),
                new LoadSegment(0xfffc0000L, 0x40000, DMAP + 0xfffc0000L)), loads);
    }

    @Test
    void elfView_noDirectMap_ramWithoutVaddrButKernelImageKept() {
        build(DMAP, false, true, k -> { });
        List<LoadSegment> loads = new ElfView(guest.dump()).layout().loads();
        long imageEnd = STEXT_PADDR + (6 << 20) + 3 * 4096;
        assertEquals(List.of(
                new LoadSegment(0, STEXT_PADDR, 0),
                new LoadSegment(STEXT_PADDR, imageEnd - STEXT_PADDR, STEXT),
                new LoadSegment(imageEnd, RAM - imageEnd, 0),
                new LoadSegment(0xfffc0000L, 0x40000, 0)), loads);
    }

    @Test
    void open_noPhysBase_unavailableAndElfPhysicalOnly() {
        build(DMAP, true, false, k -> { });
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class, this::kernel);
        assertEquals("VMCOREINFO has no NUMBER(phys_base)", e.getMessage());
        List<LoadSegment> loads = new ElfView(guest.dump()).layout().loads();
        assertEquals(List.of(new LoadSegment(0, RAM, 0), new LoadSegment(0xfffc0000L, 0x40000, 0)), loads);
    }

    @Test
    void open_architectureNotImplemented_saysSo() {
        build(DMAP, true, true, k -> { });
        GuestDump d = guest.dump();
        GuestPlatform s390 = new GuestPlatform(GuestArch.S390X, ByteOrder.BIG_ENDIAN, 4096, "test");
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> GuestKernel.open(s390, d.memory(), VmcoreInfoTable.of(d.vmcoreinfo().orElseThrow())));
        assertTrue(e.getMessage().contains("s390x"), e.getMessage());
    }

    @Test
    void open_noVmcoreinfo_unavailable() throws Exception {
        guest = SyntheticGuest.builder(tmp).block(0, 1 << 20, "pc.ram").build();
        assertFalse(GuestKernel.find(guest.dump()).isPresent());
    }

    @Test
    void kdumpHeader_utsnameFromInitUtsNsAndCpuCount() {
        build(DMAP, true, true, k -> { });
        KdumpView v = KdumpView.open(guest.dump(), FormatContext.uncached(), KdumpCodec.ZLIB);
        ByteBuffer b = ByteBuffer.allocate(DiskDumpHeader.SIZE).order(ByteOrder.LITTLE_ENDIAN);
        v.read(0, b);
        DiskDumpHeader h = DiskDumpHeader.parse(b);
        assertEquals(new Utsname(UTS[0], UTS[1], UTS[2], UTS[3], UTS[4], UTS[5]), h.utsname());
        assertEquals(2, h.nrCpus());
    }

    @Test
    void kdumpHeader_kernelUnreadable_vmcoreinfoFieldsOnlyRestEmpty() {
        build(DMAP, true, false, k -> { });
        KdumpView v = KdumpView.open(guest.dump(), FormatContext.uncached(), KdumpCodec.ZLIB);
        ByteBuffer b = ByteBuffer.allocate(DiskDumpHeader.SIZE).order(ByteOrder.LITTLE_ENDIAN);
        v.read(0, b);
        assertEquals(new Utsname("Linux", "", "6.1.0-synthetic", "", "x86_64", ""), DiskDumpHeader.parse(b).utsname());
    }

    @Test
    void symbol_vmcoreinfoFirst() {
        build(DMAP, true, true, k -> { });
        assertEquals(STEXT, kernel().symbol("_stext").getAsLong());
        assertFalse(kernel().symbol("page_offset_base").isPresent(), "no kallsyms in this guest");
    }

    /** Returns each Elf64_Phdr as {p_type, p_offset, p_vaddr, p_paddr, p_filesz}. */
    static List<long[]> phdrs(ElfView v) {
        ByteBuffer h = ByteBuffer.allocate((int) v.layout().memoryOffset()).order(ByteOrder.LITTLE_ENDIAN);
        v.read(0, h);
        int n = Short.toUnsignedInt(h.getShort(56));
        List<long[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int at = 64 + 56 * i;
            out.add(new long[] {h.getInt(at), h.getLong(at + 8), h.getLong(at + 16), h.getLong(at + 24),
                h.getLong(at + 32)});
            assertEquals(h.getLong(at + 32), h.getLong(at + 40), "p_filesz == p_memsz");
        }
        return out;
    }
}

package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ElfViewTest {

    /** A QEMU-like map (low RAM, ROM hole, RAM, BIOS below 4 GiB, RAM above 4 GiB) plus an odd-sized block. */
    static final String BLOCKS = """
            0          9fc00    pc.ram     # size not a page multiple
            c0000      20000    pc.rom
            100000     300000   pc.ram
            fffc0000   40000    pc.bios
            100000000  3000     pc.ram
            100003000  11       odd        # adjacent to the one before, 17 bytes
            """;
    static final String VMCOREINFO = "OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff82a1d0c0\n"
            + "NUMBER(phys_base)=0\nKERNELOFFSET=0\n";

    @TempDir
    Path tmp;

    @Test
    void read_randomSlices_equalReference() throws Exception {
        try (SyntheticGuest g = guest(true)) {
            ElfView view = new ElfView(g.dump());
            byte[] ref = reference(g, view);
            Random rnd = new Random(42);
            long[] edges = boundaries(view.layout());
            for (int i = 0; i < 3000; i++) {
                long offset = i % 3 == 0 ? (long) (rnd.nextDouble() * (ref.length + 200))
                        : Math.max(0, edges[rnd.nextInt(edges.length)] + rnd.nextInt(141) - 70);
                int len = switch (rnd.nextInt(10)) {
                    case 0, 1, 2 -> rnd.nextInt(16);
                    case 3, 4, 5 -> rnd.nextInt(300);
                    case 9 -> i % 10 == 0 ? rnd.nextInt(ref.length + 100) : rnd.nextInt(1 << 20);
                    default -> rnd.nextInt(70_000);
                };
                checkSlice(view, ref, offset, len);
            }
        }
    }

    @Test
    void spanAt_tilesTheFile_headerMadeEachSegmentOneCoreRun() throws Exception {
        try (SyntheticGuest g = guest(true)) {
            ElfView view = new ElfView(g.dump());
            ElfLayout l = view.layout();
            List<CoreSpan> spans = new ArrayList<>();
            for (long pos = 0; pos < view.size(); pos += spans.get(spans.size() - 1).length()) {
                spans.add(view.spanAt(pos, Long.MAX_VALUE));
            }
            assertEquals(1 + l.blocks().size(), spans.size());
            assertEquals(CoreSpan.made(l.memoryOffset()), spans.get(0));
            for (int i = 0; i < l.blocks().size(); i++) {
                GuestPhysBlock b = l.blocks().get(i);
                assertEquals(new CoreSpan(b.fileOffset(), b.size()), spans.get(i + 1), "segment " + i);
            }
        }
    }

    @Test
    void spanAt_anyOffset_coreBytesAreWhatReadReturns() throws Exception {
        try (SyntheticGuest g = guest(true)) {
            ElfView view = new ElfView(g.dump());
            byte[] ref = reference(g, view);
            Random rnd = new Random(7);
            long[] edges = boundaries(view.layout());
            for (int i = 0; i < 2000; i++) {
                long offset = Math.min(ref.length - 1, i % 2 == 0 ? (long) (rnd.nextDouble() * ref.length)
                        : Math.max(0, edges[rnd.nextInt(edges.length)] + rnd.nextInt(141) - 70));
                long max = 1 + rnd.nextInt(i % 3 == 0 ? 300 : 200_000);
                CoreSpan s = view.spanAt(offset, max);
                String where = "spanAt(" + offset + ", " + max + ")";
                assertTrue(s.length() >= 1 && s.length() <= max && offset + s.length() <= ref.length, where);
                byte[] want = Arrays.copyOfRange(ref, (int) offset, (int) (offset + s.length()));
                if (s.inCore()) {
                    assertArrayEquals(want, bytes(g.dump().core().read(s.coreOffset(), (int) s.length())), where);
                } else {
                    assertTrue(offset + s.length() <= view.layout().memoryOffset(), where + ": made bytes are header");
                }
            }
        }
    }

    @Test
    void spanAt_outsideTheFile_throws() throws Exception {
        try (SyntheticGuest g = guest(false)) {
            ElfView view = new ElfView(g.dump());
            assertThrows(IllegalArgumentException.class, () -> view.spanAt(view.size(), 1));
            assertThrows(IllegalArgumentException.class, () -> view.spanAt(-1, 1));
            assertThrows(IllegalArgumentException.class, () -> view.spanAt(0, 0));
        }
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    @Test
    void read_sequentialWhole_equalsReference() throws Exception {
        try (SyntheticGuest g = guest(true)) {
            ElfView view = new ElfView(g.dump());
            byte[] ref = reference(g, view);
            for (int chunk : new int[] {1 << 20, 4096, 131_071}) {
                ByteBuffer direct = ByteBuffer.allocateDirect(chunk);
                byte[] got = new byte[ref.length];
                long pos = 0;
                int n;
                while ((n = view.read(pos, direct.clear())) > 0) {
                    direct.flip().get(got, (int) pos, n);
                    pos += n;
                }
                assertEquals(ref.length, pos, "chunk " + chunk);
                assertArrayEquals(ref, got, "chunk " + chunk);
            }
        }
    }

    @Test
    void read_concurrentSlices_equalReference() throws Exception {
        try (SyntheticGuest g = guest(true)) {
            ElfView view = new ElfView(g.dump());
            byte[] ref = reference(g, view);
            long[] edges = boundaries(view.layout());
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    Random rnd = new Random(t);
                    done.add(pool.submit(() -> {
                        for (int i = 0; i < 500; i++) {
                            long offset = Math.max(0, edges[rnd.nextInt(edges.length)] + rnd.nextInt(9000) - 4500);
                            checkSlice(view, ref, offset, rnd.nextInt(20_000));
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void read_atOrPastEnd_returnsZero() throws Exception {
        try (SyntheticGuest g = guest(true)) {
            ElfView view = new ElfView(g.dump());
            for (long offset : new long[] {view.size(), view.size() + 1, Long.MAX_VALUE}) {
                ByteBuffer dst = ByteBuffer.allocate(100);
                assertEquals(0, view.read(offset, dst));
                assertEquals(0, dst.position());
            }
        }
    }

    @Test
    void read_negativeOffset_throws() throws Exception {
        try (SyntheticGuest g = guest(true)) {
            ElfView view = new ElfView(g.dump());
            assertThrows(IllegalArgumentException.class, () -> view.read(-1, ByteBuffer.allocate(10)));
        }
    }

    @Test
    void read_fullBuffer_returnsZero() throws Exception {
        try (SyntheticGuest g = guest(true)) {
            ElfView view = new ElfView(g.dump());
            assertEquals(0, view.read(0, ByteBuffer.allocate(0)));
            assertEquals(0, view.read(view.layout().memoryOffset() + 5, ByteBuffer.allocate(8).position(8)));
        }
    }

    @Test
    void size_isHeaderPlusAllBlocks() throws Exception {
        try (SyntheticGuest g = guest(true)) {
            ElfView view = new ElfView(g.dump());
            int notes = SyntheticGuest.vmcoreinfoNote(VMCOREINFO).length + 28;
            long header = 64 + 56L * (g.blocks().size() + 1) + notes;
            assertEquals(header + g.dump().memory().totalBytes(), view.size());
        }
    }

    /** Every ELF field checked at its spec offset, independently of ElfLayout's own arithmetic. */
    @Test
    void header_withVmcoreinfo_fieldsAsQemuWritesThem() throws Exception {
        try (SyntheticGuest g = guest(true)) {
            ElfView view = new ElfView(g.dump());
            byte[] vmciNote = SyntheticGuest.vmcoreinfoNote(VMCOREINFO);
            int n = g.blocks().size();
            ByteBuffer h = slice(view, 0, 64 + 56 * (n + 1) + vmciNote.length + 28);

            // Elf64_Ehdr
            assertArrayEquals(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
                    Arrays.copyOf(h.array(), 16), "e_ident");
            assertEquals(4, h.getShort(16), "e_type ET_CORE");
            assertEquals(62, h.getShort(18), "e_machine EM_X86_64");
            assertEquals(1, h.getInt(20), "e_version");
            assertEquals(0, h.getLong(24), "e_entry");
            assertEquals(64, h.getLong(32), "e_phoff");
            assertEquals(0, h.getLong(40), "e_shoff");
            assertEquals(0, h.getInt(48), "e_flags");
            assertEquals(64, h.getShort(52), "e_ehsize");
            assertEquals(56, h.getShort(54), "e_phentsize");
            assertEquals(n + 1, h.getShort(56), "e_phnum");
            assertEquals(0, h.getShort(58), "e_shentsize");
            assertEquals(0, h.getShort(60), "e_shnum");
            assertEquals(0, h.getShort(62), "e_shstrndx");

            // PT_NOTE
            long noteOff = 64 + 56L * (n + 1);
            assertPhdr(h, 0, 4, noteOff, 0, vmciNote.length + 28);

            // PT_LOADs: data right after the notes, in block order, no padding
            long off = noteOff + vmciNote.length + 28;
            for (int i = 0; i < n; i++) {
                GuestPhysBlock b = g.blocks().get(i);
                assertPhdr(h, i + 1, 1, off, b.guestPaddrStart(), b.size());
                off += b.size();
            }
            assertEquals(view.size(), off, "last PT_LOAD ends the file");

            // Notes: VMCOREINFO byte for byte, then NONE/EMPTY type 0
            byte[] notes = Arrays.copyOfRange(h.array(), (int) noteOff, (int) noteOff + vmciNote.length + 28);
            assertArrayEquals(vmciNote, Arrays.copyOf(notes, vmciNote.length), "VMCOREINFO note");
            ByteBuffer ph = ByteBuffer.wrap(notes, vmciNote.length, 28).slice().order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(5, ph.getInt(0), "placeholder n_namesz");
            assertEquals(5, ph.getInt(4), "placeholder n_descsz");
            assertEquals(0, ph.getInt(8), "placeholder n_type");
            assertEquals("NONE\0\0\0\0EMPTY\0\0\0", new String(notes, vmciNote.length + 12, 16,
                    StandardCharsets.US_ASCII));
        }
    }

    @Test
    void header_withoutVmcoreinfo_placeholderNoteOnly() throws Exception {
        try (SyntheticGuest g = guest(false)) {
            ElfView view = new ElfView(g.dump());
            int n = g.blocks().size();
            ByteBuffer h = slice(view, 0, 64 + 56 * (n + 1) + 28);
            assertPhdr(h, 0, 4, 64 + 56L * (n + 1), 0, 28);
            assertArrayEquals(ElfLayout.placeholderNote(ByteOrder.LITTLE_ENDIAN),
                    Arrays.copyOfRange(h.array(), 64 + 56 * (n + 1), h.capacity()));
        }
    }

    /** A real client: readelf parses the file, lists one LOAD per block at the right place, and both notes. */
    @Test
    void readelf_syntheticGuest_showsLoadsAndVmcoreinfoNote() throws Exception {
        ExternalTool.require("readelf");
        try (SyntheticGuest g = guest(true)) {
            ElfView view = new ElfView(g.dump());
            Path file = ExternalTool.writeTo(view, tmp.resolve("vmcore.elf"));
            String out = ExternalTool.run("readelf", "-W", "-h", "-l", "-n", file.toString());

            assertTrue(out.contains("Type:                              CORE (Core file)"), out);
            assertTrue(out.contains("Machine:                           Advanced Micro Devices X86-64"), out);
            assertTrue(out.contains("Start of program headers:          64 (bytes into file)"), out);
            assertTrue(out.contains("Number of program headers:         " + (g.blocks().size() + 1)), out);

            List<long[]> loads = loads(out);
            assertEquals(g.blocks().size(), loads.size(), out);
            for (int i = 0; i < loads.size(); i++) {
                GuestPhysBlock b = g.blocks().get(i);
                long[] l = loads.get(i);
                assertEquals(view.layout().segmentOffset(i), l[0], "LOAD " + i + " offset");
                assertEquals(0, l[1], "LOAD " + i + " vaddr");
                assertEquals(b.guestPaddrStart(), l[2], "LOAD " + i + " paddr");
                assertEquals(b.size(), l[3], "LOAD " + i + " filesz");
                assertEquals(b.size(), l[4], "LOAD " + i + " memsz");
                // and the bytes at that offset are the guest's
                int len = (int) Math.min(b.size(), 4096);
                assertArrayEquals(g.expected(b.guestPaddrStart(), len), slice(view, l[0], len).array());
            }

            Matcher vmci = Pattern.compile("VMCOREINFO\\s+0x([0-9a-f]+)").matcher(out);
            assertTrue(vmci.find(), out);
            assertEquals(VMCOREINFO.length(), Integer.parseInt(vmci.group(1), 16), "VMCOREINFO descsz");
            assertTrue(Pattern.compile("NONE\\s+0x00000005").matcher(out).find(), out);
            assertTrue(out.indexOf("VMCOREINFO") < out.indexOf("NONE "), "VMCOREINFO note comes first:\n" + out);
        }
    }

    /** crash's ELF reader (netdump.c) accepts the file as KDUMP_ELF64 and finds VMCOREINFO in the notes. */
    @Test
    void crash_osrelease_readsVmcoreinfoNote() throws Exception {
        ExternalTool.require("crash");
        try (SyntheticGuest g = guest(true)) {
            Path file = ExternalTool.writeTo(new ElfView(g.dump()), tmp.resolve("vmcore.elf"));
            assertEquals("6.1.0-synthetic", ExternalTool.run("crash", "--osrelease", file.toString()).strip());
            String debug = ExternalTool.run("crash", "-d", "1", "--osrelease", file.toString());
            assertTrue(debug.contains("(KDUMP_LOCAL|KDUMP_ELF64)"), debug);
            assertTrue(debug.contains("num_pt_load_segments: " + g.blocks().size()), debug);
        }
    }

    /**
     * makedumpfile reads the PT_LOADs and VMCOREINFO: the step a QEMU 7.2 dump fails ("Can't get the number of
     * PT_LOAD", because 7.2 puts section headers at offset 64). It fails later, as expected: the synthetic guest
     * has no kernel page tables to dump dmesg from.
     */
    @Test
    void makedumpfile_dumpDmesg_readsLoadsAndVmcoreinfo() throws Exception {
        ExternalTool.require("makedumpfile");
        try (SyntheticGuest g = guest(true)) {
            Path file = ExternalTool.writeTo(new ElfView(g.dump()), tmp.resolve("vmcore.elf"));
            String out = ExternalTool.runAnyExit("makedumpfile", "--message-level", "31", "-D", "--dump-dmesg",
                    file.toString(), tmp.resolve("dmesg.txt").toString()).output();
            assertFalse(out.contains("Can't get the number of PT_LOAD"), out);
            for (int i = 0; i < g.blocks().size(); i++) {
                GuestPhysBlock b = g.blocks().get(i);
                assertTrue(Pattern.compile(String.format("LOAD\\[ ?%d\\]\\s+%x\\s+%x\\s", i, b.guestPaddrStart(),
                        b.guestPaddrEnd())).matcher(out).find(), "LOAD " + i + " in:\n" + out);
            }
            assertTrue(out.contains("OSRELEASE=6.1.0-synthetic"), out);
        }
    }

    /** 70000 blocks need 70001 program headers: e_phnum = PN_XNUM and the count in section 0's sh_info. */
    @Test
    void pnXnum_70000Blocks_readelfCountsAllProgramHeaders() throws Exception {
        ExternalTool.require("readelf");
        int n = 70_000;
        try (SyntheticGuest g = manyBlocks(n)) {
            ElfView view = new ElfView(g.dump());
            long shoff = 64 + 56L * (n + 1);
            ByteBuffer h = slice(view, 0, (int) shoff + 64);
            assertEquals(0xffff, Short.toUnsignedInt(h.getShort(56)), "e_phnum = PN_XNUM");
            assertEquals(64, h.getLong(32), "e_phoff: program headers still right after the ELF header");
            assertEquals(shoff, h.getLong(40), "e_shoff: section header after the program headers");
            assertEquals(64, h.getShort(58), "e_shentsize");
            assertEquals(1, h.getShort(60), "e_shnum");
            assertEquals(0, h.getInt((int) shoff + 4), "sh_type SHT_NULL");
            assertEquals(n + 1, h.getInt((int) shoff + 44), "sh_info = real program header count");
            assertPhdr(h, 0, 4, shoff + 64, 0, SyntheticGuest.vmcoreinfoNote(VMCOREINFO).length + 28);

            byte[] ref = reference(g, view);
            Random rnd = new Random(7);
            for (int i = 0; i < 500; i++) {
                checkSlice(view, ref, (long) (rnd.nextDouble() * ref.length), rnd.nextInt(1000));
            }

            Path file = ExternalTool.writeTo(view, tmp.resolve("xnum.elf"));
            String hdr = ExternalTool.run("readelf", "-W", "-h", file.toString());
            assertTrue(hdr.contains("Number of program headers:         65535 (" + (n + 1) + ")"), hdr);
            String phdrs = ExternalTool.run("readelf", "-W", "-l", "-n", file.toString());
            assertTrue(phdrs.contains("There are " + (n + 1) + " program headers, starting at offset 64"), phdrs);
            List<long[]> loads = loads(phdrs);
            assertEquals(n, loads.size());
            assertEquals(0x1000L * (n - 1), loads.get(n - 1)[2], "last LOAD paddr");
            assertEquals(view.size(), loads.get(n - 1)[0] + 64, "last LOAD ends the file");
            assertTrue(phdrs.contains("VMCOREINFO"), "notes found through the extended count");
        }
    }

    @Test
    void pnXnum_70000Blocks_crashCountsAllLoads() throws Exception {
        ExternalTool.require("crash");
        try (SyntheticGuest g = manyBlocks(70_000)) {
            Path file = ExternalTool.writeTo(new ElfView(g.dump()), tmp.resolve("xnum.elf"));
            String debug = ExternalTool.run("crash", "-d", "1", "--osrelease", file.toString());
            assertTrue(debug.contains("num_pt_load_segments: 70000"), debug.lines().limit(40).toList().toString());
            assertTrue(debug.strip().endsWith("6.1.0-synthetic"), "VMCOREINFO found through the extended count");
        }
    }

    // --- helpers

    /** {@code n} 64-byte blocks, one per 4 KiB page. */
    private SyntheticGuest manyBlocks(int n) {
        SyntheticGuest.Builder b = SyntheticGuest.builder(tmp).vmcoreinfo(VMCOREINFO);
        for (int i = 0; i < n; i++) {
            b.block(0x1000L * i, 64, "pc.ram");
        }
        return b.build();
    }

    private SyntheticGuest guest(boolean withVmcoreinfo) {
        SyntheticGuest.Builder b = SyntheticGuest.builder(tmp).seed(3).blocks(BLOCKS);
        if (withVmcoreinfo) {
            b.vmcoreinfo(VMCOREINFO);
        }
        return b.build();
    }

    /** The whole file, written sequentially: header bytes, then every block's guest bytes in order. */
    static byte[] reference(SyntheticGuest g, ElfView view) {
        byte[] header = view.layout().header();
        byte[] ref = new byte[Math.toIntExact(header.length + g.dump().memory().totalBytes())];
        System.arraycopy(header, 0, ref, 0, header.length);
        int pos = header.length;
        for (GuestPhysBlock b : g.blocks()) {
            g.expected(b.guestPaddrStart(), ref, pos, (int) b.size());
            pos += (int) b.size();
        }
        assertEquals(ref.length, view.size(), "size()");
        return ref;
    }

    /** Offsets where reads are most likely to go wrong: structure and segment edges. */
    static long[] boundaries(ElfLayout l) {
        List<Long> e = new ArrayList<>(List.of(0L, 64L, 64L + 56, l.noteOffset(), l.noteOffset() + l.noteSize(),
                l.memoryOffset(), l.size()));
        for (int i = 0; i < l.blocks().size(); i++) {
            e.add(l.segmentOffset(i));
        }
        return e.stream().mapToLong(Long::longValue).toArray();
    }

    /** Reads [offset, offset+len) into the middle of a larger buffer and checks the bytes and the bytes around. */
    static void checkSlice(View view, byte[] ref, long offset, int len) {
        int pad = 7;
        ByteBuffer dst = ByteBuffer.allocate(len + 2 * pad);
        Arrays.fill(dst.array(), (byte) 0x5a);
        dst.position(pad).limit(pad + len);
        int n = view.read(offset, dst);
        int want = (int) Math.max(0, Math.min(len, ref.length - offset));
        String where = "read(" + offset + ", " + len + ")";
        assertEquals(want, n, where);
        assertEquals(pad + n, dst.position(), where + " position");
        assertEquals(pad + len, dst.limit(), where + " limit");
        if (n > 0) {
            assertArrayEquals(Arrays.copyOfRange(ref, (int) offset, (int) offset + n),
                    Arrays.copyOfRange(dst.array(), pad, pad + n), where);
        }
        for (int i = 0; i < pad; i++) {
            assertEquals(0x5a, dst.array()[i], where + " wrote before position");
        }
        for (int i = pad + n; i < dst.capacity(); i++) {
            assertEquals(0x5a, dst.array()[i], where + " wrote past the bytes it returned");
        }
    }

    static ByteBuffer slice(View view, long offset, int len) {
        ByteBuffer b = ByteBuffer.allocate(len);
        assertEquals(len, view.read(offset, b));
        return b.flip().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Checks Elf64_Phdr {@code i}: p_flags, p_vaddr and p_align 0 as QEMU writes them, filesz == memsz. */
    static void assertPhdr(ByteBuffer h, int i, int type, long offset, long paddr, long size) {
        int at = 64 + 56 * i;
        String p = "phdr " + i + " ";
        assertEquals(type, h.getInt(at), p + "p_type");
        assertEquals(0, h.getInt(at + 4), p + "p_flags");
        assertEquals(offset, h.getLong(at + 8), p + "p_offset");
        assertEquals(0, h.getLong(at + 16), p + "p_vaddr");
        assertEquals(paddr, h.getLong(at + 24), p + "p_paddr");
        assertEquals(size, h.getLong(at + 32), p + "p_filesz");
        assertEquals(size, h.getLong(at + 40), p + "p_memsz");
        assertEquals(0, h.getLong(at + 48), p + "p_align");
    }

    private static final Pattern LOAD = Pattern.compile(
            "^\\s*LOAD\\s+0x(\\p{XDigit}+)\\s+0x(\\p{XDigit}+)\\s+0x(\\p{XDigit}+)\\s+0x(\\p{XDigit}+)\\s+0x(\\p{XDigit}+)",
            Pattern.MULTILINE);

    /** Parses readelf -W -l's LOAD rows: {offset, vaddr, paddr, filesz, memsz}. */
    static List<long[]> loads(String readelf) {
        List<long[]> out = new ArrayList<>();
        Matcher m = LOAD.matcher(readelf);
        while (m.find()) {
            long[] row = new long[5];
            for (int k = 0; k < 5; k++) {
                row[k] = Long.parseUnsignedLong(m.group(k + 1), 16);
            }
            out.add(row);
        }
        return out;
    }
}

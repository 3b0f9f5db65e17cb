package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.VmcoreInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** ElfLayout is pure arithmetic: these tests need no core file. */
class ElfLayoutTest {

    private static final byte[] PLACEHOLDER = ElfLayout.placeholderNote(ByteOrder.LITTLE_ENDIAN);

    @Test
    void placeholderNote_isNoneEmptyType0() {
        ByteBuffer b = ByteBuffer.allocate(28).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(5).putInt(5).putInt(0)
                .put(new byte[] {'N', 'O', 'N', 'E', 0, 0, 0, 0})
                .put(new byte[] {'E', 'M', 'P', 'T', 'Y', 0, 0, 0});
        assertArrayEquals(b.array(), PLACEHOLDER);
    }

    @Test
    void notes_unalignedVmcoreinfo_paddedToFourBytes() {
        byte[] odd = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
        byte[] notes = ElfLayout.notes(Optional.of(new VmcoreInfo(odd, 0, "test", ByteOrder.LITTLE_ENDIAN)), ByteOrder.LITTLE_ENDIAN);
        assertEquals(16 + 28, notes.length);
        assertEquals(0, notes[13] | notes[14] | notes[15]);
        assertEquals(5, notes[16], "placeholder starts 4-aligned");
    }

    @Test
    void notes_noVmcoreinfo_placeholderOnly() {
        assertArrayEquals(PLACEHOLDER, ElfLayout.notes(Optional.empty(), ByteOrder.LITTLE_ENDIAN));
    }

    /** gABI: e_phnum holds the count up to 0xfffe; 0xffff program headers or more need extended numbering. */
    @Test
    void extendedNumbering_atPnXnumProgramHeaders() {
        ElfLayout below = ElfLayout.of(blocks(0xfffd), GuestPlatform.X86_64, PLACEHOLDER);
        assertEquals(0xfffe, below.phdrCount());
        assertFalse(below.extendedNumbering());
        assertEquals(0, below.sectionHeaderOffset());
        ByteBuffer hb = ByteBuffer.wrap(below.header()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0xfffe, Short.toUnsignedInt(hb.getShort(56)));
        assertEquals(64 + 56L * 0xfffe, below.noteOffset(), "no section header when not needed");

        ElfLayout at = ElfLayout.of(blocks(0xfffe), GuestPlatform.X86_64, PLACEHOLDER);
        assertEquals(0xffff, at.phdrCount());
        assertTrue(at.extendedNumbering());
        long shoff = 64 + 56L * 0xffff;
        assertEquals(shoff, at.sectionHeaderOffset());
        assertEquals(shoff + 64, at.noteOffset(), "notes after the section header");
        ByteBuffer ha = ByteBuffer.wrap(at.header()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0xffff, Short.toUnsignedInt(ha.getShort(56)), "e_phnum");
        assertEquals(0xffff, ha.getInt((int) shoff + 44), "sh_info");
    }

    @Test
    void segmentAt_edges_findOwningBlock() {
        List<GuestPhysBlock> blocks = List.of(
                new GuestPhysBlock(0, 0x10, 0, 0, "a"),
                new GuestPhysBlock(0x1000, 0x1001, 0, 0x10, "b"),
                new GuestPhysBlock(0x2000, 0x3000, 0, 0x11, "c"));
        ElfLayout l = ElfLayout.of(blocks, GuestPlatform.X86_64, PLACEHOLDER);
        long m = l.memoryOffset();
        assertEquals(64 + 56 * 4 + 28, m);
        assertEquals(0, l.segmentAt(m));
        assertEquals(0, l.segmentAt(m + 0xf));
        assertEquals(1, l.segmentAt(m + 0x10));
        assertEquals(2, l.segmentAt(m + 0x11));
        assertEquals(2, l.segmentAt(m + 0x11 + 0xfff));
        assertEquals(m + 0x11 + 0x1000, l.size());
        assertThrows(IllegalArgumentException.class, () -> l.segmentAt(m - 1));
        assertThrows(IllegalArgumentException.class, () -> l.segmentAt(l.size()));
    }

    @Test
    void of_noBlocks_noteOnly() {
        ElfLayout l = ElfLayout.of(List.of(), GuestPlatform.X86_64, PLACEHOLDER);
        assertEquals(1, l.phdrCount());
        assertEquals(64 + 56 + 28, l.size());
    }

    @Test
    void of_totalSizeOverflows_throws() {
        List<GuestPhysBlock> huge = List.of(
                new GuestPhysBlock(0, Long.MAX_VALUE, 0, 0, "a"),
                new GuestPhysBlock(Long.MAX_VALUE, -1L, 0, 0, "b"));
        assertThrows(ArithmeticException.class, () -> ElfLayout.of(huge, GuestPlatform.X86_64, PLACEHOLDER));
    }

    static final GuestPlatform I386 = new GuestPlatform(GuestArch.I386, ByteOrder.LITTLE_ENDIAN, 4096, "test");
    static final GuestPlatform S390X = new GuestPlatform(GuestArch.S390X, ByteOrder.BIG_ENDIAN, 4096, "test");
    static final GuestPlatform PPC64LE = new GuestPlatform(GuestArch.PPC64, ByteOrder.LITTLE_ENDIAN, 65536, "test");

    /** An i386 guest whose RAM all lies below 4 GiB: Elf32_Ehdr (52 bytes) and Elf32_Phdr (32 bytes each). */
    @Test
    void header_i386BelowFourGiB_elf32() {
        List<GuestPhysBlock> blocks = List.of(
                new GuestPhysBlock(0, 0xa0000, 0, 0, "pc.ram"),
                new GuestPhysBlock(0x100000, 0xf0000000L, 0, 0xa0000, "pc.ram"));
        byte[] notes = ElfLayout.placeholderNote(ByteOrder.LITTLE_ENDIAN);
        ElfLayout l = ElfLayout.of(blocks, I386, notes);
        assertEquals(ElfClass.ELF32, l.elfClass());
        ByteBuffer h = ByteBuffer.wrap(l.header()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1, h.get(4), "EI_CLASS ELFCLASS32");
        assertEquals(1, h.get(5), "EI_DATA ELFDATA2LSB");
        assertEquals(4, h.getShort(16), "e_type ET_CORE");
        assertEquals(3, h.getShort(18), "e_machine EM_386");
        assertEquals(52, h.getInt(28), "e_phoff");
        assertEquals(0, h.getInt(32), "e_shoff");
        assertEquals(52, h.getShort(40), "e_ehsize");
        assertEquals(32, h.getShort(42), "e_phentsize");
        assertEquals(3, h.getShort(44), "e_phnum");
        long noteOff = 52 + 3 * 32;
        assertEquals(noteOff, l.noteOffset());
        assertEquals(4, h.getInt(52), "PT_NOTE");
        assertEquals(noteOff, h.getInt(52 + 4), "PT_NOTE p_offset");
        assertEquals(notes.length, h.getInt(52 + 16), "PT_NOTE p_filesz");
        long data = noteOff + notes.length;
        for (int i = 0; i < 2; i++) {
            int ph = 52 + 32 * (i + 1);
            GuestPhysBlock b = blocks.get(i);
            assertEquals(1, h.getInt(ph), "PT_LOAD");
            assertEquals(data, Integer.toUnsignedLong(h.getInt(ph + 4)), "p_offset");
            assertEquals(0, h.getInt(ph + 8), "p_vaddr");
            assertEquals(b.guestPaddrStart(), Integer.toUnsignedLong(h.getInt(ph + 12)), "p_paddr");
            assertEquals(b.size(), Integer.toUnsignedLong(h.getInt(ph + 16)), "p_filesz");
            assertEquals(b.size(), Integer.toUnsignedLong(h.getInt(ph + 20)), "p_memsz");
            assertEquals(0, h.getInt(ph + 24), "p_flags");
            data += b.size();
        }
        assertEquals(data, l.size());
    }

    /** QEMU's rule: a block whose exclusive end exceeds UINT_MAX (the BIOS ending at 4 GiB) makes it ELF64. */
    @Test
    void elfClass_i386BlockEndingAtFourGiB_elf64() {
        List<GuestPhysBlock> blocks = List.of(new GuestPhysBlock(0, 0x10000000L, 0, 0, "pc.ram"),
                new GuestPhysBlock(0xfffc0000L, 0x100000000L, 0, 0x10000000L, "pc.bios"));
        ElfLayout l = ElfLayout.of(blocks, I386, PLACEHOLDER);
        assertEquals(ElfClass.ELF64, l.elfClass());
        ByteBuffer h = ByteBuffer.wrap(l.header()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(2, h.get(4));
        assertEquals(3, h.getShort(18), "still EM_386");
        assertEquals(ElfClass.ELF32, ElfClass.of(I386, blocks.subList(0, 1)));
        assertEquals(ElfClass.ELF32, ElfClass.of(I386, List.of(new GuestPhysBlock(0, 0xffffffffL, 0, 0, "x"))));
        assertEquals(ElfClass.ELF64, ElfClass.of(GuestPlatform.X86_64, blocks.subList(0, 1)), "64-bit guests");
    }

    @Test
    void header_s390x_bigEndianThroughout() {
        List<GuestPhysBlock> blocks = List.of(new GuestPhysBlock(0, 0x10000000L, 0, 0, "s390.ram"));
        byte[] notes = ElfLayout.placeholderNote(ByteOrder.BIG_ENDIAN);
        ElfLayout l = ElfLayout.of(blocks, S390X, notes);
        ByteBuffer h = ByteBuffer.wrap(l.header()).order(ByteOrder.BIG_ENDIAN);
        assertEquals(2, h.get(4), "ELFCLASS64");
        assertEquals(2, h.get(5), "EI_DATA ELFDATA2MSB");
        assertEquals(4, h.getShort(16), "e_type");
        assertEquals(22, h.getShort(18), "e_machine EM_S390");
        assertEquals(1, h.getInt(20), "e_version");
        assertEquals(64, h.getLong(32), "e_phoff");
        assertEquals(56, h.getShort(54), "e_phentsize");
        assertEquals(2, h.getShort(56), "e_phnum");
        assertEquals(4, h.getInt(64), "PT_NOTE");
        assertEquals(1, h.getInt(64 + 56), "PT_LOAD");
        assertEquals(0x10000000L, h.getLong(64 + 56 + 32), "p_filesz");
        assertEquals(5, h.getInt((int) l.noteOffset()), "note n_namesz, big-endian");
        assertArrayEquals(notes, java.util.Arrays.copyOfRange(l.header(), (int) l.noteOffset(),
                (int) l.noteOffset() + notes.length));
    }

    @Test
    void header_ppc64le_littleEndianPpc64() {
        ElfLayout l = ElfLayout.of(List.of(new GuestPhysBlock(0, 0x10000000L, 0, 0, "ppc_spapr.ram")), PPC64LE,
                PLACEHOLDER);
        ByteBuffer h = ByteBuffer.wrap(l.header()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1, h.get(5), "ELFDATA2LSB: the guest's order, not QEMU 7.2's big-endian");
        assertEquals(21, h.getShort(18), "EM_PPC64");
    }

    @Test
    void extendedNumbering_elf32_countInSectionHeadersShInfo() {
        ElfLayout l = ElfLayout.of(blocks(0xfffe), I386, PLACEHOLDER);
        assertEquals(ElfClass.ELF32, l.elfClass());
        assertTrue(l.extendedNumbering());
        long shoff = 52 + 32L * 0xffff;
        assertEquals(shoff, l.sectionHeaderOffset());
        assertEquals(shoff + 40, l.noteOffset());
        ByteBuffer h = ByteBuffer.wrap(l.header()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(shoff, h.getInt(32), "e_shoff");
        assertEquals(0xffff, Short.toUnsignedInt(h.getShort(44)), "e_phnum");
        assertEquals(40, h.getShort(46), "e_shentsize");
        assertEquals(1, h.getShort(48), "e_shnum");
        assertEquals(0xffff, h.getInt((int) shoff + 28), "sh_info");
    }

    @Test
    void of_elf32PastFourGiBOfFile_throws() {
        // Blocks below 4 GiB whose bytes with the header exceed ELF32's 32-bit offsets.
        List<GuestPhysBlock> blocks = List.of(new GuestPhysBlock(0, 0xfffffff0L, 0, 0, "pc.ram"));
        assertThrows(IllegalArgumentException.class, () -> ElfLayout.of(blocks, I386, PLACEHOLDER));
    }

    private static List<GuestPhysBlock> blocks(int n) {
        List<GuestPhysBlock> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(new GuestPhysBlock(0x1000L * i, 0x1000L * i + 8, 0, 0, "b"));
        }
        return out;
    }
}

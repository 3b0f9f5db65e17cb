package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    private static List<GuestPhysBlock> blocks(int n) {
        List<GuestPhysBlock> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(new GuestPhysBlock(0x1000L * i, 0x1000L * i + 8, 0, 0, "b"));
        }
        return out;
    }
}

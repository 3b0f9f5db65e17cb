package io.vmdumpfs.core.elf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.guest.VmcoreInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The one note reader and writer, in both byte orders. */
class ElfNotesTest {

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void write_bigEndian_headerInThatOrderNameAndDescPadded() {
        byte[] n = ElfNotes.write("CORE", 1, new byte[] {1, 2, 3, 4, 5}, ByteOrder.BIG_ENDIAN);
        assertEquals(12 + 8 + 8, n.length);
        ByteBuffer b = ByteBuffer.wrap(n).order(ByteOrder.BIG_ENDIAN);
        assertEquals(5, b.getInt(0));
        assertEquals(5, b.getInt(4));
        assertEquals(1, b.getInt(8));
        assertEquals("CORE\0", new String(n, 12, 5, StandardCharsets.US_ASCII));
        assertArrayEquals(new byte[] {1, 2, 3, 4, 5, 0, 0, 0}, java.util.Arrays.copyOfRange(n, 20, 28));
    }

    @Test
    void read_bothOrders_sameNotesWithOffsets() {
        for (ByteOrder order : new ByteOrder[] {ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN}) {
            byte[] a = ElfNotes.write("CORE", 1, new byte[6], order);
            byte[] b = ElfNotes.write("VMCOREINFO", 0, "OSRELEASE=x\n".getBytes(StandardCharsets.US_ASCII), order);
            ElfNotes.Parsed p = ElfNotes.read(ByteBuffer.wrap(concat(a, b)), order, 100);
            assertFalse(p.malformed());
            assertEquals(2, p.notes().size());
            ElfNote v = p.named("VMCOREINFO").orElseThrow();
            assertEquals(100 + a.length, v.fileOffset());
            assertEquals(100 + a.length + 12 + 12, v.descOffset());
            assertEquals(0, v.type());
            assertEquals("OSRELEASE=x\n", new String(v.desc(), StandardCharsets.US_ASCII));
        }
    }

    @Test
    void read_wrongOrder_stopsAsMalformedInsteadOfReadingGarbage() {
        byte[] a = ElfNotes.write("CORE", 1, new byte[6], ByteOrder.BIG_ENDIAN);
        ElfNotes.Parsed p = ElfNotes.read(a, ByteOrder.LITTLE_ENDIAN);
        assertTrue(p.malformed());
        assertEquals(0, p.malformedAt());
        assertTrue(p.notes().isEmpty());
    }

    @Test
    void read_secondNoteRunsPast_firstKeptAndWhereItStopped() {
        byte[] a = ElfNotes.write("CORE", 1, new byte[4], ByteOrder.LITTLE_ENDIAN);
        byte[] b = ElfNotes.write("CORE", 2, new byte[4], ByteOrder.LITTLE_ENDIAN);
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 0xfffffff0);
        ElfNotes.Parsed p = ElfNotes.read(concat(a, b), ByteOrder.LITTLE_ENDIAN);
        assertEquals(1, p.notes().size());
        assertEquals(a.length, p.malformedAt());
    }

    @Test
    void vmcoreinfoText_bigEndianGuestNote_readInItsOrder() {
        byte[] note = ElfNotes.write("VMCOREINFO", 0, "OSRELEASE=6.1\nPAGESIZE=4096\n".getBytes(StandardCharsets.US_ASCII),
                ByteOrder.BIG_ENDIAN);
        assertEquals("6.1", new VmcoreInfo(note, 0, "t", ByteOrder.BIG_ENDIAN).osRelease());
        assertEquals("", new VmcoreInfo(note, 0, "t", ByteOrder.LITTLE_ENDIAN).text(), "sizes misread: no text");
    }
}

package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class BytesViewTest {

    @Test
    void read_anySlice_equalsText() {
        String text = "OSRELEASE=6.1.0\nPAGESIZE=4096\n";
        BytesView v = BytesView.ofText(text);
        byte[] ref = text.getBytes(StandardCharsets.UTF_8);
        assertEquals(ref.length, v.size());
        for (int off = 0; off <= ref.length + 2; off++) {
            for (int len = 0; len <= ref.length + 2; len++) {
                ElfViewTest.checkSlice(v, ref, off, len);
            }
        }
    }

    @Test
    void read_farPastEnd_returnsZero() {
        assertEquals(0, BytesView.ofText("x").read(Long.MAX_VALUE, ByteBuffer.allocate(4)));
    }

    @Test
    void read_negativeOffset_throws() {
        assertThrows(IllegalArgumentException.class, () -> BytesView.ofText("x").read(-1, ByteBuffer.allocate(4)));
    }

    @Test
    void constructor_callerChangesArray_viewUnchanged() {
        byte[] b = {1, 2, 3};
        BytesView v = new BytesView(b);
        b[0] = 9;
        ByteBuffer dst = ByteBuffer.allocate(3);
        v.read(0, dst);
        assertEquals(1, dst.get(0));
    }
}

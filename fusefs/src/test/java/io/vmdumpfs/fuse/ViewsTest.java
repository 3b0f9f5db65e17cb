package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vmdumpfs.core.format.View;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class ViewsTest {

    /** A view that returns at most {@code step} bytes per call, and does not advance dst when told so. */
    static View stingy(byte[] content, int step, boolean advance) {
        return new View() {
            @Override
            public long size() {
                return content.length;
            }

            @Override
            public int read(long offset, ByteBuffer dst) {
                if (offset >= content.length) {
                    return 0;
                }
                int n = (int) Math.min(Math.min(step, dst.remaining()), content.length - offset);
                if (advance) {
                    dst.put(content, (int) offset, n);
                } else {
                    dst.duplicate().put(content, (int) offset, n);
                }
                return n;
            }
        };
    }

    private static byte[] content(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        return b;
    }

    @Test
    void readFully_shortReads_looped() {
        byte[] c = content(1000);
        ByteBuffer dst = ByteBuffer.allocate(300);
        assertEquals(300, Views.readFully(stingy(c, 7, true), 100, dst));
        assertArrayEquals(Arrays.copyOfRange(c, 100, 400), dst.array());
    }

    @Test
    void readFully_viewNotAdvancingDst_positionPinned() {
        byte[] c = content(100);
        ByteBuffer dst = ByteBuffer.allocate(50);
        assertEquals(50, Views.readFully(stingy(c, 9, false), 10, dst));
        assertArrayEquals(Arrays.copyOfRange(c, 10, 60), dst.array());
    }

    @Test
    void readFully_atEnd_stopsShort() {
        byte[] c = content(100);
        ByteBuffer dst = ByteBuffer.allocate(50);
        assertEquals(20, Views.readFully(stingy(c, 8, true), 80, dst));
        assertEquals(20, dst.position());
    }

    @Test
    void readFully_pastEnd_zero() {
        assertEquals(0, Views.readFully(stingy(content(10), 8, true), 10, ByteBuffer.allocate(5)));
    }
}

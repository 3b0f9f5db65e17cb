package io.vmdumpfs.core.format.kdump;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** PageSet against a BitSet: membership, rank, select and iteration, and what a valid set is. */
class PageSetTest {

    /** Builds the PageSet of {@code bits} over {@code size} pages. */
    static PageSet of(BitSet bits, int size) {
        int chunkCount = PageSet.chunkCount(size);
        int[] chunks = new int[chunkCount];
        long[] masks = new long[chunkCount * PageSet.WORDS];
        int n = 0;
        for (int c = 0; c < chunkCount; c++) {
            long[] m = bits.get(c * PageSet.CHUNK, Math.min(size, (c + 1) * PageSet.CHUNK)).toLongArray();
            if (m.length > 0) {
                chunks[n] = c;
                System.arraycopy(m, 0, masks, n * PageSet.WORDS, m.length);
                n++;
            }
        }
        return PageSet.of(size, Arrays.copyOf(chunks, n), Arrays.copyOf(masks, n * PageSet.WORDS));
    }

    private static void assertSame(BitSet bits, int size, PageSet s) {
        assertEquals(size, s.size());
        assertEquals(bits.cardinality(), s.count());
        int ordinal = 0;
        for (int p = 0; p <= size; p++) {
            assertEquals(ordinal, s.rank(p), "rank " + p);
            if (p == size) {
                break;
            }
            assertEquals(bits.get(p), s.contains(p), "contains " + p);
            int next = bits.nextSetBit(p);
            assertEquals(next < 0 || next >= size ? -1 : next, s.nextMember(p), "nextMember " + p);
            if (bits.get(p)) {
                assertEquals(p, s.select(ordinal), "select " + ordinal);
                ordinal++;
            }
        }
        int total = 0;
        for (int k = 0; k < s.slots(); k++) {
            assertEquals(total, s.membersBeforeSlot(k));
            assertEquals(k, s.slotOf(s.chunkOfSlot(k)));
            total += s.membersInSlot(k);
        }
        assertEquals(s.count(), total);
    }

    @Test
    void of_randomSets_agreeWithBitSet() {
        Random rnd = new Random(3);
        for (int size : new int[] {0, 1, 63, 64, 65, 255, 256, 257, 1000, 5 * 256 + 3}) {
            for (double density : new double[] {0, 0.01, 0.5, 0.99, 1}) {
                BitSet bits = new BitSet();
                for (int p = 0; p < size; p++) {
                    if (rnd.nextDouble() < density) {
                        bits.set(p);
                    }
                }
                assertSame(bits, size, of(bits, size));
            }
        }
    }

    @Test
    void all_everyPage_noChunksStored() {
        PageSet a = PageSet.all(1000);
        BitSet bits = new BitSet();
        bits.set(0, 1000);
        assertSame(bits, 1000, a);
        assertTrue(a.isAll());
        assertEquals(4, a.slots());
        assertEquals(-1L >>> (64 - (1000 - 3 * 256 - 192)), a.slotWord(3, 3), "the last chunk's mask ends at the size");
        assertEquals(0, a.slotWord(3, 3) >>> (1000 - 3 * 256 - 192));
    }

    @Test
    void of_aLongRunOfAbsentPages_costsNothing() {
        // 1 TiB of 4 KiB pages, members in two chunks only: two slots, whatever lies between
        int size = 1 << 28;
        BitSet bits = new BitSet();
        bits.set(5);
        bits.set(size - 1);
        PageSet s = of(bits, size);
        assertEquals(2, s.slots());
        assertEquals(1, s.rank(size - 1));
        assertEquals(size - 1, s.select(1));
        assertEquals(size - 1, s.nextMember(6));
    }

    @Test
    void of_invalid_rejected() {
        long[] one = {1, 0, 0, 0};
        assertThrows(IllegalArgumentException.class, () -> PageSet.of(300, new int[] {2}, one), "chunk past the end");
        assertThrows(IllegalArgumentException.class, () -> PageSet.of(600, new int[] {1, 1}, new long[] {1, 0, 0, 0, 1, 0, 0, 0}),
                "chunks not ascending");
        assertThrows(IllegalArgumentException.class, () -> PageSet.of(600, new int[] {1}, new long[4]), "empty chunk");
        assertThrows(IllegalArgumentException.class, () -> PageSet.of(300, new int[] {1}, new long[] {0, 1L << 50, 0, 0}),
                "member past the size");
        assertThrows(IllegalArgumentException.class, () -> PageSet.of(300, new int[] {1}, new long[] {1}), "short mask");
        assertThrows(IndexOutOfBoundsException.class, () -> PageSet.of(300, new int[] {1}, one).select(1));
    }
}

package io.vmdumpfs.core.elf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class DropBehindTest {

    private static final long MIB = 1L << 20;
    private static final int READ = 128 * 1024;

    /** Advice received, in order: {offset, length}. */
    private final List<long[]> advice = new ArrayList<>();
    private DropBehind drop = new DropBehind((off, len) -> {
        synchronized (advice) {
            advice.add(new long[] {off, len});
            advice.notifyAll();
        }
    });

    @AfterEach
    void close() {
        drop.close();
    }

    /** Returns the advice once {@code n} arrived (the advisor runs on a background thread), or after 5 s. */
    private List<long[]> awaitAdvice(int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        synchronized (advice) {
            while (advice.size() < n && System.nanoTime() < deadline) {
                advice.wait(50);
            }
            return new ArrayList<>(advice);
        }
    }

    /** Returns the advice after giving the background thread time to deliver any. */
    private List<long[]> settledAdvice() throws InterruptedException {
        Thread.sleep(100);
        synchronized (advice) {
            return new ArrayList<>(advice);
        }
    }

    private static long covered(List<long[]> got) {
        return got.stream().mapToLong(a -> a[1]).sum();
    }

    @Test
    void onRead_sequentialStream_dropsAllButTheLagBehindIt() throws Exception {
        long base = 100 * MIB;
        long end = base + 64 * MIB;
        for (long off = base; off < end; off += READ) {
            drop.onRead(off, READ);
        }
        List<long[]> got = awaitAdvice(1);
        Thread.sleep(100);
        got = settledAdvice();
        assertEquals(base, got.get(0)[0], "from where the stream began");
        for (int i = 1; i < got.size(); i++) {
            assertEquals(got.get(i - 1)[0] + got.get(i - 1)[1], got.get(i)[0], "contiguous steps");
            assertTrue(got.get(i)[1] >= DropBehind.STEP);
        }
        long droppedTo = got.get(got.size() - 1)[0] + got.get(got.size() - 1)[1];
        assertTrue(droppedTo <= end - DropBehind.LAG, "the last " + DropBehind.LAG + " bytes stay");
        assertTrue(droppedTo > end - DropBehind.LAG - DropBehind.STEP, "everything else went: " + droppedTo);
    }

    @Test
    void onRead_shortRun_dropsNothing() throws Exception {
        for (long off = 0; off < DropBehind.TRIGGER + DropBehind.LAG; off += READ) {
            drop.onRead(off, READ);
        }
        assertEquals(List.of(), settledAdvice(), "less than LAG + STEP read: nothing to drop yet");
    }

    @Test
    void onRead_slightlyOutOfOrder_stillOneStream() throws Exception {
        // pairs of requests finishing in swapped order, as two libfuse threads do
        for (long off = 0; off < 32 * MIB; off += 2 * READ) {
            drop.onRead(off + READ, READ);
            drop.onRead(off, READ);
        }
        List<long[]> got = awaitAdvice(1);
        assertEquals(0, got.get(0)[0]);
        assertTrue(covered(settledAdvice()) >= 32 * MIB - DropBehind.LAG - DropBehind.STEP);
    }

    @Test
    void onRead_randomReads_dropNothing() throws Exception {
        Random rnd = new Random(7);
        for (int i = 0; i < 5000; i++) {
            drop.onRead((rnd.nextLong() & ((1L << 36) - 1)) & ~4095L, 4096);
        }
        assertEquals(List.of(), settledAdvice(), "crash-like random reads keep the core's pages");
    }

    @Test
    void onRead_twoInterleavedStreams_eachDropsBehindItself() throws Exception {
        long a = 0;
        long b = 10L << 30;
        for (long i = 0; i < 32 * MIB; i += READ) {
            drop.onRead(a + i, READ);
            drop.onRead(b + i, READ);
        }
        awaitAdvice(2);
        List<long[]> got = settledAdvice();
        assertTrue(got.stream().anyMatch(x -> x[0] == a));
        assertTrue(got.stream().anyMatch(x -> x[0] == b));
        for (long[] x : got) {
            boolean inA = x[0] >= a && x[0] + x[1] <= a + 32 * MIB - DropBehind.LAG;
            boolean inB = x[0] >= b && x[0] + x[1] <= b + 32 * MIB - DropBehind.LAG;
            assertTrue(inA || inB, "advice stays behind its own stream");
        }
    }

    @Test
    void close_laterReadsDropNothing() throws Exception {
        drop.close();
        for (long off = 0; off < 64 * MIB; off += READ) {
            drop.onRead(off, READ);
        }
        assertEquals(List.of(), settledAdvice());
    }
}

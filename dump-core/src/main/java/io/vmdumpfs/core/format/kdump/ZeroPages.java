package io.vmdumpfs.core.format.kdump;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Counts the all-zero pages among the dumped ones, for a report: pages in holes of the core are zero without being
 * read; the others are read (threads taking chunks in turn) and compared with zeros. When a build has learnt which
 * pages hold data, nothing is read.
 */
final class ZeroPages {

    private ZeroPages() {
    }

    /**
     * Returns how many of {@code dumped} are zero.
     *
     * @throws io.vmdumpfs.core.BadCoreException if the core cannot be read
     */
    static long count(GuestPages pages, PageSet dumped, int threads) {
        PageSet stored = pages.stored();
        if (stored != null) {
            return dumped.count() - (long) stored.count();
        }
        DumpedPages present = pages.present();
        int pageSize = present.pageSize();
        AtomicInteger next = new AtomicInteger();
        AtomicLong zero = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        int slots = dumped.slots();
        Runnable[] workers = new Runnable[Math.max(1, Math.min(threads, slots))];
        for (int t = 0; t < workers.length; t++) {
            workers[t] = () -> {
                try {
                    ByteBuffer page = ByteBuffer.allocateDirect(pageSize);
                    ByteBuffer zeros = ByteBuffer.allocateDirect(pageSize);
                    long[] read = new long[PageSet.WORDS];
                    for (int k; failure.get() == null && (k = next.getAndIncrement()) < slots; ) {
                        int c = dumped.chunkOfSlot(k);
                        pages.candidateMask(c, read);
                        long n = 0;
                        for (int w = 0; w < PageSet.WORDS; w++) {
                            long d = dumped.slotWord(k, w);
                            n += Long.bitCount(d & ~read[w]); // in a hole: zero
                            for (long m = d & read[w]; m != 0; m &= m - 1) {
                                int p = c * KdumpIndex.CHUNK_PAGES + 64 * w + Long.numberOfTrailingZeros(m);
                                present.read(p, 0, page.clear(), pageSize);
                                if (page.flip().mismatch(zeros.clear()) < 0) {
                                    n++;
                                }
                            }
                        }
                        zero.addAndGet(n);
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            };
        }
        Parallel.run(workers, "vmdumpfs-zero");
        Throwable t = failure.get();
        if (t instanceof RuntimeException re) {
            throw re;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return zero.get();
    }
}

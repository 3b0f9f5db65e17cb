package io.vmdumpfs.core.format.kdump;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Builds a {@link KdumpIndex} in one parallel pass: {@code threads} threads take chunks in turn, compress them and
 * record each stored page's size. Which chunks and pages are read depends on what the dump's {@link GuestPages}
 * already know:
 * <ul>
 *   <li>the first build of a dump reads every page that is not in a hole of the core, leaves out the all-zero ones
 *       and publishes which pages hold data ({@link GuestPages#learn});</li>
 *   <li>later builds (other codecs) read only those pages.</li>
 * </ul>
 * Chunks whose pages are all in holes or all zero are never read. Each chunk's packed bytes (its compressed pages) go
 * to a {@link ChunkSink} (the cache) so the first reader does not compress it again; a chunk without compressed
 * pages has none and is not passed on.
 *
 * <p>Memory per thread: 2 MiB of buffers (one chunk in, one out) plus the codec's state; the first build also keeps
 * each stored page's size until it can lay them out in page order (2 bytes each).
 */
final class KdumpIndexBuilder {

    private static final System.Logger LOG = System.getLogger(KdumpIndexBuilder.class.getName());

    /** Receives each chunk's packed bytes as it is compressed; called from the build threads. */
    @FunctionalInterface
    interface ChunkSink {
        /** @param packed the chunk's compressed pages, concatenated; never empty */
        void accept(int chunk, byte[] packed);
    }

    private KdumpIndexBuilder() {
    }

    /**
     * Builds the index.
     *
     * @param done incremented as pages are done (read and compressed, or known to be zero), for progress reports
     * @throws io.vmdumpfs.core.BadCoreException if the core cannot be read; the first failure of any thread
     */
    static KdumpIndex build(GuestPages pages, KdumpCodec codec, int threads, ChunkSink sink, AtomicLong done) {
        // a filtered file's first step: which pages its dump level keeps, from the struct pages (on all threads)
        long t0 = System.nanoTime();
        PageSet dumped = pages.dumped();
        long t1 = System.nanoTime();
        LOG.log(System.Logger.Level.DEBUG, () -> "dumped pages decided in " + (t1 - t0) / 1_000_000 + " ms");
        PageSet known = pages.stored();
        return known != null ? buildKnown(pages, dumped, known, codec, threads, sink, done)
                : buildClassifying(pages, dumped, codec, threads, sink, done);
    }

    /** Reads and compresses only the pages known to hold data, writing their sizes straight into place. */
    private static KdumpIndex buildKnown(GuestPages pages, PageSet dumped, PageSet stored, KdumpCodec codec,
            int threads, ChunkSink sink, AtomicLong done) {
        DumpedPages present = pages.present();
        char[] sizes = new char[stored.count()];
        int slots = stored.slots();
        done.addAndGet(present.pageCount() - pagesIn(present, slots, stored::chunkOfSlot));
        runParallel(slots, threads, codec, present, (cc, k) -> {
            int c = stored.chunkOfSlot(k);
            long[] mask = new long[PageSet.WORDS];
            for (int w = 0; w < PageSet.WORDS; w++) {
                mask[w] = stored.slotWord(k, w);
            }
            byte[] packed = cc.compress(c, mask, false);
            int at = stored.membersBeforeSlot(k);
            for (int i = 0; i < cc.storedCount(); i++) {
                sizes[at + i] = KdumpIndex.encode(cc.storedSize(i));
            }
            if (packed.length > 0) {
                sink.accept(c, packed);
            }
            done.addAndGet(pagesInChunk(present, c));
        });
        return new KdumpIndex(present.pageSize(), dumped, stored, sizes);
    }

    /**
     * Reads every dumped page not in a hole, learns which are zero, and publishes that to {@code pages}. Pages the
     * dump level leaves out are never read.
     */
    private static KdumpIndex buildClassifying(GuestPages pages, PageSet dumped, KdumpCodec codec, int threads,
            ChunkSink sink, AtomicLong done) {
        DumpedPages present = pages.present();
        int[] work = dumped.isAll() ? pages.candidateChunks() : withMembers(pages.candidateChunks(), dumped);
        long[] storedMasks = new long[work.length * PageSet.WORDS];
        char[][] chunkSizes = new char[work.length][];
        done.addAndGet(present.pageCount() - pagesIn(present, work.length, k -> work[k]));
        long t0 = System.nanoTime();
        runParallel(work.length, threads, codec, present, (cc, k) -> {
            int c = work[k];
            long[] mask = new long[PageSet.WORDS];
            pages.candidateMask(c, mask);
            if (!dumped.isAll()) {
                int slot = dumped.slotOf(c);
                for (int w = 0; w < PageSet.WORDS; w++) {
                    mask[w] &= slot < 0 ? 0 : dumped.slotWord(slot, w);
                }
            }
            byte[] packed = cc.compress(c, mask, true);
            System.arraycopy(cc.storedMask(), 0, storedMasks, k * PageSet.WORDS, PageSet.WORDS);
            char[] s = new char[cc.storedCount()];
            for (int i = 0; i < s.length; i++) {
                s[i] = KdumpIndex.encode(cc.storedSize(i));
            }
            chunkSizes[k] = s;
            if (packed.length > 0) {
                sink.accept(c, packed);
            }
            done.addAndGet(pagesInChunk(present, c));
        });
        LOG.log(System.Logger.Level.DEBUG, () -> work.length + " chunks read and compressed in "
                + (System.nanoTime() - t0) / 1_000_000 + " ms");
        // lay out what the threads found, in page order: only chunks with a stored page are kept
        int slots = 0;
        long storedCount = 0;
        for (int k = 0; k < work.length; k++) {
            if (chunkSizes[k].length > 0) {
                slots++;
                storedCount += chunkSizes[k].length;
            }
        }
        int[] chunks = new int[slots];
        long[] masks = new long[slots * PageSet.WORDS];
        char[] sizes = new char[Math.toIntExact(storedCount)];
        for (int k = 0, slot = 0, at = 0; k < work.length; k++) {
            char[] s = chunkSizes[k];
            if (s.length == 0) {
                continue;
            }
            chunks[slot] = work[k];
            System.arraycopy(storedMasks, k * PageSet.WORDS, masks, slot * PageSet.WORDS, PageSet.WORDS);
            System.arraycopy(s, 0, sizes, at, s.length);
            at += s.length;
            slot++;
        }
        PageSet stored = PageSet.of(present.pageCount(), chunks, masks);
        pages.learn(stored);
        return new KdumpIndex(present.pageSize(), dumped, stored, sizes);
    }

    /** Returns those of {@code chunks} (ascending) in which {@code set} has a member. */
    private static int[] withMembers(int[] chunks, PageSet set) {
        int n = 0;
        int[] out = new int[chunks.length];
        for (int c : chunks) {
            if (set.slotOf(c) >= 0) {
                out[n++] = c;
            }
        }
        return java.util.Arrays.copyOf(out, n);
    }

    private static int pagesInChunk(DumpedPages present, int c) {
        return Math.min(KdumpIndex.CHUNK_PAGES, present.pageCount() - c * KdumpIndex.CHUNK_PAGES);
    }

    private static long pagesIn(DumpedPages present, int n, java.util.function.IntUnaryOperator chunkOf) {
        long t = 0;
        for (int k = 0; k < n; k++) {
            t += pagesInChunk(present, chunkOf.applyAsInt(k));
        }
        return t;
    }

    /** One item of work: chunk number {@code k} of the list, with this thread's compressor. */
    @FunctionalInterface
    private interface Item {
        void run(ChunkCompressor cc, int k);
    }

    /**
     * Runs {@code item} for 0..n-1 on {@code threads} threads (the calling one included), which take items in turn;
     * stops early and rethrows after the first failure.
     */
    private static void runParallel(int n, int threads, KdumpCodec codec, DumpedPages present, Item item) {
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Runnable worker = () -> {
            try (ChunkCompressor cc = new ChunkCompressor(present, codec)) {
                for (int k; failure.get() == null && (k = next.getAndIncrement()) < n; ) {
                    item.run(cc, k);
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            }
        };
        Runnable[] workers = new Runnable[Math.max(1, Math.min(threads, n))];
        java.util.Arrays.fill(workers, worker);
        Parallel.run(workers, "vmdumpfs-kdump-" + codec.codecName); // the calling thread works too
        Throwable t = failure.get();
        if (t instanceof RuntimeException re) {
            throw re;
        }
        if (t instanceof Error e) {
            throw e;
        }
    }
}

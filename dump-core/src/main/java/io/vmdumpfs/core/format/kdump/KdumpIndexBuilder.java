package io.vmdumpfs.core.format.kdump;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Builds a {@link KdumpIndex} in one pass over guest RAM: {@code threads} threads take chunks in turn, compress
 * them and record each page's stored size. Each chunk's packed bytes (its compressed pages) go to a
 * {@link ChunkSink} (the cache) so the first reader does not compress it again; a chunk without compressed pages
 * has none and is not passed on.
 *
 * <p>Memory per thread: 2 MiB of buffers (one chunk in, one out) plus the codec's state.
 */
final class KdumpIndexBuilder {

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
     * @param pagesDone incremented as pages are compressed, for progress reports
     * @throws io.vmdumpfs.core.BadCoreException if the core cannot be read; the first failure of any thread
     */
    static KdumpIndex build(DumpedPages pages, KdumpCodec codec, int threads, ChunkSink sink,
            AtomicLong pagesDone) {
        int pageCount = pages.pageCount();
        char[] sizes = new char[pageCount];
        int chunks = KdumpIndex.chunkCount(pageCount);
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Runnable worker = () -> {
            try (ChunkCompressor cc = new ChunkCompressor(pages, codec)) {
                for (int c; failure.get() == null && (c = next.getAndIncrement()) < chunks; ) {
                    byte[] packed = cc.compress(c);
                    int first = c * KdumpIndex.CHUNK_PAGES;
                    for (int p = 0; p < cc.pageCount(); p++) {
                        sizes[first + p] = (char) cc.storedSize(p);
                    }
                    if (packed.length > 0) {
                        sink.accept(c, packed);
                    }
                    pagesDone.addAndGet(cc.pageCount());
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            }
        };
        int n = Math.max(1, Math.min(threads, chunks));
        List<Thread> started = new ArrayList<>();
        for (int i = 1; i < n; i++) {
            Thread t = new Thread(worker, "vmdumpfs-kdump-" + codec.codecName + "-" + i);
            t.setDaemon(true);
            t.start();
            started.add(t);
        }
        worker.run(); // the calling thread works too
        boolean interrupted = false;
        for (Thread t : started) {
            while (true) {
                try {
                    t.join(); // join() also publishes the workers' writes to sizes[]
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // the workers still write into sizes[]: wait for them regardless
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        Throwable t = failure.get();
        if (t instanceof RuntimeException) {
            throw (RuntimeException) t;
        }
        if (t instanceof Error) {
            throw (Error) t;
        }
        return new KdumpIndex(pages.pageSize(), sizes);
    }
}

package io.vmdumpfs.core.elf;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Drops the core's pages from the page cache behind sequential readers whose data is cached elsewhere. Reading
 * vmcore.elf through the mount puts every byte in the page cache twice: the core's page and the FUSE file's page
 * (kernel_cache keeps the latter, and re-reads come from it). For a big guest that doubles the memory a {@code cp}
 * takes, and filling the page cache is what costs: on the 2-CPU test VM a cold read of the 3 GiB guest's vmcore.elf
 * ran at 0.33-0.42 GB/s with both copies and 0.43-0.64 GB/s with the core's dropped behind the reader.
 *
 * <p>Each read is matched to one of a few streams (a read that starts within {@link #SLACK} of a stream's end
 * continues it: libfuse's threads finish neighbouring requests in any order). Once a stream has read {@link #TRIGGER}
 * bytes in order, whatever lies more than {@link #LAG} behind its end is advised away (posix_fadvise DONTNEED), in
 * steps of at least {@link #STEP}, on one background thread so a reader never waits for it. Random readers (crash)
 * rarely read {@link #TRIGGER} bytes in a row and keep the core's pages. Thread-safe.
 */
public final class DropBehind {

    /** Where the advice goes: the core's bytes [offset, offset + length) will not be needed again soon. */
    @FunctionalInterface
    public interface Advisor {
        void dontNeed(long offset, long length);
    }

    /** Bytes a stream reads in order before anything behind it is dropped. */
    static final long TRIGGER = 4L << 20;
    /** What stays cached behind a stream's end, for requests that finish late. */
    static final long LAG = 8L << 20;
    /** The least that is dropped at once. */
    static final long STEP = 8L << 20;
    /** How far from a stream's end a read may start and still continue it. */
    static final long SLACK = 4L << 20;
    /** Streams tracked at once; the least recently extended one makes room for a new one. */
    static final int STREAMS = 8;

    private static final class Stream {
        long end = -1;
        long run;
        long droppedTo;
        boolean dropped;
        long lastUse;
    }

    private final Advisor advisor;
    private final Stream[] streams = new Stream[STREAMS];
    private long clock;
    /** One thread, a short queue: advice that cannot be queued is dropped, the stream's next step covers it. */
    private final ThreadPoolExecutor worker;

    /** @param advisor receives the advice, on a background thread */
    public DropBehind(Advisor advisor) {
        this.advisor = advisor;
        for (int i = 0; i < STREAMS; i++) {
            streams[i] = new Stream();
        }
        worker = new ThreadPoolExecutor(1, 1, 5, TimeUnit.SECONDS, new ArrayBlockingQueue<>(16), r -> {
            Thread t = new Thread(r, "vmdumpfs-drop-behind");
            t.setDaemon(true);
            return t;
        }, new ThreadPoolExecutor.DiscardPolicy());
        worker.allowCoreThreadTimeOut(true);
    }

    /** Notes that [offset, offset + length) of the core was just read, and drops what lies behind its stream. */
    public void onRead(long offset, long length) {
        long from;
        long to;
        synchronized (streams) { // a few comparisons; readers hold it for nanoseconds
            Stream s = find(offset);
            long end = offset + length;
            if (s == null) {
                s = leastRecentlyUsed();
                s.end = end;
                s.run = length;
                s.droppedTo = offset;
                s.dropped = false;
            } else {
                s.run += length;
                s.end = Math.max(s.end, end);
                if (!s.dropped) {
                    s.droppedTo = Math.min(s.droppedTo, offset); // an earlier request that finished later
                }
            }
            s.lastUse = ++clock;
            if (s.run < TRIGGER || s.end - LAG - s.droppedTo < STEP) {
                return;
            }
            from = s.droppedTo;
            to = s.end - LAG;
            s.droppedTo = to;
            s.dropped = true;
        }
        long f = from;
        long len = to - from;
        try {
            worker.execute(() -> advisor.dontNeed(f, len));
        } catch (RejectedExecutionException e) {
            // closed: nothing to do
        }
    }

    private Stream find(long offset) {
        for (Stream s : streams) {
            if (s.end >= 0 && offset >= s.end - SLACK && offset <= s.end + SLACK) {
                return s;
            }
        }
        return null;
    }

    private Stream leastRecentlyUsed() {
        Stream lru = streams[0];
        for (Stream s : streams) {
            if (s.lastUse < lru.lastUse) {
                lru = s;
            }
        }
        return lru;
    }

    /** Stops the background thread; later advice is dropped. */
    public void close() {
        worker.shutdownNow();
    }
}

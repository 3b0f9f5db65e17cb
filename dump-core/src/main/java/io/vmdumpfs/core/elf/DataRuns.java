package io.vmdumpfs.core.elf;

import io.vmdumpfs.core.LibC;
import java.util.Arrays;

/**
 * Where the core file holds data and where it has holes. The kernel's core dumper leaves untouched guest pages as
 * holes (a 64 GiB guest's core is 64 GiB long but may hold 1.4 GB of data), and the decompressed copies of
 * compressed cores are sparse too; a hole reads as zeros without any I/O, so whoever scans guest RAM can take such
 * pages as zero without reading them.
 *
 * <p>Found once per core with {@code lseek(SEEK_DATA)} and {@code lseek(SEEK_HOLE)}: two system calls per run of
 * data, nothing read. The file system reports holes at its block size or coarser, and may report none at all (then
 * the whole file is one run of data): a hole is always zeros, a run of data may still hold zeros.
 *
 * <p>Memory: 16 bytes per run of data. Immutable and thread-safe.
 */
public final class DataRuns {

    /** lseek whence values (Linux unistd.h). */
    static final int SEEK_DATA = LibC.SEEK_DATA;
    static final int SEEK_HOLE = LibC.SEEK_HOLE;

    /** lseek on a descriptor of the file; returns -1 when there is no further data or hole (ENXIO). */
    @FunctionalInterface
    interface Seeker {
        long seek(long offset, int whence);
    }

    private final long size;
    /** Runs of data [starts[i], ends[i]), sorted, not touching. */
    private final long[] starts;
    private final long[] ends;

    private DataRuns(long size, long[] starts, long[] ends) {
        this.size = size;
        this.starts = starts;
        this.ends = ends;
    }

    /** Returns the runs of a file of {@code size} bytes about whose holes nothing is known: all of it is data. */
    public static DataRuns whole(long size) {
        return size == 0 ? new DataRuns(0, new long[0], new long[0]) : new DataRuns(size, new long[] {0}, new long[] {size});
    }

    /**
     * Returns the runs of data of a file of {@code size} bytes (its size at open) as {@code seeker} finds them.
     *
     * @throws IllegalStateException (from the seeker) when the file system cannot tell
     */
    static DataRuns scan(Seeker seeker, long size) {
        long[] s = new long[16];
        long[] e = new long[16];
        int n = 0;
        for (long pos = 0; pos < size; ) {
            long data = seeker.seek(pos, SEEK_DATA);
            if (data < 0 || data >= size) {
                break;
            }
            long hole = seeker.seek(data, SEEK_HOLE);
            // every file has a hole at its end, so ENXIO here means the file shrank under us: data up to our size
            long end = hole < 0 ? size : Math.min(hole, size);
            if (end <= data) {
                throw new IllegalStateException("lseek: hole at " + hole + " before data at " + data);
            }
            if (n == s.length) {
                s = Arrays.copyOf(s, 2 * n);
                e = Arrays.copyOf(e, 2 * n);
            }
            s[n] = data;
            e[n] = end;
            n++;
            pos = end;
        }
        return new DataRuns(size, Arrays.copyOf(s, n), Arrays.copyOf(e, n));
    }

    /** Returns the file size these runs describe. */
    public long size() {
        return size;
    }

    /** Returns the number of runs of data. */
    public int runCount() {
        return starts.length;
    }

    /** Returns the file offset where run {@code i} starts. */
    public long start(int i) {
        return starts[i];
    }

    /** Returns the file offset where run {@code i} ends (exclusive). */
    public long end(int i) {
        return ends[i];
    }

    /** Returns how many bytes of the file are data. */
    public long dataBytes() {
        long t = 0;
        for (int i = 0; i < starts.length; i++) {
            t += ends[i] - starts[i];
        }
        return t;
    }

    /** Returns the index of the first run that ends after {@code fileOffset}, or {@link #runCount()}. O(log n). */
    public int firstRunEndingAfter(long fileOffset) {
        int lo = 0;
        int hi = ends.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (ends[mid] > fileOffset) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
    }

    /** Returns true when no byte of [{@code fileOffset}, {@code fileOffset + length}) is data: it reads as zeros. */
    public boolean isHole(long fileOffset, long length) {
        if (length <= 0) {
            return true;
        }
        int i = firstRunEndingAfter(fileOffset);
        return i == starts.length || starts[i] >= fileOffset + length;
    }
}

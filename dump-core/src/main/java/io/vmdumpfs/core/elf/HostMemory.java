package io.vmdumpfs.core.elf;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The dumped process's host-virtual memory: address → file offset over the core's PT_LOAD segments, by binary search
 * over their sorted starts (O(log n)). Only the first p_filesz bytes of a segment are present; the rest reads as
 * absent, never as zeros, because absent is not the same as zero for guest RAM.
 *
 * <p>Thread-safe: immutable arrays and positional reads.
 */
public final class HostMemory {

    private final CoreFile file;
    private final List<Elf64Phdr> loads;
    private final long[] starts;
    private final long[] presentEnds;
    private final long[] offsets;

    HostMemory(CoreFile file, List<Elf64Phdr> sortedLoads) {
        this.file = file;
        this.loads = sortedLoads;
        int n = sortedLoads.size();
        starts = new long[n];
        presentEnds = new long[n];
        offsets = new long[n];
        for (int i = 0; i < n; i++) {
            Elf64Phdr ph = sortedLoads.get(i);
            starts[i] = ph.pVaddr();
            // Clamp to what the file really holds: a truncated core has segments whose data stops early.
            long avail = Math.max(0, Math.min(ph.pFilesz(), file.size() - Math.min(ph.pOffset(), file.size())));
            presentEnds[i] = ph.pVaddr() + (ph.pOffset() < 0 ? 0 : avail);
            offsets[i] = ph.pOffset();
        }
    }

    public CoreFile file() {
        return file;
    }

    /** Returns the PT_LOAD segments, sorted by host-virtual address. */
    public List<Elf64Phdr> segments() {
        return loads;
    }

    /** Returns the index in {@link #segments()} of the segment whose mapping holds {@code hostVaddr}, or -1. */
    public int segmentIndexOf(long hostVaddr) {
        int lo = 0;
        int hi = starts.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (Long.compareUnsigned(starts[mid], hostVaddr) <= 0) {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (hi < 0) {
            return -1;
        }
        return Long.compareUnsigned(hostVaddr, loads.get(hi).vaddrEnd()) < 0 ? hi : -1;
    }

    /**
     * Returns the file offset of {@code hostVaddr} when all of [hostVaddr, hostVaddr+length) is present in the file
     * and contiguous there (it may span adjacent segments whose file data follow each other), else -1.
     */
    public long fileOffsetOf(long hostVaddr, long length) {
        int i = segmentIndexOf(hostVaddr);
        if (i < 0 || Long.compareUnsigned(hostVaddr, presentEnds[i]) >= 0) {
            return -1;
        }
        long off = offsets[i] + (hostVaddr - starts[i]);
        long want = hostVaddr + length;
        if (length < 0 || (Long.compareUnsigned(want, hostVaddr) < 0 && want != 0)) {
            return -1;
        }
        long covered = presentEnds[i];
        long nextOff = offsets[i] + (presentEnds[i] - starts[i]);
        while (Long.compareUnsigned(covered, want) < 0) {
            i++;
            if (i >= starts.length || starts[i] != covered || offsets[i] != nextOff
                    || presentEnds[i] == starts[i]) {
                return -1;
            }
            covered = presentEnds[i];
            nextOff = offsets[i] + (presentEnds[i] - starts[i]);
        }
        return off;
    }

    /**
     * Returns [{@code hostVaddr}, {@code hostVaddr + length}) cut into runs by how the core holds them, in address
     * order, covering the range exactly: present runs (each contiguous in the file too; adjacent segments whose data
     * follow each other in the file make one run), runs cut off by the end of the file, runs a segment maps without
     * data, and runs no segment maps. O(log n + runs).
     *
     * @throws IllegalArgumentException when {@code length} is not positive or the range wraps past 2^64
     */
    public List<HostExtent> extents(long hostVaddr, long length) {
        long end = hostVaddr + length;
        if (length <= 0 || (Long.compareUnsigned(end, hostVaddr) < 0 && end != 0)) {
            throw new IllegalArgumentException("host range 0x" + Long.toHexString(hostVaddr) + " +0x"
                    + Long.toHexString(length) + " is empty or wraps");
        }
        List<HostExtent> out = new ArrayList<>();
        long pos = hostVaddr;
        long left = length;
        while (left > 0) {
            int i = segmentIndexOf(pos);
            HostExtent.Presence p;
            long n;
            long off = -1;
            if (i < 0) {
                int next = firstSegmentAbove(pos);
                n = next < 0 ? left : minUnsigned(left, starts[next] - pos);
                p = HostExtent.Presence.NOT_MAPPED;
            } else {
                Elf64Phdr ph = loads.get(i);
                long in = pos - starts[i];
                long present = presentEnds[i] - starts[i];
                if (Long.compareUnsigned(in, present) < 0) {
                    n = minUnsigned(left, present - in);
                    p = HostExtent.Presence.PRESENT;
                    off = offsets[i] + in;
                } else if (Long.compareUnsigned(in, ph.pFilesz()) < 0) {
                    n = minUnsigned(left, ph.pFilesz() - in);
                    p = HostExtent.Presence.TRUNCATED;
                    // where the bytes would be; a p_offset beyond any file offset has no such place
                    off = offsets[i] < 0 || offsets[i] + in < 0 ? -1 : offsets[i] + in;
                } else {
                    n = minUnsigned(left, ph.pMemsz() - in);
                    p = HostExtent.Presence.NOT_DUMPED;
                }
            }
            HostExtent last = out.isEmpty() ? null : out.get(out.size() - 1);
            if (last != null && last.presence() == p && (off < 0 || last.fileOffset() + last.length() == off)) {
                out.set(out.size() - 1, new HostExtent(last.hostVaddr(), last.length() + n, p, last.fileOffset()));
            } else {
                out.add(new HostExtent(pos, n, p, off));
            }
            pos += n;
            left -= n;
        }
        return out;
    }

    /** Returns the index of the first segment starting above {@code hostVaddr}, or -1. */
    private int firstSegmentAbove(long hostVaddr) {
        int lo = 0;
        int hi = starts.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (Long.compareUnsigned(starts[mid], hostVaddr) > 0) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo < starts.length ? lo : -1;
    }

    private static long minUnsigned(long a, long b) {
        return Long.compareUnsigned(a, b) <= 0 ? a : b;
    }

    /** Returns true when [hostVaddr, hostVaddr+length) can be read from the file. */
    public boolean isPresent(long hostVaddr, long length) {
        return fileOffsetOf(hostVaddr, length) >= 0;
    }

    /** Returns true when a mapping (a PT_LOAD segment) starts exactly at {@code hostVaddr}. */
    public boolean isMappingStart(long hostVaddr) {
        int i = segmentIndexOf(hostVaddr);
        return i >= 0 && starts[i] == hostVaddr;
    }

    /** Returns true when {@code hostVaddr} lies in a writable mapping of the process (where heap objects live). */
    public boolean isWritable(long hostVaddr) {
        int i = segmentIndexOf(hostVaddr);
        return i >= 0 && loads.get(i).writable();
    }

    /** Returns true when {@code hostVaddr} lies in a mapping of the process, present in the file or not. */
    public boolean isMapped(long hostVaddr) {
        return segmentIndexOf(hostVaddr) >= 0;
    }

    /**
     * Reads {@code length} bytes at {@code hostVaddr} into a new little-endian buffer.
     *
     * @throws BadCoreException (MISSING) when the range is not in the core
     */
    public ByteBuffer read(long hostVaddr, int length) {
        long off = fileOffsetOf(hostVaddr, length);
        if (off < 0) {
            throw new BadCoreException(Kind.MISSING, file.path(), "host address 0x" + Long.toHexString(hostVaddr)
                    + " (+" + length + ") is not in the core");
        }
        return file.read(off, length);
    }

    /** Returns the 64-bit little-endian value at {@code hostVaddr}. */
    public long u64(long hostVaddr) {
        return read(hostVaddr, 8).getLong(0);
    }

    /** Returns the NUL-terminated string at {@code hostVaddr} if it is at most {@code max} bytes, else null. */
    public String cString(long hostVaddr, int max) {
        int i = segmentIndexOf(hostVaddr);
        if (i < 0 || Long.compareUnsigned(hostVaddr, presentEnds[i]) >= 0) {
            return null;
        }
        int len = (int) Math.min(max + 1L, presentEnds[i] - hostVaddr);
        ByteBuffer b = file.read(offsets[i] + (hostVaddr - starts[i]), len);
        for (int k = 0; k < len; k++) {
            if (b.get(k) == 0) {
                byte[] s = new byte[k];
                b.get(0, s);
                return new String(s, StandardCharsets.ISO_8859_1);
            }
        }
        return null;
    }

    /**
     * Returns a read-only little-endian buffer over the present part of segment {@code index}, for scans. It is
     * mapped from the core, not copied: a scan of QEMU's heap then costs what it reads.
     */
    public ByteBuffer readSegment(int index) {
        long len = presentEnds[index] - starts[index];
        if (len > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("segment too large to read whole");
        }
        return file.map(offsets[index], len);
    }

    /** Returns the present length of segment {@code index}. */
    public long presentLength(int index) {
        return presentEnds[index] - starts[index];
    }
}

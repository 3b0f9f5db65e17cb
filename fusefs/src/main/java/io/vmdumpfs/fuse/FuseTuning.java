package io.vmdumpfs.fuse;

/**
 * The libfuse options that decide read speed, shared by the mount ({@link MountCommand#fuseArgs}) and by the
 * benchmark's trivial file system: scripts/bench.sh compares the two, which means nothing unless both mount alike.
 * Why each:
 * <ul>
 *   <li>kernel_cache: file content never changes, so page-cache hits survive close and open;</li>
 *   <li>max_read: libfuse2's largest request, 128 KiB ({@link VmdumpFs#BLOCK_SIZE});</li>
 *   <li>max_background: the read-ahead requests the kernel keeps in flight, {@link ReadAhead#KIB} in max_read pieces.
 *       The kernel's default, 12, is more than libfuse2's loop keeps idle threads for (10): it then starts and ends a
 *       worker thread every few requests, and each new thread is attached to the JVM. Reading the 3 GiB guest's
 *       vmcore.elf started 130 threads with 12 and 11 with 8, and the server's user CPU fell from 1.3-1.4 s to
 *       0.9 s;</li>
 *   <li>splice_write: libfuse2 splices read_buf's descriptor buffers into /dev/fuse only when asked
 *       ({@link ReadReply});</li>
 *   <li>long attr/entry/negative timeouts: nothing is ever added, removed or resized while mounted.</li>
 * </ul>
 */
public final class FuseTuning {

    static final int MAX_BACKGROUND = ReadAhead.KIB * 1024 / VmdumpFs.BLOCK_SIZE;

    /** The options, comma-separated, for {@code -o}. */
    public static final String OPTIONS = "kernel_cache,max_read=" + VmdumpFs.BLOCK_SIZE + ",max_background="
            + MAX_BACKGROUND + ",splice_write,attr_timeout=86400,entry_timeout=86400,negative_timeout=86400";

    private FuseTuning() {
    }
}

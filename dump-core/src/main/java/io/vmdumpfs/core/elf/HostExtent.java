package io.vmdumpfs.core.elf;

/**
 * A run of host-virtual addresses that the core holds, or does not hold, in one way ({@link HostMemory#extents}).
 *
 * <p>Only {@link Presence#PRESENT} bytes are data. Everything else is absent: the core does not say what those bytes
 * were, and zeros would be an invention. (Holes <em>inside</em> a segment's file data are a different thing: the
 * kernel's core dumper leaves a page it never needed to allocate as a hole, and it reads as the zeros it was.)
 *
 * @param hostVaddr  first host-virtual address
 * @param length     bytes, at least 1
 * @param presence   how the core holds them
 * @param fileOffset where the first byte is in the core file ({@link Presence#PRESENT}), or would be had the file not
 *                   been cut short ({@link Presence#TRUNCATED}); -1 for the other kinds
 */
public record HostExtent(long hostVaddr, long length, Presence presence, long fileOffset) {

    /** How the core holds a run of host memory. */
    public enum Presence {
        /** In the file: within a PT_LOAD's p_filesz, and the file is long enough. */
        PRESENT,
        /**
         * Within a PT_LOAD's p_filesz, but past the end of the file: the core was cut short (a size limit, a full disk,
         * an interrupted copy).
         */
        TRUNCATED,
        /**
         * Mapped, but past the PT_LOAD's p_filesz: the writer left it out. The kernel's core dumper writes p_filesz 0
         * for a private anonymous mapping never written to and for one marked MADV_DONTDUMP alike, so the core cannot
         * say whether the bytes were zeros.
         */
        NOT_DUMPED,
        /** No PT_LOAD covers it: gdb's gcore leaves MADV_DONTDUMP mappings out entirely. */
        NOT_MAPPED
    }

    public HostExtent {
        if (length <= 0) {
            throw new IllegalArgumentException("empty extent at 0x" + Long.toHexString(hostVaddr));
        }
    }

    /** Returns the host-virtual end, exclusive. */
    public long hostVaddrEnd() {
        return hostVaddr + length;
    }
}

package io.vmdumpfs.core.guest;

import java.util.Objects;

/**
 * A run of guest RAM that QEMU had but the core does not hold: not in any {@link GuestPhysBlock}, so every dump
 * file leaves it out (vmcore.elf has no PT_LOAD for it, the kdump files clear its pages in the first bitmap) and
 * readers say the page is not in the dump rather than reading invented zeros.
 *
 * @param guestPaddrStart first guest-physical address
 * @param guestPaddrEnd   guest-physical end, exclusive
 * @param hostVaddr       QEMU's host-virtual address of guestPaddrStart: where, in the process, the data would be
 * @param fileOffset      where in the core file the bytes would be had it not been cut short
 *                        ({@link Why#TRUNCATED}), else -1: the core has no place for them
 * @param name            the RAMBlock idstr, e.g. "pc.ram"
 * @param why             why the core does not hold it
 */
public record AbsentRange(long guestPaddrStart, long guestPaddrEnd, long hostVaddr, long fileOffset, String name,
        Why why) {

    /** Why the core does not hold a range, as the writers we measured leave memory out. */
    public enum Why {
        /** The file ends before the range's data: cut by a size limit, a full disk or an interrupted copy. */
        TRUNCATED("core truncated"),
        /**
         * The mapping's PT_LOAD has no data for it (p_filesz below p_memsz). The kernel's core dumper writes none for a
         * private anonymous mapping never written to and none for one marked MADV_DONTDUMP, with the same program
         * header: the core cannot tell zeros from unknown bytes.
         */
        NOT_DUMPED("not dumped"),
        /** No PT_LOAD covers QEMU's host address: gdb's gcore leaves MADV_DONTDUMP mappings out entirely. */
        NOT_MAPPED("mapping not in the core");

        /** A few words for tables and status lines. */
        public final String words;

        Why(String words) {
            this.words = words;
        }
    }

    public AbsentRange {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(why, "why");
        if (Long.compareUnsigned(guestPaddrEnd, guestPaddrStart) <= 0) {
            throw new IllegalArgumentException("empty or inverted absent range " + Long.toHexString(guestPaddrStart));
        }
    }

    /** Returns the range's length in bytes. */
    public long size() {
        return guestPaddrEnd - guestPaddrStart;
    }

    /** Returns this range from {@code from} to {@code to} (guest-physical, inside it), host and file moved along. */
    AbsentRange slice(long from, long to) {
        long delta = from - guestPaddrStart;
        return new AbsentRange(from, to, hostVaddr + delta, fileOffset < 0 ? -1 : fileOffset + delta, name, why);
    }
}

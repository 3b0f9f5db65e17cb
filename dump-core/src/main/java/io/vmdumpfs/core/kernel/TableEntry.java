package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.kernel.KernelAddressException.Reason;

/**
 * Reading one entry of a guest page table, as every {@link PageTableWalker} does it: the table must lie in the dump,
 * and an entry that maps nothing is reported with where it was. One place, so every architecture's walk fails with
 * the same reasons and words.
 */
final class TableEntry {

    private TableEntry() {
    }

    /**
     * Returns entry {@code index} ({@code entryBytes}, 4 or 8) of the table at guest-physical {@code table}, read
     * for the walk of {@code kernelVaddr}.
     *
     * @param level the table's name in messages ("PGD", "level 1", …)
     * @throws KernelAddressException (NOT_IN_DUMP) when the table or the entry is not in the dump
     */
    static long read(PhysReader phys, long table, long index, int entryBytes, long kernelVaddr, String level) {
        long entryPaddr = table + index * entryBytes;
        if (!phys.holds(entryPaddr)) {
            throw new KernelAddressException(Reason.NOT_IN_DUMP, kernelVaddr, 0, level
                    + " table at guest-physical 0x" + Long.toHexString(table) + " is not in the dump");
        }
        try {
            return entryBytes == 8 ? phys.readU64(entryPaddr) : phys.readU32(entryPaddr);
        } catch (IllegalArgumentException e) {
            throw new KernelAddressException(Reason.NOT_IN_DUMP, kernelVaddr, 0, level
                    + " entry at guest-physical 0x" + Long.toHexString(entryPaddr) + " is not in the dump");
        }
    }

    /**
     * Returns the exception for {@code kernelVaddr} when entry {@code index} of the table at {@code table} maps
     * nothing: the {@code span} bytes around the address that this entry would have mapped are unmapped too.
     */
    static KernelAddressException notMapped(long kernelVaddr, long span, String level, long table, long index,
            int entryBytes, long entry) {
        return new KernelAddressException(Reason.NOT_MAPPED, kernelVaddr, span, "not mapped (" + level + " entry "
                + index + " at guest-physical 0x" + Long.toHexString(table + index * entryBytes) + " is 0x"
                + Long.toHexString(entry) + ")");
    }
}

package io.vmdumpfs.core.format.kdump;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The kdump sub-header, block 1 (makedumpfile diskdump_mod.h, 64-bit target; crash diskdump.c documents the same
 * offsets):
 *
 * <pre>
 * struct kdump_sub_header {
 *     unsigned long      phys_base;          // 0
 *     int                dump_level;         // 8   header_version 1 and later
 *     int                split;              // 12  header_version 2 and later
 *     unsigned long      start_pfn;          // 16  OBSOLETE, only for split dumps
 *     unsigned long      end_pfn;            // 24  OBSOLETE
 *     off_t              offset_vmcoreinfo;  // 32  header_version 3 and later
 *     unsigned long      size_vmcoreinfo;    // 40
 *     off_t              offset_note;        // 48  header_version 4 and later
 *     unsigned long      size_note;          // 56
 *     off_t              offset_eraseinfo;   // 64  header_version 5 and later
 *     unsigned long      size_eraseinfo;     // 72
 *     unsigned long long start_pfn_64;       // 80  header_version 6 and later, split dumps only
 *     unsigned long long end_pfn_64;         // 88
 *     unsigned long long max_mapnr_64;       // 96
 * };                                         // 104 bytes
 * </pre>
 *
 * @param physBase          phys_base: where the kernel was loaded minus where it was linked (x86_64 relocatable
 *                          kernels); makedumpfile uses it to translate kernel text addresses
 * @param dumpLevel         dump_level: makedumpfile's {@code -d} bits
 * @param offsetVmcoreinfo  file offset of the VMCOREINFO text, or 0
 * @param sizeVmcoreinfo    its length
 * @param offsetNote        file offset of the ELF note section, or 0
 * @param sizeNote          its length
 * @param maxMapnr64        max_mapnr_64: one past the highest page frame number
 */
public record KdumpSubHeader(long physBase, int dumpLevel, long offsetVmcoreinfo, long sizeVmcoreinfo,
        long offsetNote, long sizeNote, long maxMapnr64) {

    /** sizeof(struct kdump_sub_header) on 64-bit targets. */
    public static final int SIZE = 104;

    /** Returns the 104 sub-header bytes in {@code order}. split, start/end_pfn and eraseinfo stay 0. */
    public byte[] toBytes(ByteOrder order) {
        ByteBuffer b = ByteBuffer.allocate(SIZE).order(order);
        b.putLong(0, physBase);
        b.putInt(8, dumpLevel);
        b.putLong(32, offsetVmcoreinfo);
        b.putLong(40, sizeVmcoreinfo);
        b.putLong(48, offsetNote);
        b.putLong(56, sizeNote);
        b.putLong(96, maxMapnr64);
        return b.array();
    }

    /** Parses a sub-header at position 0 of {@code b} (for tests and validation). */
    public static KdumpSubHeader parse(ByteBuffer b) {
        return new KdumpSubHeader(b.getLong(0), b.getInt(8), b.getLong(32), b.getLong(40), b.getLong(48),
                b.getLong(56), b.getLong(96));
    }
}

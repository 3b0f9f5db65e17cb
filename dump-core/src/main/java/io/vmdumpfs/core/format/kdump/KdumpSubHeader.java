package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.format.ElfClass;
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
 * <p>For a 32-bit target the {@code unsigned long} fields are 4 bytes and the 64-bit ones 4-aligned (i386's ABI;
 * QEMU's packed {@code KdumpSubHeader32}, libkdumpfile's {@code kdump_sub_header_32pack}): phys_base 0, dump_level
 * 4, split 8, start_pfn 12, end_pfn 16, offset_vmcoreinfo 20 (8 bytes), size_vmcoreinfo 28, offset_note 32 (8),
 * size_note 40, offset_eraseinfo 44 (8), size_eraseinfo 52, start_pfn_64 56, end_pfn_64 64, max_mapnr_64 72:
 * 80 bytes.
 * *
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
    /** sizeof(struct kdump_sub_header) on 32-bit targets. */
    public static final int SIZE_32 = 80;

    /** Returns the sub-header's size in a file of class {@code cls}. */
    public static int size(ElfClass cls) {
        return cls == ElfClass.ELF32 ? SIZE_32 : SIZE;
    }

    /** Returns the 104 sub-header bytes of a 64-bit target in {@code order}. */
    public byte[] toBytes(ByteOrder order) {
        return toBytes(order, ElfClass.ELF64);
    }

    /**
     * Returns the sub-header bytes in {@code order}, laid out for class {@code cls}. split, start/end_pfn and
     * eraseinfo stay 0.
     */
    public byte[] toBytes(ByteOrder order, ElfClass cls) {
        ByteBuffer b = ByteBuffer.allocate(size(cls)).order(order);
        if (cls == ElfClass.ELF32) {
            b.putInt(0, (int) physBase);
            b.putInt(4, dumpLevel);
            b.putLong(20, offsetVmcoreinfo);
            b.putInt(28, (int) sizeVmcoreinfo);
            b.putLong(32, offsetNote);
            b.putInt(40, (int) sizeNote);
            b.putLong(72, maxMapnr64);
        } else {
            b.putLong(0, physBase);
            b.putInt(8, dumpLevel);
            b.putLong(32, offsetVmcoreinfo);
            b.putLong(40, sizeVmcoreinfo);
            b.putLong(48, offsetNote);
            b.putLong(56, sizeNote);
            b.putLong(96, maxMapnr64);
        }
        return b.array();
    }

    /** Parses a 64-bit target's sub-header at position 0 of {@code b} (for tests and validation). */
    public static KdumpSubHeader parse(ByteBuffer b) {
        return parse(b, ElfClass.ELF64);
    }

    /** Parses a sub-header of class {@code cls} at position 0 of {@code b}, in its order (tests, validation). */
    public static KdumpSubHeader parse(ByteBuffer b, ElfClass cls) {
        if (cls == ElfClass.ELF32) {
            return new KdumpSubHeader(Integer.toUnsignedLong(b.getInt(0)), b.getInt(4), b.getLong(20),
                    Integer.toUnsignedLong(b.getInt(28)), b.getLong(32), Integer.toUnsignedLong(b.getInt(40)),
                    b.getLong(72));
        }
        return new KdumpSubHeader(b.getLong(0), b.getInt(8), b.getLong(32), b.getLong(40), b.getLong(48),
                b.getLong(56), b.getLong(96));
    }
}

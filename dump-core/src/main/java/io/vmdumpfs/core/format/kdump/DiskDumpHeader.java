package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.format.ElfClass;
import io.vmdumpfs.core.kernel.Utsname;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The main header of a kdump-compressed file, block 0 (makedumpfile diskdump_mod.h). Its layout is the dumped
 * machine's: {@code struct timeval} holds two longs, so everything from the timestamp on moves with the word size.
 * The layout for a 64-bit target:
 *
 * <pre>
 * struct disk_dump_header {
 *     char               signature[8];     // 0   "KDUMP   "
 *     int                header_version;   // 8
 *     struct new_utsname utsname;          // 12  six char[65]: sysname, nodename, release, version, machine,
 *                                          //     domainname; then 6 bytes of padding to align timestamp
 *     struct timeval     timestamp;        // 408 tv_sec, tv_usec (two longs)
 *     unsigned int       status;           // 424 DUMP_DH_COMPRESSED_* of the pages
 *     int                block_size;       // 428 = page size
 *     int                sub_hdr_size;     // 432 in blocks: kdump_sub_header plus the ELF notes
 *     unsigned int       bitmap_blocks;    // 436 both bitmaps, in blocks
 *     unsigned int       max_mapnr;        // 440 OBSOLETE 32-bit copy of max_mapnr_64
 *     unsigned int       total_ram_blocks; // 444
 *     unsigned int       device_blocks;    // 448
 *     unsigned int       written_blocks;   // 452
 *     unsigned int       current_cpu;      // 456
 *     int                nr_cpus;          // 460
 * };                                       // 464 bytes
 * </pre>
 *
 * <p>For a 32-bit target (QEMU's {@code DiskDumpHeader32}, libkdumpfile's {@code disk_dump_header_32}) utsname is
 * followed by 2 bytes of padding, a 4-byte tv_sec and tv_usec at 404, status at 412 and the rest 4-byte fields
 * after it, to nr_cpus at 448: 452 bytes. Which layout a file has follows the dump's ELF class ({@link ElfClass}),
 * as QEMU's dump.c chooses between {@code create_header32} and {@code create_header64}.
 * *
 * @param headerVersion  6: the sub-header has max_mapnr_64
 * @param utsname        the guest's utsname, as makedumpfile copies it from {@code init_uts_ns}: crash checks
 *                       machine against the vmlinux ("x86_64"), libkdumpfile believes the header's utsname (and
 *                       takes the architecture from machine) only when sysname, nodename, release, version and
 *                       machine are all non-empty
 * @param timestampSec   timestamp.tv_sec
 * @param status         compression flags
 * @param blockSize      block_size
 * @param subHdrSize     sub_hdr_size, in blocks
 * @param bitmapBlocks   bitmap_blocks
 * @param maxMapnr       max_mapnr, clipped to 32 bits
 * @param nrCpus         nr_cpus; crash warns when it is not positive
 */
public record DiskDumpHeader(int headerVersion, Utsname utsname, long timestampSec, int status, int blockSize,
        int subHdrSize, int bitmapBlocks, int maxMapnr, int nrCpus) {

    /** makedumpfile KDUMP_SIGNATURE. */
    public static final String SIGNATURE = "KDUMP   ";
    /** sizeof(struct disk_dump_header) on 64-bit targets. */
    public static final int SIZE = 464;
    /** sizeof(struct disk_dump_header) on 32-bit targets. */
    public static final int SIZE_32 = 452;
    /** sizeof(utsname field): __NEW_UTS_LEN + 1. */
    static final int UTS_FIELD = 65;
    static final int OFF_UTSNAME = 12;
    static final int OFF_TIMESTAMP = 408;
    static final int OFF_STATUS = 424;
    static final int OFF_TIMESTAMP_32 = 404;
    static final int OFF_STATUS_32 = 412;

    /** Returns the header's size in a file of class {@code cls}. */
    public static int size(ElfClass cls) {
        return cls == ElfClass.ELF32 ? SIZE_32 : SIZE;
    }

    /** Returns the 464 header bytes of a 64-bit target in {@code order}. */
    public byte[] toBytes(ByteOrder order) {
        return toBytes(order, ElfClass.ELF64);
    }

    /** Returns the header bytes in {@code order}, laid out for a file of class {@code cls}. */
    public byte[] toBytes(ByteOrder order, ElfClass cls) {
        boolean b32 = cls == ElfClass.ELF32;
        ByteBuffer b = ByteBuffer.allocate(size(cls)).order(order);
        b.put(0, SIGNATURE.getBytes(StandardCharsets.US_ASCII));
        b.putInt(8, headerVersion);
        List<String> uts = utsname.fields();
        for (int i = 0; i < uts.size(); i++) {
            putUts(b, i, uts.get(i));
        }
        if (b32) {
            b.putInt(OFF_TIMESTAMP_32, (int) timestampSec);   // a 32-bit time_t; tv_usec stays 0
        } else {
            b.putLong(OFF_TIMESTAMP, timestampSec);
        }
        int at = b32 ? OFF_STATUS_32 : OFF_STATUS;
        b.putInt(at, status);
        b.putInt(at + 4, blockSize);
        b.putInt(at + 8, subHdrSize);
        b.putInt(at + 12, bitmapBlocks);
        b.putInt(at + 16, maxMapnr);
        // total_ram_blocks, device_blocks, written_blocks, current_cpu: 0, as makedumpfile and QEMU leave them
        b.putInt(at + 36, nrCpus);
        return b.array();
    }

    /**
     * Parses a 64-bit target's header (for tests and validation).
     *
     * @throws IllegalArgumentException if the signature is not "KDUMP   "
     */
    public static DiskDumpHeader parse(ByteBuffer b) {
        return parse(b, ElfClass.ELF64);
    }

    /**
     * Parses a header laid out for class {@code cls}, in {@code b}'s byte order (for tests and validation).
     *
     * @throws IllegalArgumentException if the signature is not "KDUMP   "
     */
    public static DiskDumpHeader parse(ByteBuffer b, ElfClass cls) {
        byte[] sig = new byte[8];
        b.get(0, sig);
        if (!SIGNATURE.equals(new String(sig, StandardCharsets.US_ASCII))) {
            throw new IllegalArgumentException("disk_dump_header: signature is not \"KDUMP   \"");
        }
        boolean b32 = cls == ElfClass.ELF32;
        int at = b32 ? OFF_STATUS_32 : OFF_STATUS;
        long time = b32 ? b.getInt(OFF_TIMESTAMP_32) : b.getLong(OFF_TIMESTAMP);
        Utsname uts = new Utsname(getUts(b, 0), getUts(b, 1), getUts(b, 2), getUts(b, 3), getUts(b, 4), getUts(b, 5));
        return new DiskDumpHeader(b.getInt(8), uts, time, b.getInt(at),
                b.getInt(at + 4), b.getInt(at + 8), b.getInt(at + 12), b.getInt(at + 16), b.getInt(at + 36));
    }

    private static void putUts(ByteBuffer b, int field, String s) {
        byte[] v = s.getBytes(StandardCharsets.ISO_8859_1); // one char per guest byte, see Utsname
        b.put(OFF_UTSNAME + field * UTS_FIELD, v, 0, Math.min(v.length, UTS_FIELD - 1)); // keep the NUL
    }

    private static String getUts(ByteBuffer b, int field) {
        byte[] v = new byte[UTS_FIELD];
        b.get(OFF_UTSNAME + field * UTS_FIELD, v);
        int n = 0;
        while (n < v.length && v[n] != 0) {
            n++;
        }
        return new String(v, 0, n, StandardCharsets.ISO_8859_1);
    }
}

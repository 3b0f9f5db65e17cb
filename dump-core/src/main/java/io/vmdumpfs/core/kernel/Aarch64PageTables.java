package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.kernel.KernelAddressException.Reason;

/**
 * The AArch64 stage-1 translation table walk for the kernel's upper (TTBR1) half (Arm ARM D8, VMSAv8-64), for the
 * 4 KiB, 16 KiB and 64 KiB granules. A table is one granule of eight-byte descriptors, so each level resolves
 * {@code granuleShift − 3} address bits (9, 11 or 13); the number of levels is what the virtual address size needs
 * (48-bit: 4 levels with 4 KiB, 4 with 16 KiB, 3 with 64 KiB; 39-bit 4 KiB: 3; 42-bit 64 KiB: 2), the top one
 * possibly partial (64 KiB 48-bit: 64 entries). Levels are numbered as the architecture does, the last always 3.
 *
 * <p>Descriptors (bits [1:0]): {@code x0} invalid; {@code 11} a table at levels 0-2, a page at level 3; {@code 01} a
 * block at level 1 (4 KiB granule: 1 GiB) or level 2 (2 MiB, 32 MiB, 512 MiB), reserved anywhere else. The output
 * address is bits [47:granuleShift]; with the 64 KiB granule and 52-bit physical addresses (FEAT_LPA,
 * {@code NUMBER(MAX_PHYSMEM_BITS)=52}) bits [15:12] of a descriptor hold PA[51:48]. The upper attribute bits (UXN,
 * PXN, contiguous, software bits) and lower ones (AF, SH, AP, AttrIndx) are masked off. FEAT_LPA2's 52-bit layouts
 * for 4 KiB and 16 KiB granules (6.9 and later) are not read: their bits [9:8] would be taken as attributes.
 *
 * <p>A kernel built for 52-bit virtual addresses on a CPU with 48 (TCR_EL1.T1SZ = 16) starts its walks partway
 * into swapper_pg_dir (TTBR1 is offset by the entries the smaller size does not use): indexing the top table with
 * the configured size and a sign-extended address lands on the same entry, so the walk takes the table geometry
 * from {@code vaBits} and checks canonical form against {@code activeVaBits}.
 *
 * <p>Errors, not guesses, as on x86_64: a reserved descriptor or a table pointing back at one on the walk is
 * {@link Reason#BAD_PAGE_TABLE}; a table outside guest RAM is {@link Reason#NOT_IN_DUMP}. Immutable and thread-safe.
 */
public final class Aarch64PageTables implements PageTableWalker {

    static final long VALID = 1L;
    static final long TABLE_OR_PAGE = 2L;
    /** Output address bits [47:12]; the granule's low bits are cleared per granule. */
    static final long OA_MASK_48 = 0x0000_ffff_ffff_f000L;

    private final long rootGuestPaddr;
    private final int granuleShift;
    private final int vaBits;
    private final int activeVaBits;
    private final boolean pa52;
    private final int levels;

    /**
     * @param rootGuestPaddr guest-physical address of swapper_pg_dir, aligned to 8 bytes times its entry count
     * @param pageSize       4096, 16384 or 65536 (PAGESIZE)
     * @param vaBits         the kernel's configured virtual address bits (NUMBER(VA_BITS)), 36 to 52
     * @param activeVaBits   the bits the CPU translates (64 − TCR_EL1.T1SZ), at most {@code vaBits}
     * @param pa52           true for 52-bit physical output addresses with the 64 KiB granule
     */
    public Aarch64PageTables(long rootGuestPaddr, int pageSize, int vaBits, int activeVaBits, boolean pa52) {
        this.granuleShift = switch (pageSize) {
            case 4096 -> 12;
            case 16384 -> 14;
            case 65536 -> 16;
            default -> throw new IllegalArgumentException("AArch64 granules are 4, 16 or 64 KiB, not " + pageSize);
        };
        if (vaBits < 36 || vaBits > 52 || activeVaBits < 36 || activeVaBits > vaBits) {
            throw new IllegalArgumentException("virtual address bits " + vaBits + " (active " + activeVaBits
                    + ") are not an AArch64 kernel's");
        }
        if (pa52 && pageSize != 65536) {
            throw new IllegalArgumentException("52-bit physical addresses are read for the 64 KiB granule only");
        }
        int perLevel = granuleShift - 3;
        this.levels = (vaBits - granuleShift + perLevel - 1) / perLevel;
        if (levels > 4) {
            throw new IllegalArgumentException(vaBits + "-bit addresses with " + pageSize
                    + "-byte pages need 5 levels (FEAT_LPA2), which this walk does not read");
        }
        long tableBytes = 8L << topIndexBits();
        if ((rootGuestPaddr & (Math.min(tableBytes, 1L << granuleShift) - 1)) != 0 || (rootGuestPaddr & 7) != 0) {
            throw new IllegalArgumentException("translation table root 0x" + Long.toHexString(rootGuestPaddr)
                    + " is not aligned to its " + tableBytes + " bytes");
        }
        this.rootGuestPaddr = rootGuestPaddr;
        this.vaBits = vaBits;
        this.activeVaBits = activeVaBits;
        this.pa52 = pa52;
    }

    /** Returns the number of table levels walked: 2 to 4. */
    public int levels() {
        return levels;
    }

    /** Returns the granule (page) size in bytes. */
    public long granule() {
        return 1L << granuleShift;
    }

    @Override
    public long rootGuestPaddr() {
        return rootGuestPaddr;
    }

    /** Address bits the top table resolves: what the levels below leave of {@code vaBits}. */
    private int topIndexBits() {
        return vaBits - granuleShift - (levels - 1) * (granuleShift - 3);
    }

    @Override
    public Translation walk(long kernelVaddr, PhysReader phys) {
        // TTBR1 translates addresses whose bits 63 … activeVaBits are all ones; the rest fault (the lower half is
        // user space, TTBR0).
        if ((kernelVaddr >> activeVaBits) != -1) {
            throw new KernelAddressException(Reason.NOT_KERNEL, kernelVaddr, 0,
                    "not a kernel (TTBR1) address for " + activeVaBits + "-bit virtual addresses");
        }
        int perLevel = granuleShift - 3;
        long table = rootGuestPaddr;
        long[] visited = new long[levels];
        for (int i = 0; i < levels; i++) {
            int level = 4 - levels + i;
            visited[i] = table;
            int shift = granuleShift + perLevel * (3 - level);
            int indexBits = i == 0 ? topIndexBits() : perLevel;
            long index = (kernelVaddr >>> shift) & ((1L << indexBits) - 1);
            long entryPaddr = table + index * 8;
            long entry = TableEntry.read(phys, table, index, 8, kernelVaddr, levelName(level));
            if ((entry & VALID) == 0) {
                throw TableEntry.notMapped(kernelVaddr, 1L << shift, levelName(level), table, index, 8, entry);
            }
            long outputAddress = outputAddress(entry);
            boolean tableOrPage = (entry & TABLE_OR_PAGE) != 0;
            if (level == 3 || !tableOrPage) {
                if (level == 3 && !tableOrPage || !tableOrPage && !blockAllowed(level)) {
                    throw new KernelAddressException(Reason.BAD_PAGE_TABLE, kernelVaddr, 0, levelName(level)
                            + " entry " + index + " at guest-physical 0x" + Long.toHexString(entryPaddr)
                            + " is a reserved descriptor (a block where none may be): 0x" + Long.toHexString(entry));
                }
                long size = 1L << shift;
                return new Translation(kernelVaddr & -size, outputAddress & -size, size);
            }
            for (int j = 0; j <= i; j++) {
                if (visited[j] == outputAddress) {
                    throw new KernelAddressException(Reason.BAD_PAGE_TABLE, kernelVaddr, 0, levelName(level)
                            + " entry " + index + " at guest-physical 0x" + Long.toHexString(entryPaddr)
                            + " points back at the " + levelName(4 - levels + j) + " table 0x"
                            + Long.toHexString(outputAddress) + " (a loop)");
                }
            }
            table = outputAddress;
        }
        throw new AssertionError("unreachable: level 3 always returns");
    }

    /** Returns the physical address a descriptor names, granule aligned. */
    private long outputAddress(long entry) {
        long oa = entry & OA_MASK_48 & -(1L << granuleShift);
        if (pa52) {
            oa |= ((entry >>> 12) & 0xf) << 48;
        }
        return oa;
    }

    /** Block descriptors exist at level 2 for every granule and at level 1 for 4 KiB (1 GiB), without FEAT_LPA2. */
    private boolean blockAllowed(int level) {
        return level == 2 || level == 1 && granuleShift == 12;
    }

    /** Returns the architecture's name for the table at {@code level}, with Linux's in parentheses. */
    private String levelName(int level) {
        String linux = switch (level) {
            case 3 -> "pte";
            case 2 -> levels == 2 ? "pgd" : "pmd";
            case 1 -> levels == 3 ? "pgd" : "pud";
            default -> "pgd";
        };
        return "level " + level + " (" + linux + ")";
    }

    @Override
    public String describe() {
        return "aarch64 " + (1 << granuleShift >> 10) + " KiB granule, " + levels + "-level, " + vaBits + "-bit VA"
                + (activeVaBits != vaBits ? " (" + activeVaBits + " active)" : "") + (pa52 ? ", 52-bit PA" : "")
                + ", root at guest-physical 0x" + Long.toHexString(rootGuestPaddr);
    }
}

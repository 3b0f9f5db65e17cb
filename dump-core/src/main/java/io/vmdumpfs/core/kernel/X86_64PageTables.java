package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.kernel.KernelAddressException.Reason;

/**
 * The x86_64 long-mode page table walk (Intel SDM vol. 3, 4.5; AMD APM vol. 2, 5.3), 4-level (48-bit addresses) or
 * 5-level (57-bit, LA57). Each table is 512 eight-byte entries; an entry is used when bit 0 (P) is set, points at the
 * next table or, with bit 7 (PS) at the PDPT or PD level, maps a 1 GiB or 2 MiB page itself.
 *
 * <p>What is masked off an entry to get the frame address: bits 0-11 (flags), bits 52-63 (NX, protection keys,
 * software bits) and the AMD memory-encryption bit (NUMBER(sme_mask) in VMCOREINFO: the kernel ORs it into every
 * entry of an encrypted guest). In a large page entry bit 12 is PAT, so the frame is taken at the page's alignment.
 *
 * <p>Errors, not guesses: PS in a PML4/PML5 entry is reserved and reported; a table that points back at one
 * already on the walk is reported as a loop (Linux never builds recursive tables, and a damaged one must not be
 * read as if it were a page); a table outside guest RAM is reported as not in the dump. Immutable and thread-safe.
 */
public final class X86_64PageTables implements PageTableWalker {

    static final long PRESENT = 1L;
    static final long PAGE_SIZE_BIT = 1L << 7;
    /** Frame address bits 12-51: the architectural maximum of 52 physical address bits. */
    static final long FRAME_MASK = 0x000f_ffff_ffff_f000L;

    private final long rootGuestPaddr;
    private final int levels;
    private final long smeMask;

    /**
     * @param rootGuestPaddr guest-physical address of the top table (init_top_pgt), 4 KiB aligned
     * @param levels         4 or 5
     * @param smeMask        the memory-encryption bit to strip from entries, 0 if none
     */
    public X86_64PageTables(long rootGuestPaddr, int levels, long smeMask) {
        if (levels != 4 && levels != 5) {
            throw new IllegalArgumentException("x86_64 paging has 4 or 5 levels, not " + levels);
        }
        if ((rootGuestPaddr & 0xfff) != 0) {
            throw new IllegalArgumentException("page table root 0x" + Long.toHexString(rootGuestPaddr)
                    + " is not 4 KiB aligned");
        }
        this.rootGuestPaddr = rootGuestPaddr;
        this.levels = levels;
        this.smeMask = smeMask;
    }

    public int levels() {
        return levels;
    }

    @Override
    public long rootGuestPaddr() {
        return rootGuestPaddr;
    }

    /** Returns the number of virtual address bits: 48 (4-level) or 57 (5-level). */
    public int vaddrBits() {
        return 12 + 9 * levels;
    }

    @Override
    public Translation walk(long kernelVaddr, PhysReader phys) {
        int bits = vaddrBits();
        // Canonical: bits 63 … bits-1 all equal (a sign extension of the top implemented bit).
        if ((kernelVaddr >> (bits - 1)) != 0 && (kernelVaddr >> (bits - 1)) != -1) {
            throw new KernelAddressException(Reason.NOT_KERNEL, kernelVaddr, 0,
                    "not canonical for " + bits + "-bit addresses");
        }
        long table = rootGuestPaddr;
        long[] visited = new long[levels];
        for (int level = levels; level >= 1; level--) {
            visited[levels - level] = table;
            int shift = 12 + 9 * (level - 1);
            long index = (kernelVaddr >>> shift) & 511;
            long entryPaddr = table + index * 8;
            long entry = TableEntry.read(phys, table, index, 8, kernelVaddr, levelName(level));
            if ((entry & PRESENT) == 0) {
                throw TableEntry.notMapped(kernelVaddr, 1L << shift, levelName(level), table, index, 8, entry);
            }
            long frame = entry & FRAME_MASK & ~smeMask;
            boolean large = (entry & PAGE_SIZE_BIT) != 0;
            if (level == 1 || large && (level == 2 || level == 3)) {
                long size = 1L << shift;
                long unit = kernelVaddr & -size;
                return new Translation(unit, frame & -size, size);
            }
            if (large) {
                throw new KernelAddressException(Reason.BAD_PAGE_TABLE, kernelVaddr, 0, levelName(level)
                        + " entry " + index + " at guest-physical 0x" + Long.toHexString(entryPaddr)
                        + " has the reserved PS bit: 0x" + Long.toHexString(entry));
            }
            for (int i = 0; i <= levels - level; i++) {
                if (visited[i] == frame) {
                    throw new KernelAddressException(Reason.BAD_PAGE_TABLE, kernelVaddr, 0, levelName(level)
                            + " entry " + index + " at guest-physical 0x" + Long.toHexString(entryPaddr)
                            + " points back at the " + levelName(levels - i) + " table 0x"
                            + Long.toHexString(frame) + " (a loop)");
                }
            }
            table = frame;
        }
        throw new AssertionError("unreachable: level 1 always returns");
    }

    /** Returns the architecture's name for the table at {@code level}, with Linux's in parentheses. */
    static String levelName(int level) {
        return switch (level) {
            case 5 -> "PML5 (pgd)";
            case 4 -> "PML4 (p4d/pgd)";
            case 3 -> "PDPT (pud)";
            case 2 -> "PD (pmd)";
            default -> "PT (pte)";
        };
    }

    @Override
    public String describe() {
        return "x86_64 " + levels + "-level, root at guest-physical 0x" + Long.toHexString(rootGuestPaddr)
                + (smeMask != 0 ? ", sme_mask 0x" + Long.toHexString(smeMask) : "");
    }
}

package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.kernel.KernelAddressException.Reason;

/**
 * The i386 protected-mode page table walk (Intel SDM vol. 3, 4.3 and 4.4), in either of the two formats a 32-bit
 * Linux kernel builds:
 * <ul>
 *   <li>PAE (CONFIG_X86_PAE, Debian's 686-pae): 3 levels of 8-byte entries; a 4-entry PDPT (Linux's pgd, one entry
 *       per GiB), page directories (pmd) whose entries map 2 MiB pages when bit 7 (PS) is set, page tables (pte) of
 *       4 KiB pages. As in long mode the frame is bits 12-51 (bit 63 is NX); PS in a PDPT entry is reserved.</li>
 *   <li>non-PAE: 2 levels of 4-byte entries; a 1024-entry page directory (pgd) whose entries map 4 MiB pages when
 *       PS is set (CR4.PSE, which Linux uses whenever the CPU has it), page tables of 4 KiB pages. A 4 MiB entry
 *       holds physical bits 22-31 in bits 22-31 and, with PSE-36, bits 32-39 in bits 13-20.</li>
 * </ul>
 * In a large page entry bit 12 is PAT, so the frame is taken at the page's alignment. Addresses are 32 bits: one
 * beyond 4 GiB is reported as not a kernel address, never truncated into one. The errors are x86_64's
 * ({@link X86_64PageTables}): an empty entry is NOT_MAPPED with its span, a table outside guest RAM NOT_IN_DUMP, a
 * reserved PS bit or a table pointing back at one on the walk BAD_PAGE_TABLE. Immutable and thread-safe.
 */
public final class I386PageTables implements PageTableWalker {

    static final long PRESENT = 1L;
    static final long PAGE_SIZE_BIT = 1L << 7;
    /** PAE frame address bits 12-51, as in long mode. */
    static final long PAE_FRAME_MASK = 0x000f_ffff_ffff_f000L;
    /** Non-PAE frame address bits 12-31 of a page-table or 4 KiB page entry. */
    static final long FRAME_MASK_32 = 0xffff_f000L;
    /** Non-PAE 4 MiB page entry: physical bits 22-31 where they belong. */
    static final long LARGE_FRAME_MASK_32 = 0xffc0_0000L;

    private final long rootGuestPaddr;
    private final boolean pae;

    /**
     * @param rootGuestPaddr guest-physical address of swapper_pg_dir: the PDPT (PAE; CR3 wants it 32-byte aligned)
     *                       or the page directory (non-PAE; 4 KiB aligned)
     * @param pae            true for the 3-level 8-byte format
     */
    public I386PageTables(long rootGuestPaddr, boolean pae) {
        long align = pae ? 32 : 4096;
        if (rootGuestPaddr < 0 || (rootGuestPaddr & (align - 1)) != 0) {
            throw new IllegalArgumentException("page table root 0x" + Long.toHexString(rootGuestPaddr)
                    + " is not " + align + "-byte aligned");
        }
        this.rootGuestPaddr = rootGuestPaddr;
        this.pae = pae;
    }

    public boolean pae() {
        return pae;
    }

    @Override
    public long rootGuestPaddr() {
        return rootGuestPaddr;
    }

    @Override
    public Translation walk(long kernelVaddr, PhysReader phys) {
        if ((kernelVaddr >>> 32) != 0) {
            throw new KernelAddressException(Reason.NOT_KERNEL, kernelVaddr, 0, "beyond the 32-bit address space");
        }
        // Per level from the top: the shift of the address bits it indexes, how many there are.
        int[] shifts = pae ? new int[] {30, 21, 12} : new int[] {22, 12};
        int[] indexBits = pae ? new int[] {2, 9, 9} : new int[] {10, 10};
        int entryBytes = pae ? 8 : 4;
        int levels = shifts.length;
        long table = rootGuestPaddr;
        long[] visited = new long[levels];
        for (int l = 0; l < levels; l++) {
            visited[l] = table & -4096L;
            int shift = shifts[l];
            long index = (kernelVaddr >>> shift) & ((1L << indexBits[l]) - 1);
            String name = levelName(l);
            long entryPaddr = table + index * entryBytes;
            long entry = TableEntry.read(phys, table, index, entryBytes, kernelVaddr, name);
            if ((entry & PRESENT) == 0) {
                throw TableEntry.notMapped(kernelVaddr, 1L << shift, name, table, index, entryBytes, entry);
            }
            boolean last = l == levels - 1;
            boolean large = !last && (entry & PAGE_SIZE_BIT) != 0;
            // PS is meaningful in the page directory only: the PAE PDPT's bit 7 is reserved, and in a PT entry it is
            // PAT.
            boolean directory = l == levels - 2;
            if (large && !directory) {
                throw new KernelAddressException(Reason.BAD_PAGE_TABLE, kernelVaddr, 0, name + " entry " + index
                        + " at guest-physical 0x" + Long.toHexString(entryPaddr) + " has the reserved PS bit: 0x"
                        + Long.toHexString(entry));
            }
            if (last || large) {
                long size = 1L << shift;
                long frame = pae ? entry & PAE_FRAME_MASK & -size
                        : large ? (entry & LARGE_FRAME_MASK_32) | ((entry >>> 13) & 0xff) << 32
                        : entry & FRAME_MASK_32;
                return new Translation(kernelVaddr & -size, frame, size);
            }
            long next = entry & (pae ? PAE_FRAME_MASK : FRAME_MASK_32);
            for (int i = 0; i <= l; i++) {
                if (visited[i] == next) {
                    throw new KernelAddressException(Reason.BAD_PAGE_TABLE, kernelVaddr, 0, name + " entry " + index
                            + " at guest-physical 0x" + Long.toHexString(entryPaddr) + " points back at the "
                            + levelName(i) + " table 0x" + Long.toHexString(next) + " (a loop)");
                }
            }
            table = next;
        }
        throw new AssertionError("unreachable: the last level always returns");
    }

    /** Returns the architecture's name for the table at {@code level} (0 = the root), with Linux's in parentheses. */
    String levelName(int level) {
        if (pae) {
            return switch (level) {
                case 0 -> "PDPT (pgd)";
                case 1 -> "PD (pmd)";
                default -> "PT (pte)";
            };
        }
        return level == 0 ? "PD (pgd)" : "PT (pte)";
    }

    @Override
    public String describe() {
        return "i386 " + (pae ? "PAE 3-level" : "2-level") + ", root at guest-physical 0x"
                + Long.toHexString(rootGuestPaddr);
    }
}

package io.vmdumpfs.core.kernel;

/**
 * A guest kernel virtual address cannot be read. The reasons differ in what they mean for a caller:
 * <ul>
 *   <li>{@link Reason#NOT_MAPPED}: the guest's page tables say nothing is there. A range scan skips
 *       {@link #unmappedSpan()} bytes (what the missing entry would have mapped) and goes on.</li>
 *   <li>{@link Reason#NOT_IN_DUMP}: the page tables lead to guest-physical memory the dump does not hold (MMIO,
 *       an address beyond RAM, or a page table there).</li>
 *   <li>{@link Reason#BAD_PAGE_TABLE}: an entry no kernel writes (a reserved bit, a table that points back at
 *       one already on the walk).</li>
 *   <li>{@link Reason#NOT_KERNEL}: the address is not one this architecture's kernel uses (non-canonical).</li>
 * </ul>
 * The message names the address, the level and the entry. Unchecked: most reads are of addresses the kernel itself
 * published, which are mapped unless the dump is damaged.
 */
public final class KernelAddressException extends RuntimeException {

    /** Why the address cannot be read. */
    public enum Reason { NOT_MAPPED, NOT_IN_DUMP, BAD_PAGE_TABLE, NOT_KERNEL }

    private final Reason reason;
    private final long kernelVaddr;
    private final long unmappedSpan;

    public KernelAddressException(Reason reason, long kernelVaddr, long unmappedSpan, String detail) {
        // NOT_MAPPED is an answer, not an accident: range scans meet it once per empty table entry, so it carries no
        // stack trace (filling one in costs more than the walk).
        super("kernel virtual 0x" + Long.toHexString(kernelVaddr) + ": " + detail, null, false,
                reason != Reason.NOT_MAPPED);
        this.reason = reason;
        this.kernelVaddr = kernelVaddr;
        this.unmappedSpan = unmappedSpan;
    }

    public Reason reason() {
        return reason;
    }

    /** Returns the address that could not be read. */
    public long kernelVaddr() {
        return kernelVaddr;
    }

    /**
     * Returns, for {@link Reason#NOT_MAPPED}, the size of the naturally aligned range around {@link #kernelVaddr()}
     * that the missing entry covers (e.g. 1 GiB for an empty PUD entry); 0 for other reasons.
     */
    public long unmappedSpan() {
        return unmappedSpan;
    }
}

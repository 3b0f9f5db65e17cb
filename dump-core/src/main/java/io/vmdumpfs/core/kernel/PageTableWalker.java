package io.vmdumpfs.core.kernel;

/**
 * One architecture's walk of the guest kernel's page tables: from a kernel virtual address to the mapping unit
 * (page or large page) that holds it. Implementations know the table format and the root; they read entries through
 * the {@link PhysReader} they are given, so the caller decides about caching and threads. A walk visits a fixed,
 * small number of tables, so it always ends, whatever the tables hold.
 */
public interface PageTableWalker {

    /**
     * Returns the mapping unit holding {@code kernelVaddr}.
     *
     * @throws KernelAddressException when the address is not mapped, leads outside the dump, or a table entry is
     *                                malformed
     */
    Translation walk(long kernelVaddr, PhysReader phys);

    /** Returns the guest-physical address of the top table, where every walk starts. */
    long rootGuestPaddr();

    /** Returns a short description for diagnostics: "x86_64 4-level, root at guest-physical 0x…". */
    String describe();
}

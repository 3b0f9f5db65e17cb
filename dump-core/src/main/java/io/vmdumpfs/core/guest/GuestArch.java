package io.vmdumpfs.core.guest;

import java.nio.ByteOrder;
import java.util.List;
import java.util.Set;

/**
 * The guest architectures QEMU's {@code dump-guest-memory} writes dumps for (each target's arch_dump.c), with what the
 * dump formats need of each: the ELF machine, the word size and how the kernel names itself in
 * {@code utsname.machine}, and what {@link PlatformFinder} checks the core's evidence against. Byte order and page
 * size are properties of the running guest, not of the architecture, and live in {@link GuestPlatform}.
 */
public enum GuestArch {
    /** qemu-system-x86_64. */
    X86_64(62, 64, "x86_64", "x86_64", List.of(ByteOrder.LITTLE_ENDIAN), Set.of(4096),
            Set.of("pc.ram", "microvm.ram")),
    /** qemu-system-i386 (and 32-bit guests of qemu-system-x86_64). EM_386; the kernel calls itself i686. */
    I386(3, 32, "i686", "i386", List.of(ByteOrder.LITTLE_ENDIAN), Set.of(4096), Set.of("pc.ram", "microvm.ram")),
    /**
     * qemu-system-aarch64. EM_AARCH64. Arm64 kernels run little-endian unless built big-endian (aarch64_be, rare):
     * the guest's VMCOREINFO note tells; without one, little-endian, Linux's default. Pages of 4, 16 or 64 KiB.
     */
    AARCH64(183, 64, "aarch64", "aarch64", List.of(ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN),
            Set.of(4096, 16384, 65536), Set.of("mach-virt.ram", "sbsa-ref.ram")),
    /** qemu-system-s390x. EM_S390, always big-endian, 4 KiB pages. */
    S390X(22, 64, "s390x", "s390x", List.of(ByteOrder.BIG_ENDIAN), Set.of(4096), Set.of("s390.ram")),
    /**
     * qemu-system-ppc64. EM_PPC64; utsname.machine is "ppc64le" or "ppc64" by byte order. Both orders are common, so
     * it is never assumed: only the guest's own VMCOREINFO note tells. Pages of 4 or 64 KiB (Debian: 64 KiB).
     */
    PPC64(21, 64, "ppc64", "ppc64", List.of(ByteOrder.BIG_ENDIAN, ByteOrder.LITTLE_ENDIAN), Set.of(4096, 65536),
            Set.of("ppc_spapr.ram", "pnv.ram"));

    /** ELF e_machine. */
    public final int elfMachine;
    /** The guest's native word size in bits (pointer size of its kernel). */
    public final int wordBits;
    /** utsname.machine of a big-endian or only-endian guest; see {@link GuestPlatform#utsMachine()}. */
    final String utsMachine;
    /** The suffix of the QEMU binary that emulates it: qemu-system-SUFFIX. */
    public final String qemuTarget;
    /** The byte orders its kernels run in; a VMCOREINFO note in another order contradicts the executable. */
    final List<ByteOrder> byteOrders;
    /** The page sizes its Linux kernels are built with (VMCOREINFO PAGESIZE); another size contradicts the arch. */
    final Set<Integer> pageSizes;
    /**
     * The ids QEMU's machines of this target give their main RAM block (MachineClass.default_ram_id): a block of
     * another target's name in the core contradicts the executable. (With {@code -object memory-backend-*} the
     * block is named after the backend, which tells nothing.)
     */
    final Set<String> ramBlockNames;

    GuestArch(int elfMachine, int wordBits, String utsMachine, String qemuTarget, List<ByteOrder> byteOrders,
            Set<Integer> pageSizes, Set<String> ramBlockNames) {
        this.elfMachine = elfMachine;
        this.wordBits = wordBits;
        this.utsMachine = utsMachine;
        this.qemuTarget = qemuTarget;
        this.byteOrders = byteOrders;
        this.pageSizes = pageSizes;
        this.ramBlockNames = ramBlockNames;
    }

    /** Returns the page size of its usual kernel, for a guest whose VMCOREINFO does not say (PAGESIZE). */
    public int defaultPageSize() {
        return this == PPC64 ? 65536 : 4096;
    }

    /**
     * Returns the byte order a guest without VMCOREINFO is taken to run in: the only one, or arm64 Linux's default
     * (little-endian); null for ppc64, whose big- and little-endian kernels are both common, so guessing would
     * label half of them wrongly.
     */
    ByteOrder orderWithoutEvidence() {
        return this == PPC64 ? null : byteOrders.get(0);
    }
}

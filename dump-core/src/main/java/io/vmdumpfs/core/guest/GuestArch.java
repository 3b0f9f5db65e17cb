package io.vmdumpfs.core.guest;

/**
 * The guest architectures QEMU's {@code dump-guest-memory} writes dumps for (each target's arch_dump.c), with what the
 * dump formats need of each: the ELF machine, the word size and how the kernel names itself in
 * {@code utsname.machine}. Byte order and page size are properties of the running guest, not of the architecture,
 * and live in {@link GuestPlatform}.
 */
public enum GuestArch {
    /** qemu-system-x86_64. */
    X86_64(62, 64, "x86_64", "x86_64", 4096),
    /** qemu-system-i386 (and 32-bit guests of qemu-system-x86_64). EM_386; the kernel calls itself i686. */
    I386(3, 32, "i686", "i386", 4096),
    /** qemu-system-aarch64. EM_AARCH64. */
    AARCH64(183, 64, "aarch64", "aarch64", 4096),
    /** qemu-system-s390x. EM_S390, always big-endian. */
    S390X(22, 64, "s390x", "s390x", 4096),
    /** qemu-system-ppc64. EM_PPC64; utsname.machine is "ppc64le" or "ppc64" by byte order. */
    PPC64(21, 64, "ppc64", "ppc64", 65536);

    /** ELF e_machine. */
    public final int elfMachine;
    /** The guest's native word size in bits (pointer size of its kernel). */
    public final int wordBits;
    /** utsname.machine of a big-endian or only-endian guest; see {@link GuestPlatform#utsMachine()}. */
    final String utsMachine;
    /** The suffix of the QEMU binary that emulates it: qemu-system-SUFFIX. */
    public final String qemuTarget;
    /** The page size of a typical kernel, used only when the guest's VMCOREINFO does not say (PAGESIZE). */
    public final int defaultPageSize;

    GuestArch(int elfMachine, int wordBits, String utsMachine, String qemuTarget, int defaultPageSize) {
        this.elfMachine = elfMachine;
        this.wordBits = wordBits;
        this.utsMachine = utsMachine;
        this.qemuTarget = qemuTarget;
        this.defaultPageSize = defaultPageSize;
    }
}

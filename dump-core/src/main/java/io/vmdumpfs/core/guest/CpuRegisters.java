package io.vmdumpfs.core.guest;

/**
 * One vCPU's registers as its target's register file held them. One implementation per target family, so that the
 * dump formats can write each target's notes (x86: NT_PRSTATUS and QEMU's "QEMU" note; aarch64: NT_PRSTATUS and
 * NT_PRFPREG).
 */
public sealed interface CpuRegisters permits X86Registers, Aarch64Registers {

    /** Returns the CPU's mode in words: "long", "protected", "real", … */
    String mode();

    /** Returns the program counter (x86: rip/eip). */
    long pc();

    /** Returns the program counter's name on this target ("rip", "eip", "pc"). */
    String pcName();
}

package io.vmdumpfs.core.guest;

/**
 * One aarch64 vCPU's registers as QEMU's dump writes them (target/arm/arch_dump.c): the general registers, SP, PC and
 * PSTATE of NT_PRSTATUS, and the vector registers, FPSR and FPCR of NT_PRFPREG. Values are QEMU's computed ones:
 * {@code pstate} as {@code pstate_read()} assembles it, {@code fpsr}/{@code fpcr} as {@code vfp_get_fpsr()} and
 * {@code vfp_get_fpcr()} do ({@link Aarch64CpuTarget} reads them).
 *
 * @param x      x0 … x30, then SP (QEMU's xregs[31], the stack pointer of the current exception level)
 * @param pc     pc
 * @param pstate PSTATE (SPSR format: NZCV, DAIF, BTYPE, M[3:0] …)
 * @param vregs  V0 … V31 as 64 words: V n's low half at [2n], its high half at [2n + 1]
 * @param fpsr   FPSR
 * @param fpcr   FPCR
 * @param sysregsAt where {@code sysregs} starts in CPUARMState (bytes)
 * @param sysregs the raw 8-byte words of CPUARMState from the end of the register file head to the FP/SIMD block
 *               (elr_el, sp_el, the cp15 system registers, …), in the core's order; empty when they are not in the
 *               core. Not named one by one: their places change with QEMU's version, and what they mean to the
 *               guest is for the kernel layer to tell (the format layer finds TPIDR_EL1, the kernel's per-CPU
 *               offset, among them by value)
 */
public record Aarch64Registers(long[] x, long pc, int pstate, long[] vregs, int fpsr, int fpcr, int sysregsAt,
        long[] sysregs) implements CpuRegisters {

    /** Index of SP in {@link #x}. */
    public static final int SP = 31;

    public Aarch64Registers {
        if (x.length != 32 || vregs.length != 64) {
            throw new IllegalArgumentException("32 general registers and 32 vector registers");
        }
        x = x.clone();
        vregs = vregs.clone();
        sysregs = sysregs.clone();
    }

    /** As the canonical constructor, without the system register words (none read). */
    public Aarch64Registers(long[] x, long pc, int pstate, long[] vregs, int fpsr, int fpcr) {
        this(x, pc, pstate, vregs, fpsr, fpcr, 0, new long[0]);
    }

    @Override
    public long[] sysregs() {
        return sysregs.clone();
    }

    @Override
    public long[] x() {
        return x.clone();
    }

    @Override
    public long[] vregs() {
        return vregs.clone();
    }

    /** Returns the stack pointer (QEMU's xregs[31]). */
    public long sp() {
        return x[SP];
    }

    /** Returns the exception level, PSTATE.EL (M[3:2]). */
    public int el() {
        return (pstate >>> 2) & 3;
    }

    /** Returns PSTATE.SP (M[0]): true when the EL's own stack pointer is used (ELxh), false for SP_EL0 (ELxt). */
    public boolean spx() {
        return (pstate & 1) != 0;
    }

    /** Returns the mode as Arm names it: "EL0t", "EL1h", … (M[3:0]; AArch64 state only). */
    @Override
    public String mode() {
        return "EL" + el() + (spx() ? "h" : "t");
    }

    @Override
    public long pc() {
        return pc;
    }

    @Override
    public String pcName() {
        return "pc";
    }
}

package io.vmdumpfs.core.guest;

/**
 * Byte offsets of the head of QEMU's {@code CPUARMState} (target/arm/cpu.h), the Arm register file, as far as QEMU's
 * aarch64 dump reads it ({@code arm_cpu_write_elf64_note}: xregs, pc and {@code pstate_read()}'s inputs). The head
 * has kept its order from QEMU 5.2 to 10.0; the offsets are derived from the field order rather than listed:
 *
 * <pre>
 * uint32_t regs[16]; uint64_t xregs[32]; uint64_t pc; uint32_t pstate; bool aarch64; bool thumb;
 * CPUARMTBFlags hflags {uint32_t flags; target_ulong flags2};  uint32_t uncached_cpsr; uint32_t spsr;
 * uint64_t banked_spsr[8]; uint32_t banked_r13[8]; uint32_t banked_r14[8]; uint32_t usr_regs[5]; uint32_t fiq_regs[5];
 * uint32_t CF, VF, NF, ZF, QF, GE, condexec_bits, btype; uint64_t daif; …
 * </pre>
 *
 * <p>QEMU keeps PSTATE in pieces: NZCV in CF/VF/NF/ZF (with AArch32's encodings: C is 0 or 1, V and N are bit 31, Z
 * is set when ZF is 0), nRW inverted in {@code aarch64}, DAIF in {@code daif} (in PSTATE's bit positions), BTYPE in
 * {@code btype}, everything else in {@code pstate}.
 *
 * @param xregs     CPUARMState.xregs[0] (xregs[31] is the current SP)
 * @param pc        CPUARMState.pc
 * @param pstate    CPUARMState.pstate (PSTATE without NZCV, DAIF, BTYPE)
 * @param aarch64   CPUARMState.aarch64 (bool)
 * @param thumb     CPUARMState.thumb (bool)
 * @param cf        CPUARMState.CF; VF, NF, ZF follow it 4 bytes apart
 * @param btype     CPUARMState.btype
 * @param daif      CPUARMState.daif (uint64_t)
 * @param headBytes how many bytes of the register file this layout describes (through daif)
 */
public record Aarch64EnvLayout(int xregs, int pc, int pstate, int aarch64, int thumb, int cf, int btype, int daif,
        int headBytes) {

    /** qemu-system-aarch64's CPUARMState head (target_ulong is 8 bytes). */
    public static final Aarch64EnvLayout QEMU = derive();

    private static Aarch64EnvLayout derive() {
        int xregs = 16 * 4;                          // after regs[16]
        int pc = xregs + 32 * 8;
        int pstate = pc + 8;
        int aarch64 = pstate + 4;
        int thumb = aarch64 + 1;
        int hflags = align(thumb + 1, 8);           // CPUARMTBFlags holds a target_ulong
        int uncachedCpsr = hflags + 16;
        int bankedSpsr = align(uncachedCpsr + 4 + 4, 8);
        int usrRegs = bankedSpsr + 8 * 8 + 8 * 4 + 8 * 4;
        int cf = usrRegs + 5 * 4 + 5 * 4;            // after usr_regs[5], fiq_regs[5]
        int btype = cf + 7 * 4;                      // after CF, VF, NF, ZF, QF, GE, condexec_bits
        int daif = align(btype + 4, 8);
        return new Aarch64EnvLayout(xregs, pc, pstate, aarch64, thumb, cf, btype, daif, daif + 8);
    }

    /** CPUARMState.VF. */
    public int vf() {
        return cf + 4;
    }

    /** CPUARMState.NF. */
    public int nf() {
        return cf + 8;
    }

    /** CPUARMState.ZF. */
    public int zf() {
        return cf + 12;
    }

    private static int align(int n, int a) {
        return (n + a - 1) & -a;
    }
}

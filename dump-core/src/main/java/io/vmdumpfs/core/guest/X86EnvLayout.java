package io.vmdumpfs.core.guest;

/**
 * Byte offsets of the head of QEMU's {@code CPUX86State} (target/i386/cpu.h), the x86 register file, for one
 * target word size. The head has been the same from QEMU 5.2 to 10.0; the offsets are derived from the field order
 * and the word size rather than listed, so the i386 target (32-bit {@code target_ulong}, 8 registers) follows
 * from the same rule as x86_64.
 *
 * <pre>
 * target_ulong regs[CPU_NB_REGS]; target_ulong eip; target_ulong eflags;
 * target_ulong cc_dst, cc_src, cc_src2; uint32_t cc_op; int32_t df; uint32_t hflags; uint32_t hflags2;
 * SegmentCache segs[6]; SegmentCache ldt, tr, gdt, idt;         SegmentCache = {u32 selector; target_ulong base;
 * target_ulong cr[5];                                                             u32 limit; u32 flags}
 * </pre>
 *
 * @param wordBytes sizeof(target_ulong): 8 for qemu-system-x86_64, 4 for qemu-system-i386
 * @param nregs     CPU_NB_REGS: 16, or 8 without TARGET_X86_64
 * @param eip       CPUX86State.eip
 * @param eflags    CPUX86State.eflags
 * @param hflags    CPUX86State.hflags
 * @param segs      CPUX86State.segs[0] (ES, CS, SS, DS, FS, GS)
 * @param segSize   sizeof(SegmentCache)
 * @param ldt       CPUX86State.ldt
 * @param tr        CPUX86State.tr
 * @param gdt       CPUX86State.gdt
 * @param idt       CPUX86State.idt
 * @param cr        CPUX86State.cr[0]
 * @param headBytes how many bytes of the register file this layout describes (through cr[4])
 */
public record X86EnvLayout(int wordBytes, int nregs, int eip, int eflags, int hflags, int segs, int segSize, int ldt,
        int tr, int gdt, int idt, int cr, int headBytes) {

    /** qemu-system-x86_64's CPUX86State. */
    public static final X86EnvLayout X86_64 = derive(8);
    /** qemu-system-i386's CPUX86State. */
    public static final X86EnvLayout I386 = derive(4);

    /** Returns the layout for a target_ulong of {@code w} bytes, following the field order above. */
    static X86EnvLayout derive(int w) {
        int nregs = w == 8 ? 16 : 8;
        int eip = nregs * w;
        int eflags = eip + w;
        int hflags = eflags + w + 3 * w + 4 + 4;      // after cc_dst, cc_src, cc_src2, cc_op, df
        int segSize = 4 + (w == 8 ? 4 : 0) + w + 4 + 4; // selector, padding to base's alignment, base, limit, flags
        int segs = align(hflags + 4 + 4, w);           // after hflags, hflags2
        int ldt = segs + 6 * segSize;
        int cr = ldt + 4 * segSize;
        return new X86EnvLayout(w, nregs, eip, eflags, hflags, segs, segSize, ldt, ldt + segSize, ldt + 2 * segSize,
                ldt + 3 * segSize, cr, cr + 5 * w);
    }

    private static int align(int n, int a) {
        return (n + a - 1) & -a;
    }
}

package io.vmdumpfs.core.guest;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * One x86 vCPU's registers as QEMU held them in its {@code CPUX86State}: what QEMU's dump writes into the
 * NT_PRSTATUS and "QEMU" notes (target/i386/arch_dump.c). Values are the target's words zero-extended to 64 bits.
 *
 * @param layout       the register file layout they were read with (x86_64 or i386 target)
 * @param regs         regs[16]: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8 … R15 (R8 … R15 are 0 on i386)
 * @param eip          eip
 * @param eflags       eflags
 * @param hflags       QEMU's hidden flags (HF_*), which say the CPU's mode
 * @param segs         ES, CS, SS, DS, FS, GS
 * @param ldt          LDTR
 * @param tr           TR
 * @param gdt          GDTR (base and limit only)
 * @param idt          IDTR (base and limit only)
 * @param cr           cr[0] … cr[4]
 * @param kernelGsBase the KERNEL_GS_BASE MSR, when found
 */
public record X86Registers(X86EnvLayout layout, long[] regs, long eip, long eflags, int hflags, Segment[] segs,
        Segment ldt, Segment tr, Segment gdt, Segment idt, long[] cr, OptionalLong kernelGsBase)
        implements CpuRegisters {

    /** Indexes into {@link #segs} (QEMU's R_ES … R_GS). */
    public static final int R_ES = 0;
    public static final int R_CS = 1;
    public static final int R_SS = 2;
    public static final int R_DS = 3;
    public static final int R_FS = 4;
    public static final int R_GS = 5;
    /** Indexes into {@link #regs} (QEMU's R_EAX …). */
    public static final int R_EAX = 0;
    public static final int R_ECX = 1;
    public static final int R_EDX = 2;
    public static final int R_EBX = 3;
    public static final int R_ESP = 4;
    public static final int R_EBP = 5;
    public static final int R_ESI = 6;
    public static final int R_EDI = 7;

    /** hflags bits (target/i386/cpu.h HF_*_SHIFT). */
    static final int HF_CS32 = 1 << 4;
    static final int HF_PE = 1 << 7;
    static final int HF_MP_SHIFT = 9;
    static final int HF_LMA = 1 << 14;
    static final int HF_CS64 = 1 << 15;
    /** SegmentCache.flags: DESC_L_MASK (64-bit code), DESC_B_MASK (32-bit default size). */
    static final int DESC_L = 1 << 21;
    static final int DESC_B = 1 << 22;

    /**
     * A SegmentCache.
     *
     * @param selector selector (u32, of which 16 bits are real)
     * @param pad      the 4 bytes between selector and base on x86_64 (0 in QEMU's zeroed CPU)
     * @param base     base
     * @param limit    limit
     * @param flags    flags (descriptor attribute bits)
     */
    public record Segment(int selector, int pad, long base, int limit, int flags) {
    }

    /** Reads the register file head at the start of {@code env} (host byte order) with {@code l}. */
    public static X86Registers read(ByteBuffer env, X86EnvLayout l, OptionalLong kernelGsBase) {
        long[] regs = new long[16];
        for (int i = 0; i < l.nregs(); i++) {
            regs[i] = word(env, i * l.wordBytes(), l);
        }
        Segment[] segs = new Segment[6];
        for (int i = 0; i < 6; i++) {
            segs[i] = segment(env, l.segs() + i * l.segSize(), l);
        }
        long[] cr = new long[5];
        for (int i = 0; i < 5; i++) {
            cr[i] = word(env, l.cr() + i * l.wordBytes(), l);
        }
        return new X86Registers(l, regs, word(env, l.eip(), l), word(env, l.eflags(), l), env.getInt(l.hflags()),
                segs, segment(env, l.ldt(), l), segment(env, l.tr(), l), segment(env, l.gdt(), l),
                segment(env, l.idt(), l), cr, kernelGsBase);
    }

    private static long word(ByteBuffer b, int off, X86EnvLayout l) {
        return l.wordBytes() == 8 ? b.getLong(off) : Integer.toUnsignedLong(b.getInt(off));
    }

    private static Segment segment(ByteBuffer b, int off, X86EnvLayout l) {
        int w = l.wordBytes();
        int baseOff = w == 8 ? off + 8 : off + 4;
        return new Segment(b.getInt(off), w == 8 ? b.getInt(off + 4) : 0, word(b, baseOff, l),
                b.getInt(baseOff + w), b.getInt(baseOff + w + 4));
    }

    /**
     * Returns the checks a real register file passes and these bytes do not, empty when they pass. The checks look
     * at how fields agree with each other, never at particular values, so any guest state passes: hflags mirrors
     * cr0's PE/MP/EM/TS, 64-bit code needs LMA with paging and PAE, cr0.ET is set (hard-wired on every CPU since
     * the 486), eflags bit 1 is set (reserved, always 1), selectors fit 16 bits.
     */
    public List<String> shapeFailures() {
        List<String> f = new ArrayList<>();
        long cr0 = cr[0];
        if ((cr0 & 0x10) == 0 || cr0 >>> 32 != 0) {
            f.add("cr0.ET clear or high bits set");
        }
        if (cr[1] != 0) {
            f.add("cr1 not 0");
        }
        if (cr[4] >>> 32 != 0 || cr[3] >>> 52 != 0) {
            f.add("cr3/cr4 out of range");
        }
        if ((eflags & 2) == 0 || eflags >>> 22 != 0) {
            f.add("eflags reserved bits wrong");
        }
        if (((hflags & HF_PE) != 0) != ((cr0 & 1) != 0) || ((hflags >>> HF_MP_SHIFT) & 7) != ((cr0 >>> 1) & 7)) {
            f.add("hflags disagree with cr0");
        }
        if ((hflags & HF_CS64) != 0 && !((hflags & HF_LMA) != 0 && (segs[R_CS].flags() & DESC_L) != 0)) {
            f.add("64-bit code segment outside long mode");
        }
        if ((hflags & HF_LMA) != 0 && !((cr0 & 0x80000001L) == 0x80000001L && (cr[4] & 0x20) != 0)) {
            f.add("long mode without paging, protection and PAE");
        }
        if ((hflags & HF_CS64) == 0 && ((hflags & HF_CS32) != 0) != ((segs[R_CS].flags() & DESC_B) != 0)) {
            f.add("hflags disagree with CS's default size");
        }
        for (Segment s : List.of(segs[0], segs[1], segs[2], segs[3], segs[4], segs[5], ldt, tr)) {
            if (s.selector() >>> 16 != 0 || s.pad() != 0) {
                f.add("a selector is wider than 16 bits");
                break;
            }
        }
        if (gdt.selector() != 0 || idt.selector() != 0 || gdt.flags() != 0 || idt.flags() != 0) {
            f.add("GDTR/IDTR hold a selector or flags");
        }
        return f;
    }

    /** Returns true when the CPU is in long mode (EFER.LMA, as QEMU's hflags mirror it). */
    public boolean longMode() {
        return (hflags & HF_LMA) != 0;
    }

    @Override
    public String mode() {
        if (longMode()) {
            return (hflags & HF_CS64) != 0 ? "long" : "long (compatibility)";
        }
        return (cr[0] & 1) != 0 ? "protected" : "real";
    }

    @Override
    public long pc() {
        return eip;
    }

    @Override
    public String pcName() {
        return layout.wordBytes() == 8 ? "rip" : "eip";
    }
}

package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.elf.HostMemory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The Arm CPU of qemu-system-aarch64 in AArch64 state: the register file head ({@link Aarch64EnvLayout}) and the
 * FP/SIMD block ({@link Aarch64VfpLayout}) read, checked by shape, and turned into the values QEMU's dump writes.
 *
 * <p>The FP/SIMD block's place in CPUARMState changes with every QEMU version. A table keyed by the build's type
 * sizes gives it for the builds we measured; for another build, the one 16-aligned place where the block's shape
 * holds is taken, and none or several give no registers. The shape check looks at what QEMU sets on every Arm
 * CPU's reset and never changes: MVFR0/MVFR1 (the FP/SIMD feature registers, never 0 on a CPU with AArch64), the
 * four float_status structs' tininess-before-rounding (Arm's rule), and the "standard FPSCR" status's flush-to-zero
 * and default-NaN flags; every bool there is 0 or 1.
 *
 * <p>Limits: a vCPU in AArch32 state (a 32-bit task under a 64-bit kernel) is refused, because QEMU rebuilds its
 * registers from the banked AArch32 ones ({@code aarch64_sync_32_to_64}, {@code cpsr_read}); SVE state is not read
 * (QEMU adds an NT_ARM_SVE note for CPUs with SVE, {@link #withoutSve}).
 */
final class Aarch64CpuTarget implements CpuTarget {

    /**
     * Offset of vfp.zregs in CPUARMState for QEMU builds told apart by {sizeof(CPUState), sizeof(ARMCPU)}.
     * 7.2 (Debian 12, qemu-system-aarch64): CPUState 824, ARMCPU 87232, zregs at env + 3184 on the aarch64 fixture
     * (FPSID and MVFR0-2 of its Cortex-A57 8792 bytes further, as {@link Aarch64VfpLayout} derives).
     */
    static final Map<CpuSizes, Integer> ZREGS_BY_BUILD = Map.of(new CpuSizes(824, 87232), 3184);

    /**
     * QEMU 7.2's aarch64 CPU models without SVE (target/arm/cpu64.c, cpu_tcg.c): for these QEMU writes NT_PRSTATUS
     * and NT_PRFPREG only. "max", "host" and "a64fx" may have SVE.
     */
    static final Set<String> MODELS_WITHOUT_SVE = Set.of("cortex-a35-arm-cpu", "cortex-a53-arm-cpu",
            "cortex-a55-arm-cpu", "cortex-a57-arm-cpu", "cortex-a72-arm-cpu", "cortex-a76-arm-cpu",
            "neoverse-n1-arm-cpu");

    /** PSTATE bits QEMU keeps outside CPUARMState.pstate: N, Z, C, V (31-28), BTYPE (11-10), D, A, I, F (9-6). */
    static final int PSTATE_NZCV = 0xf0000000;
    static final int PSTATE_BTYPE = 0xc00;
    static final int PSTATE_DAIF = 0x3c0;
    /** PSTATE.nRW (M[4]): 1 in AArch32 state; M[1] is reserved (0). */
    static final int PSTATE_NRW = 0x10;
    static final int PSTATE_M1 = 0x2;
    /** FPSR and FPCR bits of the FPSCR QEMU assembles (target/arm/cpu.h FPSR_MASK, FPCR_MASK in 7.2). */
    static final int FPSR_MASK = 0xf800009f;
    static final int FPCR_MASK = 0x07ff9f00;
    static final int FPCR_QC = 1 << 27;
    /** softfloat's float_flag_* (include/fpu/softfloat-types.h). */
    static final int FLOAT_INVALID = 0x1;
    static final int FLOAT_DIVBYZERO = 0x2;
    static final int FLOAT_OVERFLOW = 0x4;
    static final int FLOAT_UNDERFLOW = 0x8;
    static final int FLOAT_INEXACT = 0x10;
    static final int FLOAT_INPUT_DENORMAL = 0x20;
    static final int FLOAT_OUTPUT_DENORMAL = 0x40;

    private final Aarch64EnvLayout head = Aarch64EnvLayout.QEMU;

    @Override
    public String qomType() {
        return "aarch64-cpu";
    }

    @Override
    public int envBytes() {
        return head.headBytes();
    }

    /** Returns true when QEMU 7.2 writes no NT_ARM_SVE note for CPU model {@code leafType}. */
    static boolean withoutSve(String leafType) {
        return MODELS_WITHOUT_SVE.contains(leafType);
    }

    @Override
    public Hop<CpuRegisters> registers(HostMemory mem, long env, long objectEnd, CpuSizes evidence) {
        String where = "register file 0x" + Long.toHexString(env);
        if (!mem.isPresent(env, head.headBytes())) {
            return Hop.missing(where + " not in the core");
        }
        ByteBuffer h = mem.read(env, head.headBytes());
        List<String> wrong = headFailures(h);
        if (!wrong.isEmpty()) {
            return Hop.corrupt(where + " fails its shape check (" + String.join(", ", wrong) + ")");
        }
        if (h.get(head.aarch64()) == 0) {
            return Hop.corrupt(where + ": the vCPU is in AArch32 state, whose registers QEMU rebuilds from the banked"
                    + " AArch32 ones; not read");
        }
        Hop<Aarch64VfpLayout> vfp = vfpLayout(mem, env, objectEnd, evidence);
        if (!(vfp instanceof Hop.Found<Aarch64VfpLayout> f)) {
            return vfp.at(where).failure();
        }
        Aarch64VfpLayout v = f.value();
        ByteBuffer fp = mem.read(env + v.zregs(), v.end() - v.zregs());
        long[] x = new long[32];
        for (int i = 0; i < 32; i++) {
            x[i] = h.getLong(head.xregs() + 8 * i);
        }
        long[] vregs = new long[64];
        for (int i = 0; i < 32; i++) {
            // V n is the low 128 bits of Z n: d[0] the low half, d[1] the high half (host order, as QEMU's
            // aa64_vfp_qreg gives them)
            vregs[2 * i] = fp.getLong(i * Aarch64VfpLayout.VECTOR_REG_SIZE);
            vregs[2 * i + 1] = fp.getLong(i * Aarch64VfpLayout.VECTOR_REG_SIZE + 8);
        }
        int fpscr = fpscr(fp, v, v.zregs());
        int sysregsAt = align8(head.headBytes());
        long[] sysregs = new long[Math.max(0, (v.zregs() - sysregsAt) / 8)];
        if (mem.isPresent(env + sysregsAt, 8 * sysregs.length)) {
            // raw: which of them is which is for the layers above to tell (see Aarch64Registers)
            ByteBuffer s = mem.read(env + sysregsAt, 8 * sysregs.length);
            for (int i = 0; i < sysregs.length; i++) {
                sysregs[i] = s.getLong(8 * i);
            }
        } else {
            sysregs = new long[0];
        }
        return Hop.found(new Aarch64Registers(x, h.getLong(head.pc()), pstate(h), vregs, fpscr & FPSR_MASK,
                fpscr & FPCR_MASK, sysregsAt, sysregs));
    }

    /**
     * Returns the checks a real AArch64 register file head passes and these bytes do not, empty when they pass:
     * the booleans are booleans, the bits QEMU keeps elsewhere are clear in {@code pstate}, C is 0 or 1, {@code daif}
     * holds only DAIF, BTYPE fits two bits; in AArch64 state, M[3:0] names a mode (no EL0h, M[1] clear), PC is
     * 4-aligned, and PC and EL agree (EL0 code runs at low addresses; an address is a sign-extended VA of at most 52
     * bits).
     */
    List<String> headFailures(ByteBuffer h) {
        List<String> f = new ArrayList<>();
        int a64 = h.get(head.aarch64());
        int thumb = h.get(head.thumb());
        int pstate = h.getInt(head.pstate());
        int cf = h.getInt(head.cf());
        long daif = h.getLong(head.daif());
        int btype = h.getInt(head.btype());
        if ((a64 & ~1) != 0 || (thumb & ~1) != 0 || (a64 == 1 && thumb == 1)) {
            f.add("aarch64/thumb flags not booleans");
        }
        if ((pstate & (PSTATE_NZCV | PSTATE_BTYPE | PSTATE_DAIF)) != 0) {
            f.add("NZCV, DAIF or BTYPE inside pstate");
        }
        if ((cf & ~1) != 0 || (daif & ~PSTATE_DAIF) != 0 || (btype & ~3) != 0) {
            f.add("CF, daif or btype out of range");
        }
        if (a64 == 1) {
            long pc = h.getLong(head.pc());
            int el = (pstate >>> 2) & 3;
            if ((pstate & (PSTATE_NRW | PSTATE_M1)) != 0 || (el == 0 && (pstate & 1) != 0)) {
                f.add("PSTATE.M is no AArch64 mode");
            }
            if ((pc & 3) != 0) {
                f.add("pc not 4-aligned");
            }
            long top = pc >> 52;
            if (top != 0 && top != -1) {
                f.add("pc is no virtual address");
            } else if (el == 0 && top != 0) {
                f.add("EL0 at a kernel address");
            }
        }
        return f;
    }

    /** PSTATE as QEMU's pstate_read() assembles it (target/arm/cpu.h). */
    int pstate(ByteBuffer h) {
        int nf = h.getInt(head.nf());
        int zBit = h.getInt(head.zf()) == 0 ? 1 : 0;
        int cf = h.getInt(head.cf());
        int vf = h.getInt(head.vf());
        return (nf & 0x80000000) | (zBit << 30) | (cf << 29) | ((vf & 0x80000000) >>> 3) | h.getInt(head.pstate())
                | (int) h.getLong(head.daif()) | (h.getInt(head.btype()) << 10);
    }

    /**
     * FPSCR as QEMU's vfp_get_fpscr() assembles it: the stored FPSCR bits, vec_len and vec_stride, the cumulative
     * exception flags softfloat keeps in the four float_status structs (the f16 ones without input-denormal: FZ16 does
     * not raise it) and QC from qc[]. (M-profile's LTPSIZE is 0 on A-profile CPUs.) {@code fp} starts at
     * {@code base} in the register file.
     */
    static int fpscr(ByteBuffer fp, Aarch64VfpLayout v, int base) {
        int status = v.fpStatus() - base;
        int s = v.floatStatusSize();
        int flags = Short.toUnsignedInt(fp.getShort(status)) | Short.toUnsignedInt(fp.getShort(status + 2 * s))
                | (Short.toUnsignedInt(fp.getShort(status + s)) & ~FLOAT_INPUT_DENORMAL)
                | (Short.toUnsignedInt(fp.getShort(status + 3 * s)) & ~FLOAT_INPUT_DENORMAL);
        int qc = 0;
        for (int i = 0; i < 4; i++) {
            qc |= fp.getInt(v.qc() - base + 4 * i);
        }
        return fp.getInt(v.vfpXregs() - base + 4 * Aarch64VfpLayout.ARM_VFP_FPSCR)
                | (fp.getInt(v.vecLen() - base) << 16) | (fp.getInt(v.vecStride() - base) << 20)
                | exceptBits(flags) | (qc != 0 ? FPCR_QC : 0);
    }

    /** FPSR's cumulative exception bits for softfloat's flags (vfp_exceptbits_from_host). */
    static int exceptBits(int flags) {
        int bits = 0;
        bits |= (flags & FLOAT_INVALID) != 0 ? 0x1 : 0;
        bits |= (flags & FLOAT_DIVBYZERO) != 0 ? 0x2 : 0;
        bits |= (flags & FLOAT_OVERFLOW) != 0 ? 0x4 : 0;
        bits |= (flags & (FLOAT_UNDERFLOW | FLOAT_OUTPUT_DENORMAL)) != 0 ? 0x8 : 0;
        bits |= (flags & FLOAT_INEXACT) != 0 ? 0x10 : 0;
        bits |= (flags & FLOAT_INPUT_DENORMAL) != 0 ? 0x80 : 0;
        return bits;
    }

    /** Returns where the FP/SIMD block is: the build table's place if its shape holds, else the one place it does. */
    private Hop<Aarch64VfpLayout> vfpLayout(HostMemory mem, long env, long objectEnd, CpuSizes evidence) {
        long len = objectEnd - env;
        Integer known = ZREGS_BY_BUILD.get(evidence);
        if (known != null) {
            Aarch64VfpLayout v = Aarch64VfpLayout.qemu7_2(known);
            if (v.end() <= len && mem.isPresent(env + v.zregs(), v.end() - v.zregs())) {
                List<String> wrong = vfpFailures(mem.read(env + v.qc(), v.end() - v.qc()), v, v.qc());
                if (wrong.isEmpty()) {
                    return Hop.found(v);
                }
                return Hop.corrupt("FP/SIMD registers at +" + known + " fail their shape check ("
                        + String.join(", ", wrong) + ")");
            }
            return Hop.missing("FP/SIMD registers at +" + known + " not in the core");
        }
        if (len <= head.headBytes() || len > (1 << 20) || !mem.isPresent(env, (int) len)) {
            return Hop.missing("CPU object after the register file not in the core");
        }
        ByteBuffer all = mem.read(env, (int) len);
        int found = -1;
        for (int z = align16(head.headBytes()); Aarch64VfpLayout.qemu7_2(z).end() <= len; z += 16) {
            Aarch64VfpLayout v = Aarch64VfpLayout.qemu7_2(z);
            if (vfpFailures(all, v, 0).isEmpty()) {
                if (found >= 0) {
                    return Hop.corrupt("FP/SIMD registers: two places fit (+" + found + ", +" + z
                            + "); QEMU build " + evidence + " not measured");
                }
                found = z;
            }
        }
        if (found < 0) {
            return Hop.corrupt("FP/SIMD registers not found; QEMU build " + evidence + " not measured");
        }
        return Hop.found(Aarch64VfpLayout.qemu7_2(found));
    }

    /** Returns what the FP/SIMD block at {@code v} fails of its shape; {@code b} starts at {@code base}. */
    static List<String> vfpFailures(ByteBuffer b, Aarch64VfpLayout v, int base) {
        List<String> f = new ArrayList<>();
        int xr = v.vfpXregs() - base;
        if (b.getInt(xr + 4 * Aarch64VfpLayout.ARM_VFP_MVFR0) == 0
                || b.getInt(xr + 4 * Aarch64VfpLayout.ARM_VFP_MVFR1) == 0) {
            f.add("MVFR0/MVFR1 are 0");
        }
        for (int i = 0; i < 4; i++) {
            int s = v.fpStatus() - base + i * v.floatStatusSize();
            for (int k = 0; k < Aarch64VfpLayout.FS_BOOLS; k++) {
                if ((b.get(s + Aarch64VfpLayout.FS_FIRST_BOOL + k) & ~1) != 0) {
                    f.add("float_status " + i + " holds a non-boolean");
                    break;
                }
            }
            if (b.get(s + Aarch64VfpLayout.FS_TININESS_BEFORE_ROUNDING) != 1) {
                f.add("float_status " + i + " detects tininess after rounding");
            }
        }
        int std = v.standardFpStatus() - base;
        if (b.get(std + Aarch64VfpLayout.FS_FLUSH_TO_ZERO) != 1
                || b.get(std + Aarch64VfpLayout.FS_DEFAULT_NAN_MODE) != 1) {
            f.add("standard_fp_status without flush-to-zero and default NaN");
        }
        return f;
    }

    private static int align8(int n) {
        return (n + 7) & -8;
    }

    private static int align16(int n) {
        return (n + 15) & -16;
    }
}

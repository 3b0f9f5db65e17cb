package io.vmdumpfs.core.testing;

import io.vmdumpfs.core.guest.Aarch64EnvLayout;
import io.vmdumpfs.core.guest.Aarch64Registers;
import io.vmdumpfs.core.guest.Aarch64VfpLayout;
import io.vmdumpfs.core.guest.Vcpu;
import io.vmdumpfs.core.guest.Vcpus;
import io.vmdumpfs.core.guest.X86EnvLayout;
import io.vmdumpfs.core.guest.X86Registers;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * Register files of synthetic x86 vCPUs: the bytes of a CPUX86State head as QEMU would hold them for a 64-bit Linux
 * kernel (long mode, kernel CS/SS, GDT/IDT/TR set, distinct register values per vCPU), and the registers they hold.
 * Likewise for aarch64: a CPUARMState of QEMU 7.2 (head and FP/SIMD block) of a vCPU in a 64-bit kernel (EL1h).
 */
public final class SyntheticCpu {

    /** STAR as Linux sets it: user32 CS 0x23 (- 16 … so 0x10 + 3 base), kernel CS 0x10. */
    public static final long STAR = 0x0023001000000000L;
    public static final long LSTAR = 0xffffffff81a00080L;
    public static final long FMASK = 0x47700;

    private SyntheticCpu() {
    }

    /** Returns KERNEL_GS_BASE of vCPU {@code index}. */
    public static long kernelGsBase(int index) {
        return 0xffff888007800000L + ((long) index << 20);
    }

    /** Returns the register file head of vCPU {@code index} in a 64-bit kernel, for the x86_64 layout. */
    public static byte[] x86_64Env(int index) {
        X86EnvLayout l = X86EnvLayout.X86_64;
        ByteBuffer b = ByteBuffer.allocate(l.headBytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (int r = 0; r < 16; r++) {
            b.putLong(r * 8, 0x1000L * (index + 1) + r);
        }
        b.putLong(4 * 8, 0xffffc90000013e80L + 0x4000L * index);               // rsp
        b.putLong(l.eip(), 0xffffffff81a17a0bL + index);
        b.putLong(l.eflags(), 0x246);
        // HF_CPL 0, PE, LMA, CS64, CS32/SS32 off in 64-bit, OSFXSR etc. left out; MP/EM/TS mirror cr0 (MP set).
        int hflags = (1 << 7) | (1 << 14) | (1 << 15) | (1 << 9) | (1 << 5);
        b.putInt(l.hflags(), hflags);
        segment(b, l, l.segs() + 1 * l.segSize(), 0x10, 0, 0xffffffff, 0x00af9b00);   // CS: L set
        segment(b, l, l.segs() + 2 * l.segSize(), 0x18, 0, 0xffffffff, 0x00cf9300);   // SS
        segment(b, l, l.segs() + 5 * l.segSize(), 0, 0xffff888007a00000L + ((long) index << 20), 0, 0); // GS
        segment(b, l, l.tr(), 0x40, 0xfffffe0000003000L + 0x3b000L * index, 0x4087, 0x8900);
        segment(b, l, l.gdt(), 0, 0xfffffe0000001000L + 0x3b000L * index, 0x7f, 0);
        segment(b, l, l.idt(), 0, 0xfffffe0000000000L, 0xfff, 0);
        b.putLong(l.cr(), 0x80050033L);
        b.putLong(l.cr() + 16, 0x5794a9L + index);
        b.putLong(l.cr() + 24, 0x29b6000L + 0x1000L * index);
        b.putLong(l.cr() + 32, 0x6b0);
        return b.array();
    }

    /**
     * Returns the bytes after the register file head up to {@code length}: zeros, with the STAR … KERNEL_GS_BASE
     * block at {@code starOffset} (counted from the register file's start).
     */
    public static byte[] msrBlock(int index) {
        ByteBuffer b = ByteBuffer.allocate(48).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, STAR).putLong(16, LSTAR).putLong(24, 0xffffffff81a01d40L).putLong(32, FMASK);
        b.putLong(40, kernelGsBase(index));
        return b.array();
    }

    private static void segment(ByteBuffer b, X86EnvLayout l, int off, int selector, long base, int limit, int flags) {
        b.putInt(off, selector).putLong(off + 8, base).putInt(off + 16, limit).putInt(off + 20, flags);
    }

    /** Returns the registers {@link #x86_64Env} holds, with KERNEL_GS_BASE. */
    public static X86Registers x86_64Registers(int index) {
        return X86Registers.read(ByteBuffer.wrap(x86_64Env(index)).order(ByteOrder.LITTLE_ENDIAN),
                X86EnvLayout.X86_64, OptionalLong.of(kernelGsBase(index)));
    }

    /** Returns {@code n} synthetic x86_64 vCPUs, indexes 0 … n-1, as discovery would report them. */
    public static Vcpus x86_64Vcpus(int n) {
        List<Vcpu> list = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            list.add(new Vcpu(i, "qemu64-x86_64-cpu", 0, 0, x86_64Registers(i)));
        }
        return Vcpus.found(list, "exact (synthetic)");
    }

    /** Where QEMU 7.2 has vfp.zregs in CPUARMState (the aarch64 fixture's). */
    public static final int ARM_ZREGS = 3184;
    /** cortex-a57's FPSID and MVFR2, MVFR1, MVFR0, as QEMU's reset puts them in vfp.xregs. */
    public static final int FPSID = 0x41034070;
    public static final int[] MVFR210 = {0x43, 0x12111111, 0x10110222};
    /** softfloat's float_flag_inexact, input_denormal, output_denormal. */
    public static final int FLOAT_INEXACT = 0x10;
    public static final int FLOAT_INPUT_DENORMAL = 0x20;
    public static final int FLOAT_OUTPUT_DENORMAL = 0x40;

    /**
     * Where QEMU 7.2 has cp15.tpidr_el[1] in CPUARMState, as found by value on the aarch64 fixtures (each vCPU's
     * per-CPU offset, 0x1e000 apart); the format layer finds it by value, not by this number.
     */
    public static final int ARM_TPIDR_EL1 = 1304;

    /** Returns vCPU {@code index}'s TPIDR_EL1: what a kernel's per-CPU offset looks like. */
    public static long aarch64Tpidr(int index) {
        return 0xffff_0000_7ed8_0000L + 0x10000L * index;
    }

    /** Returns vCPU {@code index}'s x{@code r} (r = 31: SP). */
    public static long aarch64X(int index, int r) {
        return r == 31 ? 0xffff800008003e00L + 0x4000L * index : 0xa000L * (index + 1) + r;
    }

    /** Returns vCPU {@code index}'s pc: a kernel address. */
    public static long aarch64Pc(int index) {
        return 0xffffb5c6229af4fcL + 4L * index;
    }

    /** Returns V{@code n}'s low (half 0) or high (half 1) 64 bits on vCPU {@code index}. */
    public static long aarch64V(int index, int n, int half) {
        long lo = 0x1111L * (n + 1) + ((long) index << 40);
        return half == 0 ? lo : ~lo;
    }

    /**
     * Returns the start of vCPU {@code index}'s CPUARMState through the FP/SIMD block (QEMU 7.2: vfp.zregs at
     * {@link #ARM_ZREGS}), for a CPU in AArch64 state at EL1h. Its PSTATE pieces: vCPU 0 has N clear, Z, C and V set
     * (NF 0, ZF 0, CF 1, VF bit 31) and DAIF all masked; the others have N, C, V set, Z clear and BTYPE 2. Its FP
     * state: vCPU 0 all clear; the others have FPSCR's FZ and DN set, softfloat flags inexact and input-denormal in
     * fp_status, input- and output-denormal in fp_status_f16 (FZ16 raises no input-denormal), and a saturation in
     * qc[2].
     */
    public static byte[] aarch64Env(int index) {
        Aarch64EnvLayout h = Aarch64EnvLayout.QEMU;
        Aarch64VfpLayout v = Aarch64VfpLayout.qemu7_2(ARM_ZREGS);
        ByteBuffer b = ByteBuffer.allocate(v.end()).order(ByteOrder.LITTLE_ENDIAN);
        for (int r = 0; r < 32; r++) {
            b.putLong(h.xregs() + 8 * r, aarch64X(index, r));
        }
        b.putLong(h.pc(), aarch64Pc(index));
        b.putInt(h.pstate(), 0x5);                                   // EL1h
        b.put(h.aarch64(), (byte) 1);
        b.putInt(h.cf(), 1);
        b.putInt(h.vf(), 0x80000000);
        b.putInt(h.nf(), index == 0 ? 0 : 0x80000123);               // only bit 31 counts
        b.putInt(h.zf(), index == 0 ? 0 : 7);                        // Z is set when ZF is 0
        b.putInt(h.btype(), index == 0 ? 0 : 2);
        b.putLong(h.daif(), index == 0 ? 0x3c0 : 0);
        b.putLong(ARM_TPIDR_EL1, aarch64Tpidr(index));
        for (int n = 0; n < 32; n++) {
            b.putLong(v.zregs() + 256 * n, aarch64V(index, n, 0));
            b.putLong(v.zregs() + 256 * n + 8, aarch64V(index, n, 1));
            b.putLong(v.zregs() + 256 * n + 16, 0x5eedL + n);           // SVE bits above V n: not in the note
        }
        b.putInt(v.vfpXregs(), FPSID);
        for (int i = 0; i < 3; i++) {
            b.putInt(v.vfpXregs() + 4 * (Aarch64VfpLayout.ARM_VFP_MVFR2 + i), MVFR210[i]);
        }
        for (int i = 0; i < 4; i++) {
            b.put(v.fpStatus() + i * v.floatStatusSize() + Aarch64VfpLayout.FS_TININESS_BEFORE_ROUNDING, (byte) 1);
        }
        int std = v.standardFpStatus();
        b.put(std + Aarch64VfpLayout.FS_FLUSH_TO_ZERO, (byte) 1).put(std + Aarch64VfpLayout.FS_FLUSH_TO_ZERO + 1,
                (byte) 1).put(std + Aarch64VfpLayout.FS_DEFAULT_NAN_MODE, (byte) 1);
        b.put(std + v.floatStatusSize() + Aarch64VfpLayout.FS_DEFAULT_NAN_MODE, (byte) 1);
        if (index != 0) {
            b.putInt(v.vfpXregs() + 4 * Aarch64VfpLayout.ARM_VFP_FPSCR, 0x03000000);   // FZ, DN
            b.putShort(v.fpStatus(), (short) (FLOAT_INEXACT | FLOAT_INPUT_DENORMAL));
            b.putShort(v.fpStatus() + v.floatStatusSize(), (short) (FLOAT_INPUT_DENORMAL | FLOAT_OUTPUT_DENORMAL));
            b.putInt(v.qc() + 8, 1);
        }
        return b.array();
    }

    /** Returns the PSTATE QEMU's pstate_read() makes of {@link #aarch64Env}. */
    public static int aarch64Pstate(int index) {
        return index == 0 ? 0x700003c5 : 0xb0000805;
    }

    /** Returns FPSR and FPCR as QEMU's vfp_get_fpsr/fpcr make them of {@link #aarch64Env}. */
    public static int[] aarch64FpsrFpcr(int index) {
        // the others: IXC (inexact), IDC (input denormal), UFC (output denormal), QC; FPCR FZ and DN
        return index == 0 ? new int[] {0, 0} : new int[] {0x08000098, 0x03000000};
    }

    /** Returns the registers {@link #aarch64Env} holds, as QEMU's dump computes them. */
    public static Aarch64Registers aarch64Registers(int index) {
        long[] x = new long[32];
        for (int r = 0; r < 32; r++) {
            x[r] = aarch64X(index, r);
        }
        long[] v = new long[64];
        for (int n = 0; n < 64; n++) {
            v[n] = aarch64V(index, n / 2, n % 2);
        }
        int[] fp = aarch64FpsrFpcr(index);
        return new Aarch64Registers(x, aarch64Pc(index), aarch64Pstate(index), v, fp[0], fp[1]);
    }

    /** Returns {@code n} synthetic aarch64 vCPUs, indexes 0 … n-1, as discovery would report them. */
    public static Vcpus aarch64Vcpus(int n) {
        List<Vcpu> list = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            list.add(new Vcpu(i, "cortex-a57-arm-cpu", 0, 0, aarch64Registers(i)));
        }
        return Vcpus.found(list, "exact (synthetic)");
    }
}

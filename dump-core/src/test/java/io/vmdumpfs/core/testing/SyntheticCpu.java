package io.vmdumpfs.core.testing;

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
}

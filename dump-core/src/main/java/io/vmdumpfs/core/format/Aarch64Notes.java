package io.vmdumpfs.core.format;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.guest.Aarch64Registers;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The per-vCPU notes QEMU's dump writes for aarch64 guests (target/arm/arch_dump.c, {@code arm_cpu_write_elf64_note}),
 * byte for byte: NT_PRSTATUS with Linux arm64's {@code elf_prstatus} ({@code user_pt_regs}: x0-x30, sp, pc, pstate)
 * and NT_PRFPREG with {@code user_fpsimd_state} (V0-V31, fpsr, fpcr). There is no "QEMU" note on Arm.
 */
final class Aarch64Notes {

    /** sizeof(aarch64 elf_prstatus): pad1[32], pr_pid, pad2[76], user_pt_regs (34 words), pr_fpvalid, pad3[4]. */
    static final int PRSTATUS_SIZE = 392;
    static final int PRSTATUS_PID = 32;
    static final int PRSTATUS_REGS = 112;
    static final int PRSTATUS_FPVALID = 384;
    /** sizeof(user_fpsimd_state): vregs[32] (128 bits each), fpsr, fpcr, 8 bytes of padding to 16. */
    static final int FPSIMD_SIZE = 528;
    static final int FPSIMD_FPSR = 512;

    private Aarch64Notes() {
    }

    /**
     * Returns the NT_PRSTATUS note of one vCPU, with {@code pid} as pr_pid (QEMU: cpu_index + 1) and pr_fpvalid 1
     * (QEMU always writes the FP/SIMD note after it).
     */
    static byte[] prstatus(Aarch64Registers r, int pid, ByteOrder order) {
        ByteBuffer d = ByteBuffer.allocate(PRSTATUS_SIZE).order(order);
        d.putInt(PRSTATUS_PID, pid);
        long[] x = r.x();
        for (int i = 0; i < 32; i++) {
            d.putLong(PRSTATUS_REGS + 8 * i, x[i]); // regs[31] then sp: QEMU's xregs[31] is the SP in AArch64 state
        }
        d.putLong(PRSTATUS_REGS + 8 * 32, r.pc());
        d.putLong(PRSTATUS_REGS + 8 * 33, Integer.toUnsignedLong(r.pstate()));
        d.putInt(PRSTATUS_FPVALID, 1);
        return ElfNotes.write("CORE", ElfNote.NT_PRSTATUS, d.array(), order);
    }

    /**
     * Returns the NT_PRFPREG note of one vCPU. Each V register is a 128-bit integer in the note's byte order: low
     * half first in a little-endian note, high half first in a big-endian one (QEMU swaps the halves for big-endian
     * notes).
     */
    static byte[] fpsimd(Aarch64Registers r, ByteOrder order) {
        ByteBuffer d = ByteBuffer.allocate(FPSIMD_SIZE).order(order);
        long[] v = r.vregs();
        boolean little = order == ByteOrder.LITTLE_ENDIAN;
        for (int i = 0; i < 32; i++) {
            d.putLong(16 * i, little ? v[2 * i] : v[2 * i + 1]);
            d.putLong(16 * i + 8, little ? v[2 * i + 1] : v[2 * i]);
        }
        d.putInt(FPSIMD_FPSR, r.fpsr()).putInt(FPSIMD_FPSR + 4, r.fpcr());
        return ElfNotes.write("CORE", ElfNote.NT_PRFPREG, d.array(), order);
    }
}

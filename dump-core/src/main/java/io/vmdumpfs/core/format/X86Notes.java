package io.vmdumpfs.core.format;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.guest.X86Registers;
import io.vmdumpfs.core.guest.X86Registers.Segment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The per-vCPU notes QEMU's dump writes for x86 guests (target/i386/arch_dump.c), byte for byte: NT_PRSTATUS with the
 * registers in Linux's {@code elf_prstatus} layout (x86_64's, or i386's when the first vCPU is not in long mode or
 * QEMU is qemu-system-i386), and the "QEMU" note holding {@code QEMUCPUState} (segments, control registers,
 * descriptor tables, KERNEL_GS_BASE) that crash reads for the per-CPU state.
 */
final class X86Notes {

    /** sizeof(x86_64_elf_prstatus): pad1[32], pid, pad2[76], user_regs_struct (27 words), pad3[8]. */
    static final int PRSTATUS_64_SIZE = 336;
    static final int PRSTATUS_64_PID = 32;
    static final int PRSTATUS_64_REGS = 112;
    /** sizeof(x86_elf_prstatus): pad1[24], pid, pad2[44], user_regs_struct (68 bytes), pad3[4]. */
    static final int PRSTATUS_32_SIZE = 144;
    static final int PRSTATUS_32_PID = 24;
    static final int PRSTATUS_32_REGS = 72;
    /** QEMUCPUState: version, size, 18 words of registers, 10 segments of 24 bytes, cr[5], kernel_gs_base. */
    static final int QEMU_CPUSTATE_SIZE = 440;
    static final int QEMU_CPUSTATE_VERSION = 1;
    static final String QEMU_NOTE_NAME = "QEMU";

    private X86Notes() {
    }

    /**
     * Returns the NT_PRSTATUS note of one vCPU. {@code pid} goes to pr_pid: QEMU writes cpu_index + 1 there, but the
     * kernel's own crash notes (kernel/crash_core.c {@code crash_save_cpu}) carry {@code current->pid}, and drgn 0.0.22
     * uses a note's registers for the task whose pid is pr_pid on the note's CPU (drgn_get_initial_registers): with
     * cpu + 1, init sleeping on CPU 0 unwinds CPU 0's idle loop and no running task gets its CPU's registers. So the
     * caller passes the running task's pid where it can read it ({@link NotePids}); every other byte is QEMU's.
     */
    static byte[] prstatus(X86Registers r, int pid, boolean x86_64Format, ByteOrder order) {
        return x86_64Format ? prstatus64(r, pid, order) : prstatus32(r, pid, order);
    }

    /** x86_64_elf_prstatus, filled as x86_64_write_elf64_note does. */
    private static byte[] prstatus64(X86Registers r, int pid, ByteOrder order) {
        ByteBuffer d = ByteBuffer.allocate(PRSTATUS_64_SIZE).order(order);
        d.putInt(PRSTATUS_64_PID, pid);
        long[] g = r.regs();
        Segment[] s = r.segs();
        long[] regs = {
            g[15], g[14], g[13], g[12], g[X86Registers.R_EBP], g[X86Registers.R_EBX], g[11], g[10],
            g[9], g[8], g[X86Registers.R_EAX], g[X86Registers.R_ECX], g[X86Registers.R_EDX], g[X86Registers.R_ESI],
            g[X86Registers.R_EDI], 0 /* orig_rax */,
            r.eip(), sel(s[X86Registers.R_CS]), r.eflags(), g[X86Registers.R_ESP], sel(s[X86Registers.R_SS]),
            s[X86Registers.R_FS].base(), s[X86Registers.R_GS].base(),
            sel(s[X86Registers.R_DS]), sel(s[X86Registers.R_ES]), sel(s[X86Registers.R_FS]), sel(s[X86Registers.R_GS]),
        };
        for (int i = 0; i < regs.length; i++) {
            d.putLong(PRSTATUS_64_REGS + 8 * i, regs[i]);
        }
        return ElfNotes.write("CORE", ElfNote.NT_PRSTATUS, d.array(), order);
    }

    /** x86_elf_prstatus, filled as x86_fill_elf_prstatus does: 32-bit registers, 16-bit selectors. */
    private static byte[] prstatus32(X86Registers r, int pid, ByteOrder order) {
        ByteBuffer d = ByteBuffer.allocate(PRSTATUS_32_SIZE).order(order);
        d.putInt(PRSTATUS_32_PID, pid);
        long[] g = r.regs();
        Segment[] s = r.segs();
        d.position(PRSTATUS_32_REGS);
        d.putInt((int) g[X86Registers.R_EBX]).putInt((int) g[X86Registers.R_ECX]).putInt((int) g[X86Registers.R_EDX])
                .putInt((int) g[X86Registers.R_ESI]).putInt((int) g[X86Registers.R_EDI])
                .putInt((int) g[X86Registers.R_EBP]).putInt((int) g[X86Registers.R_EAX]);
        for (int seg : new int[] {X86Registers.R_DS, X86Registers.R_ES, X86Registers.R_FS, X86Registers.R_GS}) {
            d.putShort((short) s[seg].selector()).putShort((short) 0);
        }
        d.putInt(0 /* orig_eax */).putInt((int) r.eip());
        d.putShort((short) s[X86Registers.R_CS].selector()).putShort((short) 0);
        d.putInt((int) r.eflags()).putInt((int) g[X86Registers.R_ESP]);
        d.putShort((short) s[X86Registers.R_SS].selector()).putShort((short) 0);
        return ElfNotes.write("CORE", ElfNote.NT_PRSTATUS, d.array(), order);
    }

    /** Returns the "QEMU" note (type 0) of one vCPU: QEMUCPUState as qemu_get_cpustate fills it. */
    static byte[] qemuCpuState(X86Registers r, ByteOrder order) {
        ByteBuffer d = ByteBuffer.allocate(QEMU_CPUSTATE_SIZE).order(order);
        d.putInt(QEMU_CPUSTATE_VERSION).putInt(QEMU_CPUSTATE_SIZE);
        long[] g = r.regs();
        d.putLong(g[X86Registers.R_EAX]).putLong(g[X86Registers.R_EBX]).putLong(g[X86Registers.R_ECX])
                .putLong(g[X86Registers.R_EDX]).putLong(g[X86Registers.R_ESI]).putLong(g[X86Registers.R_EDI])
                .putLong(g[X86Registers.R_ESP]).putLong(g[X86Registers.R_EBP]);
        for (int i = 8; i < 16; i++) {
            d.putLong(g[i]); // 0 on qemu-system-i386, which has no r8-r15
        }
        d.putLong(r.eip()).putLong(r.eflags());
        Segment[] s = r.segs();
        for (Segment seg : new Segment[] {s[X86Registers.R_CS], s[X86Registers.R_DS], s[X86Registers.R_ES],
                s[X86Registers.R_FS], s[X86Registers.R_GS], s[X86Registers.R_SS], r.ldt(), r.tr(), r.gdt(), r.idt()}) {
            d.putInt(seg.selector()).putInt(seg.limit()).putInt(seg.flags()).putInt(0).putLong(seg.base());
        }
        for (long c : r.cr()) {
            d.putLong(c);
        }
        // QEMU copies env->kernelgsbase (0 on qemu-system-i386); when we could not find it, 0 and status says so.
        d.putLong(r.kernelGsBase().orElse(0));
        return ElfNotes.write(QEMU_NOTE_NAME, 0, d.array(), order);
    }

    private static long sel(Segment s) {
        return Integer.toUnsignedLong(s.selector());
    }
}

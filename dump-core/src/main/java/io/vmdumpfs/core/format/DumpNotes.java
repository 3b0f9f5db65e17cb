package io.vmdumpfs.core.format;

import io.vmdumpfs.core.guest.Aarch64Registers;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.Vcpu;
import io.vmdumpfs.core.guest.Vcpus;
import io.vmdumpfs.core.guest.VmcoreInfo;
import io.vmdumpfs.core.guest.X86Registers;
import java.io.ByteArrayOutputStream;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The ELF note section of every dump file, built from the {@link GuestDump} in one place.
 *
 * <p>With vCPUs, QEMU's order ({@code write_elf64_notes} in dump/dump.c): every vCPU's NT_PRSTATUS in CPU_FOREACH
 * order, then every vCPU's architecture note ("QEMU" on x86), then the guest's VMCOREINFO note as the kernel wrote it.
 * On aarch64 each vCPU's NT_PRSTATUS is followed by its NT_PRFPREG ({@link Aarch64Notes}), and there is no
 * architecture note.
 * QEMU's kdump writer puts the same notes into the kdump file's note section ({@code create_kdump_vmcore} runs
 * {@code write_elf64_notes} into a buffer), and so do we: crash and libkdumpfile read NT_PRSTATUS there.
 *
 * <p>Without vCPUs (discovery failed, or a target whose registers we cannot read yet): VMCOREINFO, then the gdb
 * script's placeholder note ({@link ElfLayout#notes}), as before.
 *
 * <p>Byte for byte QEMU's, but for each NT_PRSTATUS's pr_pid: QEMU writes cpu_index + 1, the kernel
 * ({@code crash_save_cpu}) the pid of the task running on the CPU, and readers believe the kernel's convention (drgn
 * 0.0.22 gives a task the registers of its CPU's note when pr_pid is its pid): so we write the running task's pid
 * where the guest kernel tells it, else QEMU's value ({@link NotePids}).
 *
 * <p>Every note is in the guest's byte order.
 */
public final class DumpNotes {

    private DumpNotes() {
    }

    /**
     * Returns the PT_NOTE segment of vmcore.elf, each NT_PRSTATUS with the running task's pid where the guest kernel
     * tells it ({@link NotePids}: reads the kernel; a view should use {@link #elf(GuestDump, NotePids)} with the
     * dump's shared one).
     */
    public static byte[] elf(GuestDump dump) {
        return elf(dump, NotePids.of(dump));
    }

    /** Returns the PT_NOTE segment of vmcore.elf with {@code pids} as the NT_PRSTATUS notes' pr_pid. */
    public static byte[] elf(GuestDump dump, NotePids pids) {
        return of(dump.vcpus(), pids, dump.vmcoreinfo(), dump.platform().byteOrder());
    }

    /** Returns the note section of the kdump files: the same notes as vmcore.elf's, as QEMU writes them. */
    public static byte[] kdump(GuestDump dump) {
        return elf(dump);
    }

    /** Returns the note section of the kdump files with {@code pids}; see {@link #kdump(GuestDump)}. */
    public static byte[] kdump(GuestDump dump, NotePids pids) {
        return elf(dump, pids);
    }

    /** Returns the note section for these vCPUs and VMCOREINFO, in {@code order}, with QEMU's pr_pid (cpu + 1). */
    public static byte[] of(Vcpus vcpus, Optional<VmcoreInfo> vmcoreinfo, ByteOrder order) {
        return of(vcpus, NotePids.qemus(vcpus, "not read from the kernel"), vmcoreinfo, order);
    }

    /** Returns the note section for these vCPUs, with {@code pids}, and VMCOREINFO, in {@code order}. */
    public static byte[] of(Vcpus vcpus, NotePids pids, Optional<VmcoreInfo> vmcoreinfo, ByteOrder order) {
        if (vcpus.list().isEmpty()) {
            return ElfLayout.notes(vmcoreinfo, order);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] n : cpuNotes(vcpus.list(), pids, order)) {
            out.writeBytes(n);
        }
        vmcoreinfo.ifPresent(v -> {
            byte[] note = v.note();
            out.writeBytes(note);
            out.writeBytes(new byte[ElfLayout.align4(note.length) - note.length]);
        });
        return out.toByteArray();
    }

    /**
     * Returns the per-vCPU notes: all NT_PRSTATUS notes first (on aarch64 each with its NT_PRFPREG), then all
     * architecture notes. Every byte is QEMU's but pr_pid, which is {@code pids}' (see {@link NotePids} for why
     * QEMU's cpu + 1 misleads drgn).
     */
    static List<byte[]> cpuNotes(List<Vcpu> vcpus, NotePids pids, ByteOrder order) {
        List<byte[]> prstatus = new ArrayList<>();
        List<byte[]> archNotes = new ArrayList<>();
        if (vcpus.get(0).registers() instanceof X86Registers first) {
            // x86_cpu_write_elf64_note: the x86_64 layout when QEMU is built for x86_64 and the *first* vCPU is in
            // long mode, for every vCPU alike; else the i386 layout.
            boolean x86_64Format = first.layout().wordBytes() == 8 && first.longMode();
            for (int i = 0; i < vcpus.size(); i++) {
                X86Registers r = (X86Registers) vcpus.get(i).registers();
                prstatus.add(X86Notes.prstatus(r, pids.pid(i), x86_64Format, order));
                archNotes.add(X86Notes.qemuCpuState(r, order));
            }
        } else if (vcpus.get(0).registers() instanceof Aarch64Registers) {
            // arm_cpu_write_elf64_note writes NT_PRSTATUS and NT_PRFPREG together, vCPU by vCPU; Arm has no
            // architecture note to follow them.
            for (int i = 0; i < vcpus.size(); i++) {
                Aarch64Registers r = (Aarch64Registers) vcpus.get(i).registers();
                prstatus.add(Aarch64Notes.prstatus(r, pids.pid(i), order));
                prstatus.add(Aarch64Notes.fpsimd(r, order));
            }
        }
        List<byte[]> all = new ArrayList<>(prstatus);
        all.addAll(archNotes);
        return all;
    }
}

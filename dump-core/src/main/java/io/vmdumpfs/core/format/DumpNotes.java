package io.vmdumpfs.core.format;

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
 * QEMU's kdump writer puts the same notes into the kdump file's note section ({@code create_kdump_vmcore} runs
 * {@code write_elf64_notes} into a buffer), and so do we: crash and libkdumpfile read NT_PRSTATUS there.
 *
 * <p>Without vCPUs (discovery failed, or a target whose registers we cannot read yet): VMCOREINFO, then the gdb
 * script's placeholder note ({@link ElfLayout#notes}), as before.
 *
 * <p>Every note is in the guest's byte order.
 */
public final class DumpNotes {

    private DumpNotes() {
    }

    /** Returns the PT_NOTE segment of vmcore.elf. */
    public static byte[] elf(GuestDump dump) {
        return of(dump.vcpus(), dump.vmcoreinfo(), dump.platform().byteOrder());
    }

    /** Returns the note section of the kdump files: the same notes as vmcore.elf's, as QEMU writes them. */
    public static byte[] kdump(GuestDump dump) {
        return elf(dump);
    }

    /** Returns the note section for these vCPUs and VMCOREINFO, in {@code order}. */
    public static byte[] of(Vcpus vcpus, Optional<VmcoreInfo> vmcoreinfo, ByteOrder order) {
        if (vcpus.list().isEmpty()) {
            return ElfLayout.notes(vmcoreinfo, order);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] n : cpuNotes(vcpus.list(), order)) {
            out.writeBytes(n);
        }
        vmcoreinfo.ifPresent(v -> {
            byte[] note = v.note();
            out.writeBytes(note);
            out.writeBytes(new byte[ElfLayout.align4(note.length) - note.length]);
        });
        return out.toByteArray();
    }

    /** Returns the per-vCPU notes: all NT_PRSTATUS notes first, then all architecture notes. */
    static List<byte[]> cpuNotes(List<Vcpu> vcpus, ByteOrder order) {
        List<byte[]> prstatus = new ArrayList<>();
        List<byte[]> archNotes = new ArrayList<>();
        if (vcpus.get(0).registers() instanceof X86Registers first) {
            // x86_cpu_write_elf64_note: the x86_64 layout when QEMU is built for x86_64 and the *first* vCPU is in
            // long mode, for every vCPU alike; else the i386 layout.
            boolean x86_64Format = first.layout().wordBytes() == 8 && first.longMode();
            for (Vcpu v : vcpus) {
                X86Registers r = (X86Registers) v.registers();
                prstatus.add(X86Notes.prstatus(r, v.index() + 1, x86_64Format, order));
                archNotes.add(X86Notes.qemuCpuState(r, order));
            }
        }
        List<byte[]> all = new ArrayList<>(prstatus);
        all.addAll(archNotes);
        return all;
    }
}

package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.guest.Aarch64Registers;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.Vcpu;
import io.vmdumpfs.core.guest.Vcpus;
import io.vmdumpfs.core.testing.SyntheticCpu;
import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticTasks;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * NT_PRSTATUS pr_pid on a {@link SyntheticTasks} guest: the running task's pid where each vCPU maps to a kernel CPU
 * by its GS base (kernel mode) or KERNEL_GS_BASE (user mode), every other byte as QEMU writes it; QEMU's cpu + 1
 * for every vCPU, with the reason, when any part does not check out.
 */
class NotePidsTest {

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    @TempDir
    Path tmp;

    private SyntheticGuest guest;
    private SyntheticTasks tasks;

    @AfterEach
    void tearDown() throws Exception {
        if (guest != null) {
            guest.close();
        }
    }

    private SyntheticTasks build(int... pids) {
        tasks = new SyntheticTasks(tmp, pids);
        guest = tasks.build();
        return tasks;
    }

    @Test
    void elfNotes_kernelReadable_runningPidsAndOtherwiseQemusBytes() {
        build(0, 148);
        Vcpus vcpus = tasks.vcpusOnTheirCpus();
        GuestDump d = tasks.dump(vcpus);
        NotePids p = NotePids.of(d);
        assertEquals(List.of(0, 148), List.of(p.pid(0), p.pid(1)));
        assertTrue(p.fromKernel());
        assertEquals("running task's pid (BTF: rq.curr +2400, task_struct.pid +2416; vCPU n is kernel CPU n, by GS"
                + " base)", p.describe());
        assertEquals("dd", p.task(1).orElseThrow().comm());

        byte[] ours = DumpNotes.elf(d);
        byte[] qemus = DumpNotes.of(vcpus, d.vmcoreinfo(), LE);
        assertEquals(List.of(0, 148), prPids(ours));
        assertEquals(List.of(1, 2), prPids(qemus));
        assertArrayEquals(withPids(qemus, 0, 148), ours, "every byte but pr_pid is QEMU's");
    }

    @Test
    void of_userModeVcpu_mappedThroughKernelGsBase() {
        build(0, 148);
        Vcpus v = Vcpus.found(List.of(SyntheticTasks.vcpu(0, SyntheticTasks.perCpuOffset(0), 0, false),
                SyntheticTasks.vcpu(1, 0x7f12_3456_0000L, SyntheticTasks.perCpuOffset(1), true)), "exact (test)");
        NotePids p = NotePids.of(tasks.dump(v));
        assertEquals(List.of(0, 148), List.of(p.pid(0), p.pid(1)), p.describe());
    }

    @Test
    void of_kernelEntryBeforeSwapgs_stillMapped() {
        build(0, 148);
        // kernel CS but GS still the user's: the instructions between syscall entry and swapgs
        Vcpus v = Vcpus.found(List.of(SyntheticTasks.vcpu(0, SyntheticTasks.perCpuOffset(0), 0, false),
                SyntheticTasks.vcpu(1, 0, SyntheticTasks.perCpuOffset(1), false)), "exact (test)");
        NotePids p = NotePids.of(tasks.dump(v));
        assertEquals(List.of(0, 148), List.of(p.pid(0), p.pid(1)), p.describe());
    }

    @Test
    void of_vcpusOnOtherKernelCpus_eachGetsItsOwnCpusTaskAndSaysSo() {
        build(0, 148);
        Vcpus v = Vcpus.found(List.of(SyntheticTasks.vcpu(0, SyntheticTasks.perCpuOffset(1), 0, false),
                SyntheticTasks.vcpu(1, SyntheticTasks.perCpuOffset(0), 0, false)), "exact (test)");
        NotePids p = NotePids.of(tasks.dump(v));
        assertEquals(List.of(148, 0), List.of(p.pid(0), p.pid(1)));
        assertTrue(p.describe().contains("vCPUs are other kernel CPUs"), p.describe());
    }

    @Test
    void of_gsBaseOfNoCpu_qemusPidsForEveryVcpuAndWhy() {
        build(0, 148);
        Vcpus v = Vcpus.found(List.of(SyntheticTasks.vcpu(0, SyntheticTasks.perCpuOffset(0), 0, false),
                SyntheticTasks.vcpu(1, 0x1234000, 0, false)), "exact (test)");
        NotePids p = NotePids.of(tasks.dump(v));
        assertEquals(List.of(1, 2), List.of(p.pid(0), p.pid(1)), "never a mix");
        assertFalse(p.fromKernel());
        assertEquals("QEMU's cpu+1 (vCPU 1: neither its GS base 0x1234000 nor KERNEL_GS_BASE 0x0 is a kernel CPU's"
                + " per-CPU offset)", p.describe());
    }

    @Test
    void of_twoVcpusOneCpu_qemusPids() {
        build(0, 148);
        Vcpus v = Vcpus.found(List.of(SyntheticTasks.vcpu(0, SyntheticTasks.perCpuOffset(1), 0, false),
                SyntheticTasks.vcpu(1, SyntheticTasks.perCpuOffset(1), 0, false)), "exact (test)");
        NotePids p = NotePids.of(tasks.dump(v));
        assertEquals(List.of(1, 2), List.of(p.pid(0), p.pid(1)));
        assertTrue(p.describe().contains("two vCPUs have kernel CPU 1's per-CPU offset"), p.describe());
    }

    @Test
    void of_noBtf_qemusPidsAndWhy() {
        tasks = new SyntheticTasks(tmp, 0, 148);
        tasks.vmcoreinfo.remove("SYMBOL(__stop_BTF)");
        guest = tasks.build();
        NotePids p = NotePids.of(tasks.dump(tasks.vcpusOnTheirCpus()));
        assertEquals(List.of(1, 2), List.of(p.pid(0), p.pid(1)));
        assertTrue(p.describe().startsWith("QEMU's cpu+1 (no BTF"), p.describe());
        assertEquals(List.of(1, 2), prPids(DumpNotes.elf(tasks.dump(tasks.vcpusOnTheirCpus()))));
    }

    @Test
    void of_runningTaskFailsACheck_qemusPids() {
        build(0, 148);
        tasks.poke(SyntheticTasks.busyTask(1) + SyntheticTasks.TASK_PID, new byte[4]); // pid 0, not the idle task
        NotePids p = NotePids.of(tasks.dump(tasks.vcpusOnTheirCpus()));
        assertEquals(List.of(1, 2), List.of(p.pid(0), p.pid(1)));
        assertTrue(p.describe().contains("but is not its idle task"), p.describe());
    }

    @Test
    void of_noVmcoreinfo_qemusPids() throws Exception {
        guest = SyntheticGuest.builder(tmp).block(0, 1 << 20, "pc.ram").vcpus(2).build();
        NotePids p = NotePids.of(guest.dump());
        assertEquals(List.of(1, 2), List.of(p.pid(0), p.pid(1)));
        assertEquals("QEMU's cpu+1 (the guest's VMCOREINFO was not found)", p.describe());
    }

    @Test
    void views_shareOneNotePidsAndCarryItsPids() {
        build(0, 148);
        GuestDump d = tasks.dump(tasks.vcpusOnTheirCpus());
        FormatContext ctx = FormatContext.uncached();
        assertSame(NotePids.shared(d, ctx), NotePids.shared(d, ctx));
        ElfView elf = (ElfView) DumpFormat.ELF.open(d, ctx);
        ByteBuffer notes = ByteBuffer.allocate((int) elf.layout().noteSize());
        elf.read(elf.layout().noteOffset(), notes);
        assertEquals(List.of(0, 148), prPids(notes.array()));
        View kdump = DumpFormat.KDUMP_ZLIB.open(d, ctx);
        ByteBuffer sub = ByteBuffer.allocate(104).order(LE);
        kdump.read(4096, sub);
        ByteBuffer kn = ByteBuffer.allocate((int) sub.getLong(56)); // size_note
        kdump.read(sub.getLong(48), kn);                             // offset_note
        assertArrayEquals(notes.array(), kn.array(), "the kdump note section holds the same notes");
    }

    // aarch64: vCPUs whose raw system register words hold TPIDR_EL1 somewhere; the kernel reader is SyntheticTasks'
    // (the mapping does not depend on the kernel's architecture past __per_cpu_offset)

    /** Word of {@link #armVcpu}'s system registers that holds TPIDR_EL1 unless told otherwise. */
    private static final int TPIDR_WORD = 77;
    private static final int SYSREGS_AT = 576;

    /**
     * Returns aarch64 vCPU {@code index} whose system register words hold {@code words[i]} at word {@code words[i+1]}
     * (pairs: value, word), the rest kernel-looking noise that is nobody's per-CPU offset.
     */
    private static Vcpu armVcpu(int index, long... valueAtWord) {
        long[] sys = new long[320];
        for (int k = 0; k < sys.length; k++) {
            sys[k] = k % 3 == 0 ? 0 : 0xffff_8000_0800_0000L + 0x1000L * k + index;
        }
        for (int i = 0; i < valueAtWord.length; i += 2) {
            sys[(int) valueAtWord[i + 1]] = valueAtWord[i];
        }
        Aarch64Registers r = SyntheticCpu.aarch64Registers(index);
        return new Vcpu(index, "cortex-a57-arm-cpu", 0, 0, new Aarch64Registers(r.x(), r.pc(), r.pstate(), r.vregs(),
                r.fpsr(), r.fpcr(), SYSREGS_AT, sys));
    }

    private NotePids armPids(Vcpu... vcpus) {
        return NotePids.of(tasks.dump(Vcpus.found(List.of(vcpus), "exact (test)")));
    }

    @Test
    void of_aarch64TpidrEl1_runningPidsAndWhereItWasFound() {
        build(0, 148);
        NotePids p = armPids(armVcpu(0, SyntheticTasks.perCpuOffset(0), TPIDR_WORD),
                armVcpu(1, SyntheticTasks.perCpuOffset(1), TPIDR_WORD));
        assertEquals(List.of(0, 148), List.of(p.pid(0), p.pid(1)), p.describe());
        assertEquals("running task's pid (BTF: rq.curr +2400, task_struct.pid +2416; vCPU n is kernel CPU n, by"
                + " TPIDR_EL1 at CPUARMState +" + (SYSREGS_AT + 8 * TPIDR_WORD) + ")", p.describe());
        assertEquals("dd", p.task(1).orElseThrow().comm());
        assertEquals(1, p.task(1).orElseThrow().cpu());
    }

    @Test
    void of_aarch64VcpusOnOtherKernelCpus_eachGetsItsOwnCpusTask() {
        build(0, 148);
        NotePids p = armPids(armVcpu(0, SyntheticTasks.perCpuOffset(1), TPIDR_WORD),
                armVcpu(1, SyntheticTasks.perCpuOffset(0), TPIDR_WORD));
        assertEquals(List.of(148, 0), List.of(p.pid(0), p.pid(1)));
        assertTrue(p.describe().contains("vCPUs are other kernel CPUs"), p.describe());
    }

    @Test
    void of_aarch64CopyOfTpidrElsewhere_sameMappingAccepted() {
        build(0, 148);
        // TPIDR_EL2 (or a saved copy) holding the same offsets says the same thing
        NotePids p = armPids(armVcpu(0, SyntheticTasks.perCpuOffset(0), TPIDR_WORD, SyntheticTasks.perCpuOffset(0), 5),
                armVcpu(1, SyntheticTasks.perCpuOffset(1), TPIDR_WORD, SyntheticTasks.perCpuOffset(1), 5));
        assertEquals(List.of(0, 148), List.of(p.pid(0), p.pid(1)), p.describe());
        assertTrue(p.describe().endsWith("CPUARMState +" + (SYSREGS_AT + 8 * 5) + ")"), "the first place found");
    }

    @Test
    void of_aarch64TwoPlacesDisagree_qemusPids() {
        build(0, 148);
        NotePids p = armPids(armVcpu(0, SyntheticTasks.perCpuOffset(0), TPIDR_WORD, SyntheticTasks.perCpuOffset(1), 9),
                armVcpu(1, SyntheticTasks.perCpuOffset(1), TPIDR_WORD, SyntheticTasks.perCpuOffset(0), 9));
        assertEquals(List.of(1, 2), List.of(p.pid(0), p.pid(1)), "never a guess");
        assertFalse(p.fromKernel());
        assertEquals("QEMU's cpu+1 (CPUARMState +" + (SYSREGS_AT + 72) + " and +" + (SYSREGS_AT + 8 * TPIDR_WORD)
                + " map the vCPUs to kernel CPUs differently)", p.describe());
    }

    @Test
    void of_aarch64NoWordIsAPerCpuOffset_qemusPidsAndWhy() {
        build(0, 148);
        NotePids p = armPids(armVcpu(0, SyntheticTasks.perCpuOffset(0), TPIDR_WORD), armVcpu(1));
        assertEquals(List.of(1, 2), List.of(p.pid(0), p.pid(1)), "never a mix");
        assertEquals("QEMU's cpu+1 (no system register holds a kernel CPU's per-CPU offset in every vCPU (TPIDR_EL1"
                + " not found))", p.describe());
    }

    @Test
    void of_aarch64OffsetsAtDifferentPlaces_qemusPids() {
        build(0, 148);
        // each vCPU holds a per-CPU offset, but not at the same place in CPUARMState: not one field
        NotePids p = armPids(armVcpu(0, SyntheticTasks.perCpuOffset(0), TPIDR_WORD),
                armVcpu(1, SyntheticTasks.perCpuOffset(1), TPIDR_WORD + 1));
        assertEquals(List.of(1, 2), List.of(p.pid(0), p.pid(1)));
        assertTrue(p.describe().contains("TPIDR_EL1 not found"), p.describe());
    }

    @Test
    void of_aarch64TwoVcpusOneCpu_qemusPids() {
        build(0, 148);
        NotePids p = armPids(armVcpu(0, SyntheticTasks.perCpuOffset(1), TPIDR_WORD),
                armVcpu(1, SyntheticTasks.perCpuOffset(1), TPIDR_WORD));
        assertEquals(List.of(1, 2), List.of(p.pid(0), p.pid(1)));
        assertEquals("QEMU's cpu+1 (two vCPUs have kernel CPU 1's per-CPU offset (CPUARMState +"
                + (SYSREGS_AT + 8 * TPIDR_WORD) + "))", p.describe());
    }

    @Test
    void of_aarch64NoBtf_qemusPidsAndWhy() {
        tasks = new SyntheticTasks(tmp, 0, 148);
        tasks.vmcoreinfo.remove("SYMBOL(__stop_BTF)");
        guest = tasks.build();
        NotePids p = armPids(armVcpu(0, SyntheticTasks.perCpuOffset(0), TPIDR_WORD),
                armVcpu(1, SyntheticTasks.perCpuOffset(1), TPIDR_WORD));
        assertEquals(List.of(1, 2), List.of(p.pid(0), p.pid(1)));
        assertTrue(p.describe().startsWith("QEMU's cpu+1 (no BTF"), p.describe());
    }

    @Test
    void of_aarch64SystemRegistersNotInTheCore_qemusPids() {
        build(0, 148);
        Aarch64Registers r = SyntheticCpu.aarch64Registers(1);
        NotePids p = armPids(armVcpu(0, SyntheticTasks.perCpuOffset(0), TPIDR_WORD),
                new Vcpu(1, "cortex-a57-arm-cpu", 0, 0, r));
        assertEquals(List.of(1, 2), List.of(p.pid(0), p.pid(1)));
        assertEquals("QEMU's cpu+1 (a vCPU's system registers are not in the core)", p.describe());
    }

    /** Returns pr_pid of each NT_PRSTATUS note (x86_64 layout: at 32). */
    static List<Integer> prPids(byte[] notes) {
        List<Integer> out = new ArrayList<>();
        for (ElfNote n : ElfNotes.read(notes, LE).notes()) {
            if (n.name().equals("CORE") && n.type() == ElfNote.NT_PRSTATUS) {
                out.add(n.descBuffer().order(LE).getInt(32));
            }
        }
        return out;
    }

    /** Returns {@code notes} with the NT_PRSTATUS notes' pr_pid replaced by {@code pids}, in order. */
    static byte[] withPids(byte[] notes, int... pids) {
        ByteBuffer b = ByteBuffer.wrap(notes.clone()).order(LE);
        int i = 0;
        for (ElfNote n : ElfNotes.read(notes, LE).notes()) {
            if (n.name().equals("CORE") && n.type() == ElfNote.NT_PRSTATUS) {
                b.putInt((int) n.descOffset() + 32, pids[i++]);
            }
        }
        assertEquals(pids.length, i);
        return b.array();
    }
}

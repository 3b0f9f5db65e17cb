package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.Vcpus;
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

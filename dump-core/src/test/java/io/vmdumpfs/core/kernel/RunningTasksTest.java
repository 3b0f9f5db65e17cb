package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.kernel.RunningTasks.CpuTask;
import io.vmdumpfs.core.testing.BtfBuilder;
import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticTasks;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link RunningTasks} on a {@link SyntheticTasks} guest: what each CPU runs and its pid, through BTF offsets and
 * per-CPU variables; and each check refusing a guest where it fails, with a message saying which.
 */
class RunningTasksTest {

    @TempDir
    Path tmp;

    private SyntheticGuest guest;
    /** What built {@link #guest}. */
    private SyntheticTasks tasks;

    @AfterEach
    void tearDown() throws Exception {
        if (guest != null) {
            guest.close();
        }
    }

    private RunningTasks open(SyntheticTasks t) {
        tasks = t;
        guest = t.build();
        return RunningTasks.open(GuestKernel.open(guest.dump()));
    }

    @Test
    void running_idleAndBusyCpus_tasksPidsAndNames() {
        RunningTasks rt = open(new SyntheticTasks(tmp, 0, 148, 0));
        assertEquals(3, rt.cpuCount());
        assertEquals(new CpuTask(0, SyntheticTasks.perCpuOffset(0), SyntheticTasks.idleTask(0), 0, "swapper/0"),
                rt.running(0));
        assertEquals(new CpuTask(1, SyntheticTasks.perCpuOffset(1), SyntheticTasks.busyTask(1), 148, "dd"),
                rt.running(1));
        assertEquals("swapper/2", rt.running(2).comm());
        assertTrue(rt.running(0).idle());
        assertTrue(rt.describe().contains("rq.curr +" + SyntheticTasks.RQ_CURR), rt.describe());
        assertTrue(rt.describe().contains("task_struct.pid +" + SyntheticTasks.TASK_PID), rt.describe());
    }

    @Test
    void cpuWithPerCpuOffset_eachCpuAndNoOther() {
        RunningTasks rt = open(new SyntheticTasks(tmp, 0, 0));
        assertEquals(OptionalInt.of(1), rt.cpuWithPerCpuOffset(SyntheticTasks.perCpuOffset(1)));
        assertEquals(OptionalInt.empty(), rt.cpuWithPerCpuOffset(SyntheticTasks.perCpuOffset(2)));
        assertEquals(OptionalInt.empty(), rt.cpuWithPerCpuOffset(0));
    }

    @Test
    void open_noBtfSymbols_saysNoBtf() {
        SyntheticTasks t = new SyntheticTasks(tmp, 0, 0);
        t.vmcoreinfo.remove("SYMBOL(__start_BTF)");
        assertRefused(t, "no BTF");
    }

    @Test
    void open_btfNotBtf_refused() {
        SyntheticTasks t = new SyntheticTasks(tmp, 0, 0);
        t.btf = new byte[t.btf.length]; // zeros where the kernel's BTF should be
        assertRefused(t, "magic is 0x0000");
    }

    @Test
    void open_btfWithoutRqCurr_saysWhich() {
        SyntheticTasks t = new SyntheticTasks(tmp, 0, 0);
        BtfBuilder b = new BtfBuilder();
        int i32 = b.integer("int", 4, true);
        b.struct("rq", 8, b.member("nr_running", i32, 0));
        t.btf = withSize(t, b);
        assertRefused(t, "BTF has no rq.curr");
    }

    @Test
    void open_pidNotAnInt_refused() {
        SyntheticTasks t = new SyntheticTasks(tmp, 0, 0);
        BtfBuilder b = new BtfBuilder();
        int i32 = b.integer("int", 4, true);
        int task = b.struct("task_struct", 4000, b.member("pid", 3, 8 * 100), b.member("comm", i32, 8 * 200));
        int ptr = b.pointer(task); // 3: pid is a pointer here
        b.struct("rq", 3000, b.member("curr", ptr, 8 * SyntheticTasks.RQ_CURR));
        t.btf = withSize(t, b);
        assertRefused(t, "task_struct.pid is not a 4-byte signed int");
    }

    @Test
    void open_cpu0IdleIsNotInitTask_refused() {
        SyntheticTasks t = new SyntheticTasks(tmp, 0, 0);
        t.vmcoreinfo.put("SYMBOL(init_task)", Long.toHexString(SyntheticTasks.K + SyntheticTasks.INIT_TASK + 64));
        assertRefused(t, "not init_task");
    }

    @Test
    void open_nrCpuIdsAbsurd_refusedBeforeReading() {
        SyntheticTasks t = new SyntheticTasks(tmp, 0, 0);
        guest = t.build();
        t.poke(SyntheticTasks.K + SyntheticTasks.NR_CPU_IDS, le(4, 0x7fff_ffff));
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> RunningTasks.open(GuestKernel.open(guest.dump())));
        assertTrue(e.getMessage().contains("nr_cpu_ids"), e.getMessage());
    }

    @Test
    void open_neitherThisCpuOffNorCpuNumber_refused() {
        SyntheticTasks t = new SyntheticTasks(tmp, 0, 0);
        t.vmcoreinfo.remove("SYMBOL(this_cpu_off)");
        t.vmcoreinfo.remove("SYMBOL(cpu_number)");
        assertRefused(t, "cannot be checked");
    }

    @Test
    void running_perCpuOffsetDisagreesWithThisCpuOff_refused() {
        RunningTasks rt = open(new SyntheticTasks(tmp, 0, 0));
        poke(SyntheticTasks.perCpuOffset(1) + SyntheticTasks.THIS_CPU_OFF, le(8, SyntheticTasks.perCpuOffset(0)));
        assertRunningRefused(rt, 1, "this_cpu_off");
    }

    @Test
    void running_cpuNumberWrong_refused() {
        SyntheticTasks t = new SyntheticTasks(tmp, 0, 0);
        t.vmcoreinfo.remove("SYMBOL(this_cpu_off)");
        RunningTasks rt = open(t);
        poke(SyntheticTasks.perCpuOffset(1) + SyntheticTasks.CPU_NUMBER, le(4, 0));
        assertRunningRefused(rt, 1, "cpu_number is 0");
    }

    @Test
    void running_currNotAKernelAddress_refused() {
        RunningTasks rt = open(new SyntheticTasks(tmp, 0, 0));
        poke(rq(1) + SyntheticTasks.RQ_CURR, le(8, 0x7ffd_1234_5000L));
        assertRunningRefused(rt, 1, "not a kernel address");
    }

    @Test
    void running_currUnmapped_addressError() {
        RunningTasks rt = open(new SyntheticTasks(tmp, 0, 0));
        poke(rq(1) + SyntheticTasks.RQ_CURR, le(8, SyntheticTasks.DMAP + (1L << 40)));
        assertThrows(KernelAddressException.class, () -> rt.running(1));
    }

    @Test
    void running_pidBeyondPidMaxLimit_refused() {
        RunningTasks rt = open(new SyntheticTasks(tmp, 0, 148));
        poke(SyntheticTasks.busyTask(1) + SyntheticTasks.TASK_PID, le(4, RunningTasks.PID_MAX_LIMIT));
        assertRunningRefused(rt, 1, "not within 0 and PID_MAX_LIMIT");
    }

    @Test
    void running_idleTaskWithAPid_refused() {
        RunningTasks rt = open(new SyntheticTasks(tmp, 0, 0));
        poke(SyntheticTasks.idleTask(1) + SyntheticTasks.TASK_PID, le(4, 7));
        assertRunningRefused(rt, 1, "but is its idle task");
    }

    @Test
    void running_busyTaskWithPid0_refused() {
        RunningTasks rt = open(new SyntheticTasks(tmp, 0, 148));
        poke(SyntheticTasks.busyTask(1) + SyntheticTasks.TASK_PID, le(4, 0));
        assertRunningRefused(rt, 1, "but is not its idle task");
    }

    @Test
    void running_taskOnAnotherCpu_refused() {
        RunningTasks rt = open(new SyntheticTasks(tmp, 0, 148));
        poke(SyntheticTasks.busyTask(1) + SyntheticTasks.THREAD_INFO_CPU, le(4, 0));
        assertRunningRefused(rt, 1, "says it is on CPU 0");
    }

    @Test
    void running_cpuBeyondNrCpuIds_refused() {
        RunningTasks rt = open(new SyntheticTasks(tmp, 0, 0));
        assertRunningRefused(rt, 2, "nr_cpu_ids");
    }

    private void assertRefused(SyntheticTasks t, String message) {
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class, () -> open(t));
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    private static void assertRunningRefused(RunningTasks rt, int cpu, String message) {
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class, () -> rt.running(cpu));
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    /** Returns {@code b}'s blob and points __stop_BTF at its end. */
    private static byte[] withSize(SyntheticTasks t, BtfBuilder b) {
        byte[] blob = b.build(ByteOrder.LITTLE_ENDIAN);
        t.vmcoreinfo.put("SYMBOL(__stop_BTF)", Long.toHexString(SyntheticTasks.K + SyntheticTasks.BTF + blob.length));
        return blob;
    }

    /** Changes the built guest's memory; reads after it see the change (the core is read, not cached). */
    private void poke(long kernelVaddr, byte[] bytes) {
        tasks.poke(kernelVaddr, bytes);
    }

    private static long rq(int cpu) {
        return SyntheticTasks.perCpuOffset(cpu) + SyntheticTasks.RUNQUEUES;
    }

    static byte[] le(int bytes, long v) {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v);
        return java.util.Arrays.copyOf(b.array(), bytes);
    }
}

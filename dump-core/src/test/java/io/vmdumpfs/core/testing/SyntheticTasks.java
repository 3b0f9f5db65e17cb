package io.vmdumpfs.core.testing;

import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.Vcpu;
import io.vmdumpfs.core.guest.Vcpus;
import io.vmdumpfs.core.guest.X86EnvLayout;
import io.vmdumpfs.core.guest.X86Registers;
import io.vmdumpfs.core.kernel.X86_64Kernel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/**
 * A synthetic x86_64 Linux guest with what a reader of the running tasks needs and no more: BTF in the kernel
 * image (struct rq with curr and idle, task_struct with thread_info.cpu, and pid and comm inside an anonymous struct
 * as randstruct lays them out), the symbols in VMCOREINFO (so no kallsyms is needed), zero-based per-CPU variables
 * ({@code runqueues}, {@code this_cpu_off}, {@code cpu_number}) in per-CPU areas in the direct map, {@code init_task}
 * in the image, and one task per CPU. 32 MiB of RAM, direct map at the 4-level default.
 *
 * <pre>
 * SyntheticTasks t = new SyntheticTasks(tmp, 0, 148);   // CPU 0 idle (init_task), CPU 1 runs pid 148 "dd"
 * t.vmcoreinfo.remove("SYMBOL(__start_BTF)");            // tamper before build()
 * SyntheticGuest g = t.build();
 * GuestDump d = t.dump(t.vcpusOnTheirCpus());
 * </pre>
 */
public final class SyntheticTasks {

    public static final long K = X86_64Kernel.START_KERNEL_MAP;
    public static final long DMAP = 0xffff_8880_0000_0000L;
    public static final long RAM = 32L << 20;
    /** Guest-physical places. */
    public static final long TABLES = 0x100000;
    public static final long STEXT = 0x1000000;
    public static final long BTF = 0x1100000;
    public static final long PER_CPU_OFFSET = 0x1200000;
    public static final long NR_CPU_IDS = 0x1201000;
    public static final long INIT_TASK = 0x1300000;
    public static final long PER_CPU_AREAS = 0x1400000;
    public static final long TASKS = 0x1800000;
    /** Zero-based per-CPU symbols, as Debian's 6.1 kallsyms gives them. */
    public static final long RUNQUEUES = 0x31980;
    public static final long THIS_CPU_OFF = 0x19168;
    public static final long CPU_NUMBER = 0x19160;
    /** Offsets the BTF gives. */
    public static final int RQ_CURR = 2400;
    public static final int RQ_IDLE = 2408;
    public static final int TASK_PID = 2416;
    public static final int TASK_COMM = 2960;
    public static final int THREAD_INFO_CPU = 20;
    /** Where randstruct's anonymous struct starts in task_struct. */
    public static final int RANDSTRUCT = 64;

    /** VMCOREINFO lines, key → value; edit before {@link #build}. */
    public final Map<String, String> vmcoreinfo = new LinkedHashMap<>();
    /** The BTF blob; replace before {@link #build}. */
    public byte[] btf;
    private final int[] pids;
    private final Path dir;
    private SyntheticGuest guest;
    private SyntheticKernel kernel;

    /** A guest whose CPU n runs {@code pids[n]}: 0 for its idle task, else a task "dd" with that pid. */
    public SyntheticTasks(Path dir, int... pids) {
        this.dir = dir;
        this.pids = pids.clone();
        vmcoreinfo.put("OSRELEASE", "6.1.0-synthetic");
        vmcoreinfo.put("PAGESIZE", "4096");
        sym("_stext", K + STEXT);
        sym("init_top_pgt", K + TABLES);
        vmcoreinfo.put("NUMBER(phys_base)", "0");
        vmcoreinfo.put("NUMBER(pgtable_l5_enabled)", "0");
        vmcoreinfo.put("NUMBER(KERNEL_IMAGE_SIZE)", "1073741824");
        btf = linuxBtf().build(ByteOrder.LITTLE_ENDIAN);
        sym("__start_BTF", K + BTF);
        sym("__stop_BTF", K + BTF + btf.length);
        sym("runqueues", RUNQUEUES);
        sym("this_cpu_off", THIS_CPU_OFF);
        sym("cpu_number", CPU_NUMBER);
        sym("__per_cpu_offset", K + PER_CPU_OFFSET);
        sym("nr_cpu_ids", K + NR_CPU_IDS);
        sym("init_task", K + INIT_TASK);
    }

    private void sym(String name, long kernelVaddr) {
        vmcoreinfo.put("SYMBOL(" + name + ")", Long.toHexString(kernelVaddr));
    }

    /**
     * Returns the types a 6.1 kernel has for these structures, with its offsets; an enum, a function prototype and a
     * type tag ({@code __rcu} on rq.curr) among them, as in a real kernel's BTF.
     */
    public static BtfBuilder linuxBtf() {
        BtfBuilder b = new BtfBuilder();
        int u32 = b.integer("unsigned int", 4, false);
        int i32 = b.integer("int", 4, true);
        int u64 = b.integer("long unsigned int", 8, false);
        int chr = b.integer("char", 1, true);
        int pidT = b.typedef("pid_t", i32);
        b.raw(b.str("rq_state"), 6, 2, false, 4, b.str("RQ_A"), 0, b.str("RQ_B"), 1);
        b.raw(0, 13, 2, false, i32, b.str("a"), u64, b.str("b"), pidT);
        int comm = b.array(chr, i32, 16);
        int ti = b.struct("thread_info", 24, b.member("flags", u64, 0), b.member("syscall_work", u64, 64),
                b.member("status", u32, 128), b.member("cpu", u32, 8 * THREAD_INFO_CPU));
        int fields = b.struct("", 4000, b.member("pid", pidT, 8 * (TASK_PID - RANDSTRUCT)),
                b.member("tgid", pidT, 8 * (TASK_PID - RANDSTRUCT + 4)),
                b.member("comm", comm, 8 * (TASK_COMM - RANDSTRUCT)));
        int task = b.struct("task_struct", 9000, b.member("thread_info", ti, 0), b.member("__state", u32, 8 * 24),
                b.member(null, fields, 8 * RANDSTRUCT));
        int taskPtr = b.pointer(task);
        int rcu = b.modifier(18, "rcu", taskPtr);
        b.struct("rq", 3200, b.member("nr_running", u32, 0), b.member("curr", rcu, 8 * RQ_CURR),
                b.member("idle", taskPtr, 8 * RQ_IDLE));
        return b;
    }

    /** Returns {@code __per_cpu_offset[cpu]}: CPU n's per-CPU area, 1 MiB each in the direct map. */
    public static long perCpuOffset(int cpu) {
        return DMAP + PER_CPU_AREAS + ((long) cpu << 20);
    }

    /** Returns the kernel virtual address of CPU n's idle task. */
    public static long idleTask(int cpu) {
        return cpu == 0 ? K + INIT_TASK : DMAP + TASKS + 0x4000L * cpu;
    }

    /** Returns the kernel virtual address of the non-idle task CPU n runs. */
    public static long busyTask(int cpu) {
        return DMAP + TASKS + 0x100000 + 0x4000L * cpu;
    }

    /** Writes RAM, page tables and structures; returns the guest (the caller closes it). */
    public SyntheticGuest build() {
        StringBuilder text = new StringBuilder();
        vmcoreinfo.forEach((k, v) -> text.append(k).append('=').append(v).append('\n'));
        guest = SyntheticGuest.builder(dir).block(0, RAM, "pc.ram").vmcoreinfo(text.toString())
                .vcpus(pids.length).build();
        kernel = new SyntheticKernel(guest, 4, TABLES);
        for (long p = 0; p < RAM; p += 2 << 20) {
            kernel.map2m(DMAP + p, p);
        }
        kernel.put(BTF, btf);
        kernel.put(NR_CPU_IDS, le(4, pids.length));
        ByteBuffer offs = ByteBuffer.allocate(8 * pids.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int n = 0; n < pids.length; n++) {
            offs.putLong(8 * n, perCpuOffset(n));
            long area = PER_CPU_AREAS + ((long) n << 20);
            kernel.put(area + THIS_CPU_OFF, le(8, perCpuOffset(n)));
            kernel.put(area + CPU_NUMBER, le(4, n));
            long curr = pids[n] == 0 ? idleTask(n) : busyTask(n);
            kernel.put(area + RUNQUEUES + RQ_CURR, le(8, curr));
            kernel.put(area + RUNQUEUES + RQ_IDLE, le(8, idleTask(n)));
            putTask(idleTask(n), 0, "swapper/" + n, n);
            if (pids[n] != 0) {
                putTask(busyTask(n), pids[n], "dd", n);
            }
        }
        kernel.put(PER_CPU_OFFSET, offs.array());
        kernel.write();
        return guest;
    }

    /** Writes a task_struct's thread_info.cpu, pid and comm at kernel virtual {@code task}. */
    public void putTask(long task, int pid, String comm, int cpu) {
        long paddr = paddrOf(task);
        kernel.put(paddr + THREAD_INFO_CPU, le(4, cpu));
        kernel.put(paddr + TASK_PID, le(4, pid));
        kernel.put(paddr + TASK_COMM, java.util.Arrays.copyOf(comm.getBytes(StandardCharsets.US_ASCII), 16));
    }

    /** Writes {@code bytes} at kernel virtual {@code kernelVaddr} (image or direct map) into the built guest. */
    public void poke(long kernelVaddr, byte[] bytes) {
        kernel.put(paddrOf(kernelVaddr), bytes);
        kernel.write();
    }

    private static long paddrOf(long kernelVaddr) {
        return Long.compareUnsigned(kernelVaddr, K) >= 0 ? kernelVaddr - K : kernelVaddr - DMAP;
    }

    /** Returns the dump of the built guest with {@code vcpus} in place of its own. */
    public GuestDump dump(Vcpus vcpus) {
        GuestDump d = guest.dump();
        return new GuestDump(d.memory(), d.platform(), d.vmcoreinfo(), d.qemuVersion(), vcpus, d.blocksSource());
    }

    /** Returns one vCPU per CPU, in kernel mode with that CPU's GS base (as Linux sets it): vCPU n is CPU n. */
    public Vcpus vcpusOnTheirCpus() {
        List<Vcpu> list = new ArrayList<>();
        for (int n = 0; n < pids.length; n++) {
            list.add(vcpu(n, perCpuOffset(n), 0, false));
        }
        return Vcpus.found(list, "exact (synthetic)");
    }

    /**
     * Returns vCPU {@code index} (SyntheticCpu's registers) with GS base {@code gs} and KERNEL_GS_BASE {@code kgs},
     * in user mode (CS 0x33, as Linux's __USER_CS) or kernel mode (0x10).
     */
    public static Vcpu vcpu(int index, long gs, long kgs, boolean user) {
        X86EnvLayout l = X86EnvLayout.X86_64;
        ByteBuffer env = ByteBuffer.wrap(SyntheticCpu.x86_64Env(index)).order(ByteOrder.LITTLE_ENDIAN);
        env.putLong(l.segs() + X86Registers.R_GS * l.segSize() + 8, gs);
        if (user) {
            env.putInt(l.segs() + X86Registers.R_CS * l.segSize(), 0x33);
        }
        return new Vcpu(index, "qemu64-x86_64-cpu", 0, 0, X86Registers.read(env, l, OptionalLong.of(kgs)));
    }

    static byte[] le(int bytes, long v) {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v);
        return java.util.Arrays.copyOf(b.array(), bytes);
    }
}

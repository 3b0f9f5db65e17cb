package io.vmdumpfs.core.kernel;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * The task each CPU of the guest kernel was running: {@code per_cpu(runqueues, cpu).curr}, as the scheduler keeps
 * it, and that task's pid, read without debug symbols. VMCOREINFO gives neither {@code struct rq} nor
 * {@code task_struct} offsets, so they come from the kernel's own {@link Btf}; the symbols ({@code runqueues},
 * {@code __per_cpu_offset}, {@code nr_cpu_ids}, {@code init_task}, …) from its kallsyms.
 *
 * <p>Per-CPU variables: the address of CPU n's copy is the variable's symbol address plus
 * {@code __per_cpu_offset[n]}, whether the kernel's per-CPU symbols are zero-based (x86_64 with
 * CONFIG_KALLSYMS_ABSOLUTE_PERCPU, where kallsyms gives the small offset) or link addresses.
 *
 * <p>Nothing is believed unchecked: {@code __per_cpu_offset[n]} must agree with CPU n's own {@code this_cpu_off}
 * and {@code cpu_number} (those the kernel has; at least one); CPU 0's idle task must be {@code init_task}; a
 * running task must be a readable top-half kernel address whose pid is within {@code PID_MAX_LIMIT}, whose CPU
 * ({@code task_struct.thread_info.cpu} or {@code .cpu}, where BTF has one) is n, and whose pid is 0 exactly when
 * it is the CPU's idle task. Anything else is a {@link KernelUnavailableException} naming the check.
 *
 * <p>64-bit kernels only (pointers are read as 8 bytes: x86_64 and aarch64). The symbols must be in kallsyms
 * (CONFIG_KALLSYMS_ALL: Debian's amd64 kernels have it, its cloud-arm64 6.1 does not) or VMCOREINFO. Immutable and
 * thread-safe (reads go through the kernel's shared reader).
 */
public final class RunningTasks {

    /** PID_MAX_LIMIT on 64-bit kernels (include/linux/threads.h): 4 Mi; a pid is below it. */
    public static final int PID_MAX_LIMIT = 4 << 20;
    /** More CPUs than any kernel supports (NR_CPUS is at most 8192 on x86_64); bounds a bad nr_cpu_ids. */
    static final int MAX_CPUS = 1 << 16;
    /** sizeof(task_struct.comm): TASK_COMM_LEN. */
    static final int COMM_LEN = 16;

    /**
     * What CPU {@code cpu} was running.
     *
     * @param cpu          the kernel's CPU number
     * @param perCpuOffset {@code __per_cpu_offset[cpu]}: also the kernel's GS base on that CPU (x86_64)
     * @param task         the task_struct's kernel virtual address ({@code rq.curr})
     * @param pid          its pid; 0 for the CPU's idle task
     * @param comm         its {@code comm}, e.g. "swapper/1", "dd"
     */
    public record CpuTask(int cpu, long perCpuOffset, long task, int pid, String comm) {

        /** Returns true for the CPU's idle task (pid 0). */
        public boolean idle() {
            return pid == 0;
        }
    }

    private final GuestKernel kernel;
    private final long[] perCpuOffset;
    private final long runqueues;
    private final long currOff;
    private final OptionalLong idleOff;
    private final long pidOff;
    private final long commOff;
    private final OptionalLong taskCpuOff;
    private final OptionalLong thisCpuOff;
    private final OptionalLong cpuNumber;
    private final String offsets;

    private RunningTasks(GuestKernel kernel, long[] perCpuOffset, long runqueues, long currOff, OptionalLong idleOff,
            long pidOff, long commOff, OptionalLong taskCpuOff, OptionalLong thisCpuOff, OptionalLong cpuNumber,
            String offsets) {
        this.kernel = kernel;
        this.perCpuOffset = perCpuOffset;
        this.runqueues = runqueues;
        this.currOff = currOff;
        this.idleOff = idleOff;
        this.pidOff = pidOff;
        this.commOff = commOff;
        this.taskCpuOff = taskCpuOff;
        this.thisCpuOff = thisCpuOff;
        this.cpuNumber = cpuNumber;
        this.offsets = offsets;
    }

    /**
     * Reads the kernel's BTF, the symbols and {@code __per_cpu_offset}, and checks CPU 0's idle task.
     *
     * @throws KernelUnavailableException when the kernel has no BTF, lacks a symbol or member, or a check fails
     * @throws KernelAddressException     when something cannot be read
     */
    public static RunningTasks open(GuestKernel kernel) {
        if (kernel.platform().wordBytes() != 8) {
            throw new KernelUnavailableException("reading the running tasks of a " + kernel.platform().wordBytes() * 8
                    + "-bit kernel is not implemented");
        }
        Btf btf = Btf.read(kernel).orElseThrow(() -> new KernelUnavailableException(
                "no BTF: __start_BTF/__stop_BTF are not among the kernel's symbols ("
                        + kernel.kallsyms().map(k -> k.address("runqueues").isEmpty()
                                // kallsyms without data symbols (Debian's cloud-arm64 6.1) says nothing of BTF
                                ? "kallsyms holds no data symbols: kernel built without CONFIG_KALLSYMS_ALL?"
                                : "kernel built without CONFIG_DEBUG_INFO_BTF?")
                                .orElse("no kallsyms") + ")"));
        Btf.Member curr = require(btf, "rq", "curr");
        Optional<Btf.Member> idle = btf.member("rq", "idle");
        Btf.Member pid = require(btf, "task_struct", "pid");
        Btf.Member comm = require(btf, "task_struct", "comm");
        requirePointer(btf, curr, "rq.curr");
        int pidType = btf.resolve(pid.typeId());
        if (pidType == 0 || btf.kind(pidType) != Btf.KIND_INT || btf.size(pidType) != 4 || !btf.signedInt(pidType)) {
            throw new KernelUnavailableException("BTF: task_struct.pid is not a 4-byte signed int");
        }
        Optional<Btf.Member> taskCpu = btf.member("task_struct", "thread_info")
                .flatMap(ti -> structOf(btf, ti).flatMap(id -> btf.member(id, "cpu"))
                        .map(c -> new Btf.Member(ti.bitOffset() + c.bitOffset(), c.bitfieldSize(), c.typeId())))
                .or(() -> btf.member("task_struct", "cpu"));

        long runqueues = requireSymbol(kernel, "runqueues");
        long perCpuOffsetAt = requireSymbol(kernel, "__per_cpu_offset");
        OptionalLong thisCpuOff = kernel.symbol("this_cpu_off");
        OptionalLong cpuNumber = kernel.symbol("cpu_number");
        if (thisCpuOff.isEmpty() && cpuNumber.isEmpty()) {
            throw new KernelUnavailableException("neither this_cpu_off nor cpu_number is among the kernel's symbols:"
                    + " __per_cpu_offset cannot be checked");
        }
        long nrCpuIds = kernel.memory().readU32(requireSymbol(kernel, "nr_cpu_ids"));
        if (nrCpuIds < 1 || nrCpuIds > MAX_CPUS) {
            throw new KernelUnavailableException("nr_cpu_ids is " + nrCpuIds + ", not a CPU count");
        }
        ByteBuffer offs = ByteBuffer.wrap(kernel.memory().readBytes(perCpuOffsetAt, 8 * (int) nrCpuIds))
                .order(kernel.platform().byteOrder());
        long[] perCpuOffset = new long[(int) nrCpuIds];
        for (int n = 0; n < perCpuOffset.length; n++) {
            perCpuOffset[n] = offs.getLong(8 * n);
        }
        String offsets = "BTF: rq.curr +" + curr.byteOffset() + ", task_struct.pid +" + pid.byteOffset();
        RunningTasks t = new RunningTasks(kernel, perCpuOffset, runqueues, curr.byteOffset(),
                idle.isPresent() ? OptionalLong.of(idle.get().byteOffset()) : OptionalLong.empty(), pid.byteOffset(),
                comm.byteOffset(), taskCpu.isPresent() ? OptionalLong.of(taskCpu.get().byteOffset())
                        : OptionalLong.empty(), thisCpuOff, cpuNumber, offsets);
        // CPU 0's idle task is the statically allocated init_task: checks runqueues, the per-CPU offset and
        // rq.idle together, on every kernel (CPU 0 is always possible and online).
        OptionalLong initTask = kernel.symbol("init_task");
        if (idle.isPresent() && initTask.isPresent()) {
            long idle0 = kernel.memory().readU64(t.rq(0) + idle.get().byteOffset());
            if (idle0 != initTask.getAsLong()) {
                throw new KernelUnavailableException("CPU 0's rq.idle is 0x" + Long.toHexString(idle0)
                        + ", not init_task 0x" + Long.toHexString(initTask.getAsLong()));
            }
        }
        return t;
    }

    /** Returns nr_cpu_ids: the kernel's CPU numbers are 0 to this − 1. */
    public int cpuCount() {
        return perCpuOffset.length;
    }

    /** Returns {@code __per_cpu_offset[cpu]}. */
    public long perCpuOffset(int cpu) {
        return perCpuOffset[cpu];
    }

    /**
     * Returns the CPU whose {@code __per_cpu_offset} is {@code base}: on x86_64, the kernel's GS base on that CPU.
     * Empty when none, or several, are.
     */
    public OptionalInt cpuWithPerCpuOffset(long base) {
        int found = -1;
        for (int n = 0; n < perCpuOffset.length; n++) {
            if (perCpuOffset[n] == base) {
                if (found >= 0) {
                    return OptionalInt.empty();
                }
                found = n;
            }
        }
        return found < 0 ? OptionalInt.empty() : OptionalInt.of(found);
    }

    /**
     * Returns what CPU {@code cpu} was running, checked (see the class comment).
     *
     * @throws KernelUnavailableException when a check fails
     * @throws KernelAddressException     when the run queue or the task cannot be read
     */
    public CpuTask running(int cpu) {
        if (cpu < 0 || cpu >= perCpuOffset.length) {
            throw new KernelUnavailableException("CPU " + cpu + " is not below nr_cpu_ids " + perCpuOffset.length);
        }
        KernelMemory mem = kernel.memory();
        long off = perCpuOffset[cpu];
        if (thisCpuOff.isPresent() && mem.readU64(thisCpuOff.getAsLong() + off) != off) {
            throw new KernelUnavailableException("CPU " + cpu + "'s this_cpu_off is not __per_cpu_offset[" + cpu
                    + "] 0x" + Long.toHexString(off));
        }
        if (cpuNumber.isPresent() && mem.readU32(cpuNumber.getAsLong() + off) != cpu) {
            throw new KernelUnavailableException("CPU " + cpu + "'s cpu_number is "
                    + mem.readU32(cpuNumber.getAsLong() + off));
        }
        long rq = rq(cpu);
        long task = mem.readU64(rq + currOff);
        if (task >= 0 || (task & 7) != 0) {
            throw new KernelUnavailableException("CPU " + cpu + "'s rq.curr 0x" + Long.toHexString(task)
                    + " is not a kernel address");
        }
        long pid = (int) mem.readU32(task + pidOff);
        if (pid < 0 || pid >= PID_MAX_LIMIT) {
            throw new KernelUnavailableException("CPU " + cpu + "'s running task 0x" + Long.toHexString(task)
                    + " has pid " + pid + ", not within 0 and PID_MAX_LIMIT");
        }
        if (idleOff.isPresent()) {
            boolean isIdle = mem.readU64(rq + idleOff.getAsLong()) == task;
            if (isIdle != (pid == 0)) {
                throw new KernelUnavailableException("CPU " + cpu + "'s running task 0x" + Long.toHexString(task)
                        + " has pid " + pid + (isIdle ? " but is its idle task" : " but is not its idle task"));
            }
        }
        if (taskCpuOff.isPresent()) {
            long onCpu = mem.readU32(task + taskCpuOff.getAsLong());
            if (onCpu != cpu) {
                throw new KernelUnavailableException("CPU " + cpu + "'s running task (pid " + pid + ") says it is on CPU "
                        + onCpu);
            }
        }
        byte[] c = mem.readBytes(task + commOff, COMM_LEN);
        int n = 0;
        while (n < c.length && c[n] != 0) {
            n++;
        }
        return new CpuTask(cpu, off, task, (int) pid, new String(c, 0, n, StandardCharsets.ISO_8859_1));
    }

    /** Returns where the offsets came from, e.g. "BTF: rq.curr +2528, task_struct.pid +1496". */
    public String describe() {
        return offsets;
    }

    private long rq(int cpu) {
        return runqueues + perCpuOffset[cpu];
    }

    private static Btf.Member require(Btf btf, String struct, String member) {
        return btf.member(struct, member).orElseThrow(() -> new KernelUnavailableException(
                "BTF has no " + struct + "." + member));
    }

    private static void requirePointer(Btf btf, Btf.Member m, String what) {
        int t = btf.resolve(m.typeId());
        if (t == 0 || btf.kind(t) != Btf.KIND_PTR) {
            throw new KernelUnavailableException("BTF: " + what + " is not a pointer");
        }
        m.byteOffset();
    }

    /** Returns the struct or union type of member {@code m}, if it is one. */
    private static Optional<Integer> structOf(Btf btf, Btf.Member m) {
        int t = btf.resolve(m.typeId());
        return t != 0 && (btf.kind(t) == Btf.KIND_STRUCT || btf.kind(t) == Btf.KIND_UNION) ? Optional.of(t)
                : Optional.empty();
    }

    private static long requireSymbol(GuestKernel kernel, String name) {
        return kernel.symbol(name).orElseThrow(() -> new KernelUnavailableException(
                "the kernel's symbols have no " + name + (kernel.kallsyms().isEmpty() ? " (no kallsyms)" : "")));
    }

    @Override
    public String toString() {
        List<String> s = new ArrayList<>();
        s.add(offsets);
        s.add("nr_cpu_ids " + perCpuOffset.length);
        return String.join(", ", s);
    }
}

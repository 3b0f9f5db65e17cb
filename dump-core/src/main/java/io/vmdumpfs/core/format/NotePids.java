package io.vmdumpfs.core.format;

import io.vmdumpfs.core.guest.Aarch64Registers;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.Vcpu;
import io.vmdumpfs.core.guest.Vcpus;
import io.vmdumpfs.core.guest.X86Registers;
import io.vmdumpfs.core.kernel.GuestKernel;
import io.vmdumpfs.core.kernel.KernelAddressException;
import io.vmdumpfs.core.kernel.KernelUnavailableException;
import io.vmdumpfs.core.kernel.RunningTasks;
import io.vmdumpfs.core.kernel.RunningTasks.CpuTask;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.function.Function;

/**
 * The {@code pr_pid} of each vCPU's NT_PRSTATUS note: the pid of the task the guest kernel was running on that
 * vCPU, as the kernel itself writes it ({@code crash_save_cpu}: {@code prstatus.common.pr_pid = current->pid}), where
 * the kernel can be read; else QEMU's {@code cpu_index + 1}.
 *
 * <p>Why not QEMU's value, when every other byte of the notes is QEMU's: readers take pr_pid as the kernel's. drgn
 * 0.0.22 (Debian 12's), asked for any task's stack, takes the NT_PRSTATUS note of the CPU the task last ran on
 * ({@code task->cpu}; note n = CPU n) and uses its registers when the note's pr_pid is the task's pid. With QEMU's
 * cpu + 1, a sleeping init (pid 1) that last ran on CPU 0 gets CPU 0's registers (the idle loop) instead of its own
 * saved stack, and the task actually running on a CPU does not get that CPU's registers. With the running task's
 * pid (0 for an idle CPU, whose idle task has pid 0) each gets what it should. QEMU is wrong here; we are right.
 *
 * <p>Which vCPU is which kernel CPU: on x86_64 the kernel's GS base on CPU n is {@code __per_cpu_offset[n]}; in
 * kernel mode it is the GS base, in user mode the swapped-out KERNEL_GS_BASE. On aarch64 it is TPIDR_EL1, found by
 * value among QEMU's system registers ({@link #runningAarch64}). Each vCPU must match exactly one CPU and no two the
 * same one ({@link RunningTasks} checks each CPU's run queue and task). When anything is missing or does not check
 * out — no BTF, a kernel we cannot read, an i386 guest (32-bit), a vCPU outside the kernel — every note keeps
 * QEMU's value and {@link #describe()} says why: never a mix.
 *
 * <p>Immutable.
 */
public final class NotePids {

    private static final System.Logger LOG = System.getLogger(NotePids.class.getName());

    private final int[] pids;
    private final List<Optional<CpuTask>> tasks;
    private final String source;

    private NotePids(int[] pids, List<Optional<CpuTask>> tasks, String source) {
        this.pids = pids;
        this.tasks = List.copyOf(tasks);
        this.source = source;
    }

    /**
     * Returns the pids for {@code dump}'s vCPUs: the running tasks' where the guest kernel tells them, else QEMU's.
     * Never throws; reads the kernel's kallsyms and BTF (tens of milliseconds), so formats share one
     * ({@link #shared}).
     */
    public static NotePids of(GuestDump dump) {
        return of(dump, GuestKernel::open);
    }

    /**
     * As {@link #of(GuestDump)}, with the guest kernel {@code kernel} opens (which may throw as it does): a shared
     * one, or one given symbols from elsewhere.
     */
    public static NotePids of(GuestDump dump, Function<GuestDump, GuestKernel> kernel) {
        Vcpus vcpus = dump.vcpus();
        if (vcpus.list().isEmpty()) {
            return qemus(vcpus, "no vCPU notes");
        }
        boolean x86 = vcpus.list().stream().allMatch(v -> v.registers() instanceof X86Registers);
        boolean arm = vcpus.list().stream().allMatch(v -> v.registers() instanceof Aarch64Registers);
        if (!x86 && !arm) {
            return qemus(vcpus, "no kernel CPU mapping for " + dump.platform().utsMachine() + " yet");
        }
        if (arm && vcpus.list().stream().anyMatch(v -> ((Aarch64Registers) v.registers()).sysregs().length == 0)) {
            return qemus(vcpus, "a vCPU's system registers are not in the core");
        }
        try {
            return running(vcpus, RunningTasks.open(kernel.apply(dump)));
        } catch (KernelUnavailableException | KernelAddressException e) {
            return qemus(vcpus, e.getMessage());
        } catch (RuntimeException e) {
            // a fault in reading the guest must not cost the user the notes: QEMU's values still hold
            LOG.log(System.Logger.Level.WARNING, dump.core().path() + ": NT_PRSTATUS pr_pid stays QEMU's", e);
            return qemus(vcpus, "reading the running tasks failed: " + e);
        }
    }

    /** Returns the one {@link NotePids} of {@code dump} in {@code ctx}, computed on first use. */
    public static NotePids shared(GuestDump dump, FormatContext ctx) {
        return ctx.shared(dump, NotePids.class, d -> of(d, ctx::kernel));
    }

    /** Returns QEMU's pids, cpu_index + 1, because {@code why}. */
    public static NotePids qemus(Vcpus vcpus, String why) {
        int[] pids = new int[vcpus.list().size()];
        List<Optional<CpuTask>> tasks = new ArrayList<>();
        for (int i = 0; i < pids.length; i++) {
            pids[i] = vcpus.list().get(i).index() + 1;
            tasks.add(Optional.empty());
        }
        return new NotePids(pids, tasks, "QEMU's cpu+1 (" + Objects.requireNonNull(why) + ")");
    }

    /** Maps each vCPU to its kernel CPU and reads what that CPU runs; see the class comment. */
    static NotePids running(Vcpus vcpus, RunningTasks rt) {
        if (vcpus.list().get(0).registers() instanceof Aarch64Registers) {
            return runningAarch64(vcpus, rt);
        }
        List<Vcpu> list = vcpus.list();
        int[] pids = new int[list.size()];
        List<Optional<CpuTask>> tasks = new ArrayList<>();
        boolean[] taken = new boolean[rt.cpuCount()];
        boolean identity = true;
        for (int i = 0; i < list.size(); i++) {
            Vcpu v = list.get(i);
            X86Registers r = (X86Registers) v.registers();
            OptionalInt cpu = kernelCpu(r, rt);
            if (cpu.isEmpty()) {
                return qemus(vcpus, "vCPU " + v.index() + ": neither its GS base 0x"
                        + Long.toHexString(r.segs()[X86Registers.R_GS].base()) + " nor KERNEL_GS_BASE "
                        + r.kernelGsBase().stream().mapToObj(g -> "0x" + Long.toHexString(g)).findFirst()
                                .orElse("(not found)") + " is a kernel CPU's per-CPU offset");
            }
            int n = cpu.getAsInt();
            if (taken[n]) {
                return qemus(vcpus, "two vCPUs have kernel CPU " + n + "'s per-CPU offset");
            }
            taken[n] = true;
            identity &= n == v.index();
            CpuTask t = rt.running(n);
            pids[i] = t.pid();
            tasks.add(Optional.of(t));
        }
        return new NotePids(pids, tasks, "running task's pid (" + rt.describe() + "; "
                + (identity ? "vCPU n is kernel CPU n" : "vCPUs are other kernel CPUs") + ", by GS base)");
    }

    /**
     * aarch64: the kernel keeps CPU n's {@code __per_cpu_offset[n]} in TPIDR_EL1 (TPIDR_EL2 under VHE), in every mode
     * (EL0 cannot write it). QEMU keeps it in CPUARMState's cp15.tpidr_el[], whose place changes with QEMU's version,
     * so it is found by value among the vCPU's raw system register words: the one place, the same in every vCPU,
     * where each vCPU holds a different kernel CPU's per-CPU offset. Several such places are accepted only when they
     * map the vCPUs alike (TPIDR_EL1 and a copy of it say the same).
     */
    private static NotePids runningAarch64(Vcpus vcpus, RunningTasks rt) {
        List<Vcpu> list = vcpus.list();
        List<long[]> words = new ArrayList<>();
        int at = ((Aarch64Registers) list.get(0).registers()).sysregsAt();
        int len = Integer.MAX_VALUE;
        for (Vcpu v : list) {
            Aarch64Registers r = (Aarch64Registers) v.registers();
            if (r.sysregsAt() != at) {
                return qemus(vcpus, "the vCPUs' system registers start at different places");
            }
            words.add(r.sysregs());
            len = Math.min(len, r.sysregs().length);
        }
        int[] mapping = null;
        int mappingAt = -1;
        String twoOnOne = null;
        for (int k = 0; k < len; k++) {
            int[] cpus = new int[list.size()];
            boolean[] taken = new boolean[rt.cpuCount()];
            boolean all = true;
            for (int i = 0; i < list.size() && all; i++) {
                long w = words.get(i)[k];
                OptionalInt cpu = w == 0 ? OptionalInt.empty() : rt.cpuWithPerCpuOffset(w);
                if (cpu.isEmpty()) {
                    all = false;
                } else if (taken[cpu.getAsInt()]) {
                    twoOnOne = "two vCPUs have kernel CPU " + cpu.getAsInt() + "'s per-CPU offset (CPUARMState +"
                            + (at + 8 * k) + ")";
                    all = false;
                } else {
                    taken[cpu.getAsInt()] = true;
                    cpus[i] = cpu.getAsInt();
                }
            }
            if (!all) {
                continue;
            }
            if (mapping != null && !Arrays.equals(mapping, cpus)) {
                return qemus(vcpus, "CPUARMState +" + mappingAt + " and +" + (at + 8 * k)
                        + " map the vCPUs to kernel CPUs differently");
            }
            if (mapping == null) {
                mapping = cpus;
                mappingAt = at + 8 * k;
            }
        }
        if (mapping == null) {
            return qemus(vcpus, twoOnOne != null ? twoOnOne : "no system register holds a kernel CPU's per-CPU offset"
                    + " in every vCPU (TPIDR_EL1 not found)");
        }
        int[] pids = new int[list.size()];
        List<Optional<CpuTask>> tasks = new ArrayList<>();
        boolean identity = true;
        for (int i = 0; i < list.size(); i++) {
            identity &= mapping[i] == list.get(i).index();
            CpuTask t = rt.running(mapping[i]);
            pids[i] = t.pid();
            tasks.add(Optional.of(t));
        }
        return new NotePids(pids, tasks, "running task's pid (" + rt.describe() + "; "
                + (identity ? "vCPU n is kernel CPU n" : "vCPUs are other kernel CPUs")
                + ", by TPIDR_EL1 at CPUARMState +" + mappingAt + ")");
    }

    /**
     * Returns the kernel CPU whose per-CPU offset is the vCPU's kernel GS base: its GS base in kernel mode, its
     * KERNEL_GS_BASE in user mode. Both are tried, so the instructions between kernel entry and swapgs do not matter
     * (a user GS base that equals a per-CPU offset would be a user pointer into the kernel's direct map).
     */
    private static OptionalInt kernelCpu(X86Registers r, RunningTasks rt) {
        long gs = r.segs()[X86Registers.R_GS].base();
        OptionalLong kgs = r.kernelGsBase();
        boolean kernelMode = (r.segs()[X86Registers.R_CS].selector() & 3) == 0;
        long first = kernelMode || kgs.isEmpty() ? gs : kgs.getAsLong();
        OptionalInt cpu = first == 0 ? OptionalInt.empty() : rt.cpuWithPerCpuOffset(first);
        if (cpu.isEmpty() && kgs.isPresent()) {
            long second = first == gs ? kgs.getAsLong() : gs;
            cpu = second == 0 ? OptionalInt.empty() : rt.cpuWithPerCpuOffset(second);
        }
        return cpu;
    }

    /** Returns the pr_pid of the vCPU at {@code position} in the vCPU list (QEMU's note order). */
    public int pid(int position) {
        return pids[position];
    }

    /** Returns true when the pids are the running tasks', false when they are QEMU's. */
    public boolean fromKernel() {
        return tasks.stream().anyMatch(Optional::isPresent);
    }

    /** Returns what the kernel CPU of the vCPU at {@code position} was running, when the pids are the kernel's. */
    public Optional<CpuTask> task(int position) {
        return tasks.get(position);
    }

    /**
     * Returns one line for {@code status} and {@code vmdumpfs info}: "running task's pid (BTF: …)" or "QEMU's cpu+1
     * (why)".
     */
    public String describe() {
        return source;
    }

    @Override
    public String toString() {
        return "pr_pid: " + source;
    }
}

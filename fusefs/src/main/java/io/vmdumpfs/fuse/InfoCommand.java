package io.vmdumpfs.fuse;

import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.IndexRepository;
import io.vmdumpfs.core.format.NotePids;
import io.vmdumpfs.core.format.kdump.DumpLevel;
import io.vmdumpfs.core.format.kdump.KdumpView;
import io.vmdumpfs.core.guest.AbsentRange;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.guest.RamCoverage;
import io.vmdumpfs.core.guest.Vcpu;
import io.vmdumpfs.core.guest.VmcoreInfo;
import io.vmdumpfs.core.kernel.KernelAddressException;
import io.vmdumpfs.core.kernel.KernelUnavailableException;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code vmdumpfs info CORE}: what the core holds, one "key: value" line each, for people and for grep. Needs no
 * FUSE. Values that the core does not reveal read "not found".
 */
@Command(name = "info", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Prints what CORE holds: guest architecture, RAM, blocks, QEMU version, vCPUs and what each "
                + "ran, the guest kernel's OSRELEASE and KERNELOFFSET from VMCOREINFO, and where the kernel's image, "
                + "direct map and symbols were found.")
final class InfoCommand implements Callable<Integer>, Main.HasDebug {

    static final String NOT_FOUND = "not found";

    @Mixin
    CoreOptions input;

    @Option(names = "--dump-level", paramLabel = "N", description = "also count the pages a kdump file of "
            + "makedumpfile's dump level N (1-31) leaves out, per kind; reads the guest's struct pages and every "
            + "page kept, to count the zero ones")
    String dumpLevel;

    private final PrintStream out;

    InfoCommand(PrintStream out) {
        this.out = out;
    }

    @Override
    public boolean debug() {
        return input.debug;
    }

    @Override
    public Integer call() throws IOException {
        DumpLevel level = dumpLevel == null ? null : MountOptions.parseDumpLevel("--dump-level", dumpLevel);
        try (GuestDump dump = input.open(true)) {
            // one context: the kernel (kallsyms, BTF) is read once for the report and the dump level's counts
            FormatContext ctx = new FormatContext(ChunkCache.NONE, IndexRepository.NONE,
                    Runtime.getRuntime().availableProcessors(), level == null ? DumpLevel.NONE : level);
            for (Map.Entry<String, String> e : describe(dump, ctx).entrySet()) {
                out.printf("%-13s %s%n", e.getKey() + ":", e.getValue());
            }
            out.flush();
            if (level != null) {
                Map<String, String> counts = KdumpView.describeDumpLevel(dump, ctx);
                int width = counts.keySet().stream().mapToInt(k -> k.length() + 1).max().orElse(1);
                for (Map.Entry<String, String> e : counts.entrySet()) {
                    out.printf("%-" + width + "s %s%n", e.getKey() + ":", e.getValue());
                }
                out.flush();
            }
        }
        return 0;
    }

    /** Returns the lines of the report, in order. */
    static Map<String, String> describe(GuestDump dump) {
        return describe(dump, FormatContext.uncached());
    }

    /** Returns the lines of the report, with the guest kernel and the notes' pids shared in {@code ctx}. */
    static Map<String, String> describe(GuestDump dump, FormatContext ctx) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("core", dump.core().path() + " (" + bytes(dump.core().size()) + ")");
        m.put("architecture", dump.platform().utsMachine());
        m.put("platform", dump.platform().describe() + "; from " + dump.platform().evidence());
        GuestMemory memory = dump.memory();
        long ram = memory.totalBytes();
        if (!memory.isPartial()) {
            m.put("RAM", bytes(ram) + " (" + ram + " bytes)");
        } else {
            // What the core holds, then what it lacks and where: a partial core is served for its part.
            m.put("RAM", bytes(ram) + " (" + ram + " bytes) of " + bytes(ram + memory.absentBytes())
                    + " in the core; " + bytes(memory.absentBytes()) + " absent");
            m.put("absent", RamCoverage.reasons(memory));
            List<AbsentRange> absent = memory.absent();
            for (int i = 0; i < absent.size() && i < RamCoverage.MAX_LISTED; i++) {
                m.put("absent " + i, RamCoverage.describe(absent.get(i)));
            }
            if (absent.size() > RamCoverage.MAX_LISTED) {
                m.put("absent …", (absent.size() - RamCoverage.MAX_LISTED) + " more ranges");
            }
        }
        m.put("blocks", dump.memory().blocks().size() + ", " + dump.blocksSource());
        m.put("QEMU", dump.qemuVersion().orElse(NOT_FOUND));
        m.put("vCPUs", dump.vcpus().describe());
        List<Vcpu> vcpus = dump.vcpus().list();
        NotePids pids = vcpus.isEmpty() ? null : NotePids.shared(dump, ctx);
        for (int i = 0; i < vcpus.size(); i++) {
            Vcpu v = vcpus.get(i);
            // index as QEMU numbers vCPUs (cpu_index); then what the guest kernel ran there, when it can be read
            m.put("vCPU " + v.index(), v.registers().mode() + " mode, " + v.registers().pcName() + " 0x"
                    + Long.toHexString(v.registers().pc()) + ", " + dump.vcpus().verdict()
                    + pids.task(i).map(t -> "; kernel CPU " + t.cpu() + " runs pid " + t.pid() + " (" + t.comm() + ")")
                            .orElse(""));
        }
        if (pids != null) {
            m.put("pr_pid", pids.describe());
        }
        Optional<VmcoreInfo> vi = dump.vmcoreinfo();
        m.put("OSRELEASE", vi.map(VmcoreInfo::osRelease).orElse(NOT_FOUND));
        m.put("KERNELOFFSET", vi.map(v -> v.get("KERNELOFFSET")).orElse(NOT_FOUND));
        m.put("VMCOREINFO", vi.map(v -> v.source() + ", at guest-physical 0x" + Long.toHexString(v.guestPaddr()))
                .orElse(NOT_FOUND));
        kernel(dump, ctx, m);
        List<String> files = new ArrayList<>();
        for (DumpFormat f : DumpFormat.values()) {
            if (f.availableFor(dump)) {
                files.add(f.fileName());
            }
        }
        m.put("files", String.join(" ", files));
        return m;
    }

    /**
     * Adds what the guest-kernel layer found ({@link io.vmdumpfs.core.kernel.GuestKernel#describe()}: page tables,
     * kernel image, direct map, symbols), one line each, or one "kernel" line saying why it cannot see the kernel.
     */
    private static void kernel(GuestDump dump, FormatContext ctx, Map<String, String> m) {
        try {
            for (String line : ctx.kernel(dump).describe()) {
                int colon = line.indexOf(": ");
                m.put(line.substring(0, colon), line.substring(colon + 2));
            }
        } catch (KernelUnavailableException | KernelAddressException e) {
            m.put("kernel", "not readable (" + e.getMessage() + ")");
        }
    }

    /** Returns {@code n} in the largest binary unit that keeps it at or above 1, e.g. "256 MiB", "1.5 GiB". */
    static String bytes(long n) {
        String[] units = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = n;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        if (u == 0) {
            return n + " bytes";
        }
        return (v == Math.floor(v) ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.1f", v)) + " " + units[u];
    }
}

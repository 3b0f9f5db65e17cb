package io.vmdumpfs.fuse.bench;

import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.RamDiscovery;
import io.vmdumpfs.core.guest.VcpuDiscovery;
import io.vmdumpfs.core.guest.Vcpus;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Times vCPU discovery ({@link VcpuDiscovery#discover}) in a warm JVM, for {@code scripts/bench.sh}: the part of
 * {@code GuestDumps.open} that finds every vCPU and reads its registers, on an opened core whose RAM was found.
 *
 * <pre>java -cp fusefs/target/vmdumpfs.jar:CLASSES io.vmdumpfs.fuse.bench.VcpuTimer [-w WARMUP] [-n RUNS] CORE...</pre>
 *
 * Prints one line per core: {@code CORE median_ms min_ms max_ms first_ms vcpus}, first_ms being the first call in
 * this JVM (cold classes and JIT) and vcpus the number found (0 when discovery failed).
 */
public final class VcpuTimer {

    private VcpuTimer() {
    }

    public static void main(String[] args) throws Exception {
        int warmup = 5;
        int runs = 15;
        List<Path> cores = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "-w" -> warmup = Integer.parseInt(args[++i]);
                case "-n" -> runs = Integer.parseInt(args[++i]);
                default -> cores.add(Path.of(args[i]));
            }
        }
        if (cores.isEmpty() || runs < 1 || warmup < 0) {
            System.err.println("usage: VcpuTimer [-w WARMUP] [-n RUNS] CORE...");
            System.exit(2);
        }
        List<ProcessCore> opened = new ArrayList<>();
        List<Long> hints = new ArrayList<>();
        for (Path c : cores) {
            ProcessCore pc = ProcessCore.open(c);
            opened.add(pc);
            hints.add(RamDiscovery.discover(pc).addressSpaceVaddr());
        }
        double[] first = new double[cores.size()];
        int[] found = new int[cores.size()];
        for (int c = 0; c < cores.size(); c++) {
            long t0 = System.nanoTime();
            Vcpus v = VcpuDiscovery.discover(opened.get(c), GuestArch.X86_64, hints.get(c));
            first[c] = (System.nanoTime() - t0) / 1e6;
            found[c] = v.list().size();
        }
        for (int w = 0; w < warmup; w++) {
            for (int c = 0; c < cores.size(); c++) {
                VcpuDiscovery.discover(opened.get(c), GuestArch.X86_64, hints.get(c));
            }
        }
        for (int c = 0; c < cores.size(); c++) {
            double[] t = new double[runs];
            for (int r = 0; r < runs; r++) {
                long t0 = System.nanoTime();
                VcpuDiscovery.discover(opened.get(c), GuestArch.X86_64, hints.get(c));
                t[r] = (System.nanoTime() - t0) / 1e6;
            }
            Arrays.sort(t);
            double median = runs % 2 == 1 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
            System.out.printf(Locale.ROOT, "%s %.1f %.1f %.1f %.1f %d%n", cores.get(c), median, t[0], t[runs - 1],
                    first[c], found[c]);
        }
        for (ProcessCore pc : opened) {
            pc.close();
        }
    }
}

package io.vmdumpfs.fuse.bench;

import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.guest.RamDiscovery;
import io.vmdumpfs.core.guest.VmcoreInfoFinder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Times guest-RAM discovery in a warm JVM, for {@code scripts/bench.sh}: what {@code vmdumpfs blocks} and a mount
 * spend in {@link GuestDumps#open} once JIT and class loading are out of the way.
 *
 * <pre>java -cp fusefs/target/vmdumpfs.jar:CLASSES io.vmdumpfs.fuse.bench.DiscoveryTimer [-w WARMUP] [-n RUNS] CORE...</pre>
 *
 * For each core, WARMUP (default 5) untimed opens of every core first, then RUNS (default 15) timed ones. Prints one
 * line per core, {@code CORE median_ms min_ms max_ms first_ms parse_ms discover_ms vmcoreinfo_ms}: first_ms is the
 * first open in this JVM (cold classes and JIT), the last three split the median-run's work into
 * {@link ProcessCore#open}, {@link RamDiscovery#discover} and {@link VmcoreInfoFinder#find} (medians, measured in a
 * separate loop with the same phases GuestDumps.open runs).
 */
public final class DiscoveryTimer {

    private DiscoveryTimer() {
    }

    public static void main(String[] args) throws IOException {
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
            System.err.println("usage: DiscoveryTimer [-w WARMUP] [-n RUNS] CORE...");
            System.exit(2);
        }
        double[] first = new double[cores.size()];
        for (int c = 0; c < cores.size(); c++) {
            first[c] = timeOpen(cores.get(c));
        }
        for (int w = 0; w < warmup; w++) {
            for (Path core : cores) {
                timeOpen(core);
                timePhases(core);
            }
        }
        for (int c = 0; c < cores.size(); c++) {
            Path core = cores.get(c);
            double[] total = new double[runs];
            double[][] phases = new double[3][runs];
            for (int r = 0; r < runs; r++) {
                total[r] = timeOpen(core);
                double[] p = timePhases(core);
                for (int k = 0; k < 3; k++) {
                    phases[k][r] = p[k];
                }
            }
            double[] sorted = total.clone();
            Arrays.sort(sorted);
            System.out.printf(Locale.ROOT, "%s %.1f %.1f %.1f %.1f %.1f %.1f %.1f%n", core, median(total), sorted[0],
                    sorted[runs - 1], first[c], median(phases[0]), median(phases[1]), median(phases[2]));
        }
    }

    /** Returns the milliseconds one {@link GuestDumps#open} (and close) of {@code core} takes. */
    private static double timeOpen(Path core) throws IOException {
        long t0 = System.nanoTime();
        GuestDump d = GuestDumps.open(core, Optional.empty());
        double ms = (System.nanoTime() - t0) / 1e6;
        d.close();
        return ms;
    }

    /** Returns the milliseconds of GuestDumps.open's three phases: parse the ELF core, find RAM, find VMCOREINFO. */
    private static double[] timePhases(Path core) throws IOException {
        long t0 = System.nanoTime();
        try (ProcessCore pc = ProcessCore.open(core)) {
            long t1 = System.nanoTime();
            RamDiscovery.Result r = RamDiscovery.discover(pc);
            long t2 = System.nanoTime();
            VmcoreInfoFinder.find(pc, new GuestMemory(pc.file(), r.blocks()), r.addressSpaceVaddr());
            long t3 = System.nanoTime();
            return new double[] {(t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6};
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
}

package io.vmdumpfs.core.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The short fuzzing run of CI: {@link AnyTargetFuzzTest} (every target behind one) in fuzzing mode for
 * {@code fuzz.seconds} (30 s) in one JVM through {@link FuzzMain}. With {@code -Dhardening.full=true} each target
 * also gets its own JVM and {@code fuzz.seconds} (then 60 s by default), since Jazzer fuzzes one test per JVM.
 *
 * <p>The generated corpus is kept in target/fuzz-corpus, so runs on one checkout build on each other. Findings go to
 * target/fuzz-base/src/test/resources/… (CI never writes into the source tree) and fail the test with their path;
 * move one to src/test/resources/io/vmdumpfs/core/fuzz/&lt;Class&gt;Inputs/&lt;method&gt;/ to keep it as a
 * regression input (scripts/fuzz.sh writes there directly).
 *
 * <p>Writes target/hardening/fuzz.properties for scripts/hardening.sh.
 */
class FuzzIT {

    /** The combined target CI fuzzes. */
    static final String[] ANY = {"AnyTargetFuzzTest", "anyTarget"};

    /** Every single fuzz test: class, method. */
    static final List<String[]> TARGETS = List.of(
            new String[] {"ElfReaderFuzzTest", "processCore_anyBytes"},
            new String[] {"DiscoveryFuzzTest", "discover_damagedStructures"},
            new String[] {"VmcoreInfoFuzzTest", "vmcoreinfo_anyNoteBytes"},
            new String[] {"VmcoreInfoFuzzTest", "vmcoreinfo_damagedInGuestRam"},
            new String[] {"BlocksTextFuzzTest", "parse_anyText"});

    private static final Pattern COUNT = Pattern.compile(
            "FUZZ-COUNT target=(\\S+) executions=(\\d+) rejected=(\\d+)");
    private static final Pattern RESULT = Pattern.compile(
            "FUZZ-RESULT test=(\\S+) seconds=(\\S+) executions=(\\d+) rejected=(\\d+) findings=(\\d+)");
    private static final Map<String, String> SUMMARY = new LinkedHashMap<>();

    @Test
    void fuzz_everyTarget_noFindings() throws Exception {
        boolean full = Boolean.getBoolean("hardening.full");
        int seconds = Integer.getInteger("fuzz.seconds", full ? 60 : 30);
        List<String[]> runs = new ArrayList<>();
        runs.add(ANY);
        if (full) {
            runs.addAll(TARGETS);
        }
        Map<String, long[]> perTarget = new TreeMap<>();
        Path target = Path.of("target").toAbsolutePath();
        Path base = target.resolve("fuzz-base");
        long executions = 0;
        long findings = 0;
        List<String> problems = new ArrayList<>();
        long t0 = System.nanoTime();
        for (String[] t : runs) {
            String cls = FuzzIT.class.getPackageName() + "." + t[0];
            Path corpus = target.resolve("fuzz-corpus").resolve(t[0]).resolve(t[1]);
            Path log = Files.createDirectories(target.resolve("fuzz-logs")).resolve(t[0] + "-" + t[1] + ".log");
            List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx2g", "-cp", System.getProperty("java.class.path"), FuzzMain.class.getName(),
                    cls, t[1], Integer.toString(seconds), base.toString(), corpus.toString());
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
            pb.environment().put("JAZZER_FUZZ", "1");
            Process p = pb.start();
            // Start-up (the Jazzer agent scans the class path) takes 10-30 s on two cores.
            if (!p.waitFor(seconds + 300L, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail(t[0] + "#" + t[1] + " did not end; see " + log);
            }
            String out = Files.readString(log, StandardCharsets.UTF_8);
            Matcher m = RESULT.matcher(out);
            if (!m.find()) {
                problems.add(t[0] + "#" + t[1] + ": no result line (exit " + p.exitValue() + "); see " + log);
                findings++;
                continue;
            }
            Matcher cm = COUNT.matcher(out);
            while (cm.find()) {
                long[] c = perTarget.computeIfAbsent(cm.group(1), k -> new long[2]);
                c[0] += Long.parseLong(cm.group(2));
                c[1] += Long.parseLong(cm.group(3));
            }
            long n = Long.parseLong(m.group(3));
            long f = Long.parseLong(m.group(5));
            executions += n;
            findings += f;
            SUMMARY.put("fuzz.run." + t[0] + "." + t[1] + ".executions", Long.toString(n));
            SUMMARY.put("fuzz.run." + t[0] + "." + t[1] + ".findings", Long.toString(f));
            System.out.printf("FuzzIT: %s#%s %d executions in %s s, %d findings%n", t[0], t[1], n, m.group(2), f);
            if (f > 0 || p.exitValue() != 0) {
                problems.add(t[0] + "#" + t[1] + ": " + f + " finding(s); inputs under " + base
                        + "/src/test/resources, log " + log);
            }
        }
        perTarget.forEach((k, c) -> {
            SUMMARY.put("fuzz.target." + k + ".executions", Long.toString(c[0]));
            SUMMARY.put("fuzz.target." + k + ".rejected", Long.toString(c[1]));
        });
        SUMMARY.put("fuzz.mode", full ? "full" : "ci");
        SUMMARY.put("fuzz.seconds_per_run", Integer.toString(seconds));
        SUMMARY.put("fuzz.executions", Long.toString(executions));
        SUMMARY.put("fuzz.findings", Long.toString(findings));
        SUMMARY.put("fuzz.regression_inputs", Long.toString(regressionInputs()));
        SUMMARY.put("fuzz.wall_seconds", Long.toString((System.nanoTime() - t0) / 1_000_000_000L));
        assertEquals(List.of(), problems, "fuzz findings");
        assertTrue(executions > 0, "the fuzzers ran");
    }

    /** Returns how many saved inputs regression mode replays (seeds and kept findings). */
    static long regressionInputs() throws IOException {
        Path dir = Path.of("src/test/resources/io/vmdumpfs/core/fuzz");
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).count();
        }
    }

    @AfterAll
    static void writeSummary() throws IOException {
        Path out = Files.createDirectories(Path.of("target", "hardening")).resolve("fuzz.properties");
        StringBuilder sb = new StringBuilder("# written by " + FuzzIT.class.getName() + "\n");
        SUMMARY.forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
        Files.writeString(out, sb.toString());
    }
}

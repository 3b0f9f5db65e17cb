package io.vmdumpfs.core.fuzz;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Runs ONE fuzz test in fuzzing mode for a fixed time, the way {@code scripts/fuzz.sh} and {@link FuzzIT} need it:
 * Jazzer fuzzes only one test per JVM, and its duration is otherwise fixed by the annotation.
 *
 * <pre>
 * JAZZER_FUZZ=1 java -cp TESTCLASSPATH io.vmdumpfs.core.fuzz.FuzzMain CLASS METHOD SECONDS BASEDIR CORPUSDIR
 * </pre>
 *
 * <p>BASEDIR is where Jazzer looks for {@code src/test/resources/…/<Class>Inputs/<method>/} to store findings
 * (the dump-core module for scripts/fuzz.sh, so that findings become regression inputs; a directory under target/
 * for CI, so that CI never writes into the source tree). CORPUSDIR keeps the generated corpus between runs.
 *
 * <p>Prints {@code FUZZ-COUNT target=T executions=N rejected=R} per target body that ran (several for
 * {@link AnyTargetFuzzTest}), then {@code FUZZ-RESULT test=C#m seconds=S executions=N rejected=R findings=F}, and exits
 * 0 when the run found nothing, 1 otherwise. "rejected" counts inputs that ended in the expected BadCoreException.
 */
public final class FuzzMain {

    /** libFuzzer's per-input limit: an input slower than this is reported as a hang. */
    static final int INPUT_TIMEOUT_SECONDS = (int) FuzzSupport.INPUT_TIMEOUT.toSeconds();
    /** Longest input: room for a compact core's headers and notes, or dozens of structure edits. */
    static final int MAX_LEN = 4096;

    private FuzzMain() {
    }

    public static void main(String[] args) throws IOException, ClassNotFoundException {
        if (args.length != 5) {
            System.err.println("usage: FuzzMain CLASS METHOD SECONDS BASEDIR CORPUSDIR");
            System.exit(2);
        }
        if (System.getenv("JAZZER_FUZZ") == null || System.getenv("JAZZER_FUZZ").isEmpty()) {
            System.err.println("FuzzMain: set JAZZER_FUZZ=1, or Jazzer only replays the saved inputs");
            System.exit(2);
        }
        String cls = args[0];
        String method = args[1];
        int seconds = Integer.parseInt(args[2]);
        Path corpus = Files.createDirectories(Path.of(args[4]));
        // libFuzzer writes findings under -artifact_prefix, which Jazzer points at BASEDIR's inputs directory.
        Files.createDirectories(Path.of(args[3], "src", "test", "resources"));
        Map<String, String> config = new LinkedHashMap<>();
        // libFuzzer's arguments: argv[0], the corpus directory (written to), then flags.
        config.put("jazzer.internal.arg.0", "vmdumpfs-fuzz");
        config.put("jazzer.internal.arg.1", corpus.toAbsolutePath().toString());
        config.put("jazzer.internal.arg.2", "-max_total_time=" + seconds);
        config.put("jazzer.internal.arg.3", "-timeout=" + INPUT_TIMEOUT_SECONDS);
        // Otherwise libFuzzer caps inputs at the largest seed (64 bytes for the structure damagers: few edits).
        config.put("jazzer.internal.arg.4", "-max_len=" + MAX_LEN);
        config.put("jazzer.internal.basedir", Path.of(args[3]).toAbsolutePath().toString());
        // Coverage for our code, whether it comes from target/classes or the module jar (failsafe).
        config.put("jazzer.instrument", "io.vmdumpfs.**");
        // By Method, not by name: a fuzz test's parameter types are part of its JUnit identity.
        Class<?> testClass = Class.forName(cls);
        java.lang.reflect.Method target = java.util.Arrays.stream(testClass.getDeclaredMethods())
                .filter(m -> m.getName().equals(method)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no method " + method + " in " + cls));
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectMethod(testClass, target))
                .configurationParameters(config)
                .build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        long t0 = System.nanoTime();
        launcher.execute(request, listener);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        TestExecutionSummary s = listener.getSummary();
        for (TestExecutionSummary.Failure f : s.getFailures()) {
            System.err.println("FUZZ-FINDING " + f.getTestIdentifier().getDisplayName() + ": " + f.getException());
            f.getException().printStackTrace();
        }
        long executions = 0;
        long rejected = 0;
        for (Map.Entry<String, long[]> c : FuzzSupport.counts().entrySet()) {
            executions += c.getValue()[0];
            rejected += c.getValue()[1];
            System.out.printf("FUZZ-COUNT target=%s executions=%d rejected=%d%n", c.getKey(), c.getValue()[0],
                    c.getValue()[1]);
        }
        long found = s.getTotalFailureCount();
        if (s.getTestsSucceededCount() + found == 0) {
            System.err.println("FUZZ-FINDING no test ran: " + cls + "#" + method);
            found = Math.max(found, 1);
        }
        System.out.printf("FUZZ-RESULT test=%s#%s seconds=%.1f executions=%d rejected=%d findings=%d%n",
                cls.substring(cls.lastIndexOf('.') + 1), method, ms / 1000.0, executions, rejected, found);
        System.out.flush();
        System.exit(found == 0 ? 0 : 1);
    }
}

package io.vmdumpfs.hardening;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.vmdumpfs.core.testing.QemuFixture;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.opentest4j.AssertionFailedError;

/**
 * Runs the {@code vmdumpfs} command line two ways: in this JVM through the entry point {@code main} uses
 * ({@code io.vmdumpfs.fuse.Main.run(String[], PrintStream, PrintStream)}, which returns the exit code instead of
 * exiting), and as a user does, {@code java -jar fusefs/target/vmdumpfs.jar} in a child process.
 *
 * <p>In-process runs also capture whatever reaches {@link System#out} and {@link System#err} directly (a stray
 * {@code printStackTrace()} would), so a case that prints more than its one line is caught. They run one at a time:
 * the capture swaps the JVM-wide streams.
 */
final class Cli {

    /** An in-process run must end within this: ~0.5 s is normal, the longest legitimate scan a few seconds. */
    static final Duration IN_PROCESS_TIMEOUT = Duration.ofSeconds(30);
    /** A child JVM (mount included) must end within this. */
    static final Duration PROCESS_TIMEOUT = Duration.ofSeconds(90);
    /** Longer than any message we print for a bad core: a long path plus a sentence. */
    static final int SHORT_LINE = 400;

    /** The exit code recorded when an exception escaped Main.run (a real process would die with a stack trace). */
    static final int CRASHED = -2;

    private static final Method RUN;

    static {
        try {
            Class<?> main = Class.forName("io.vmdumpfs.fuse.Main");
            RUN = main.getDeclaredMethod("run", String[].class, PrintStream.class, PrintStream.class);
            RUN.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError("io.vmdumpfs.fuse.Main.run(String[], PrintStream, PrintStream) "
                    + "is the in-process entry point these tests use: " + e);
        }
    }

    private Cli() {
    }

    /** What one run did. {@code stray} is output that bypassed the command's streams (in-process only). */
    record Result(int rc, String out, String err, String stray, long millis, boolean timedOut) {

        /**
         * Returns null when this is the error contract for bad input, else what is wrong: exit 2, exactly one line on
         * stderr starting "vmdumpfs: ", short, no stack trace or exception class, no "internal error" (an unexpected
         * exception), nothing on stdout.
         */
        String shortErrorProblem() {
            if (timedOut) {
                return "hang (no exit within the time limit)";
            }
            if (rc != 2) {
                return "exit " + rc + " instead of 2";
            }
            String all = out + err + stray;
            if (all.contains("\tat ") || all.contains("Exception") || all.contains("Error:")
                    || all.contains("internal error")) {
                return "stack trace or unexpected exception: " + firstLines(all);
            }
            if (!out.isEmpty() || !stray.isEmpty()) {
                return "output besides the error line: " + firstLines(out + stray);
            }
            if (err.lines().count() != 1 || !err.endsWith("\n")) {
                return "not exactly one line on stderr: " + firstLines(err);
            }
            if (!err.startsWith("vmdumpfs: ")) {
                return "error line does not start with 'vmdumpfs: ': " + firstLines(err);
            }
            if (err.length() > SHORT_LINE) {
                return "error line longer than " + SHORT_LINE + " characters: " + firstLines(err);
            }
            return null;
        }

        /** Returns true when the command crashed: an exception escaped in process, or a JVM died of a signal. */
        boolean crashed() {
            return rc == CRASHED || rc > 128;
        }

        /** Returns true when the output has a Java stack trace or exception name. */
        boolean hasStackTrace() {
            String all = out + err + stray;
            return all.contains("\tat ") || all.contains("Exception") || all.contains("internal error");
        }
    }

    static String firstLines(String s) {
        List<String> l = s.lines().limit(4).toList();
        return String.join(" | ", l);
    }

    /** Runs {@code vmdumpfs ARGS} in this JVM under {@link #IN_PROCESS_TIMEOUT}. */
    static synchronized Result inProcess(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        ByteArrayOutputStream stray = new ByteArrayOutputStream();
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        PrintStream strayStream = new PrintStream(stray, true, StandardCharsets.UTF_8);
        long t0 = System.nanoTime();
        int rc;
        boolean timedOut = false;
        System.setOut(strayStream);
        System.setErr(strayStream);
        try {
            rc = assertTimeoutPreemptively(IN_PROCESS_TIMEOUT, () -> invoke(args,
                    new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8)));
        } catch (AssertionFailedError timeout) {
            rc = -1;
            timedOut = true;
        } catch (Throwable escaped) {
            // Main.run lets nothing out; something that does is a crash of the command line.
            rc = CRASHED;
            escaped.printStackTrace(strayStream);
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        return new Result(rc, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8),
                stray.toString(StandardCharsets.UTF_8), ms, timedOut);
    }

    private static int invoke(String[] args, PrintStream out, PrintStream err) throws Throwable {
        try {
            return (Integer) RUN.invoke(null, args, out, err);
        } catch (InvocationTargetException e) {
            // Main.run catches everything; anything escaping it is a crash we want to see whole.
            throw e.getCause();
        }
    }

    /**
     * Returns fusefs/target/vmdumpfs.jar (or the jar the system property {@code vmdumpfs.jar} names), or fails:
     * failsafe runs after package, so it must exist.
     */
    static Path jar() {
        String override = System.getProperty("vmdumpfs.jar");
        Path jar = override != null ? Path.of(override) : QemuFixture.repoRoot().resolve("fusefs/target/vmdumpfs.jar");
        if (!Files.isRegularFile(jar)) {
            throw new AssertionError(jar + " missing: run mvn package first (failsafe runs after package)");
        }
        return jar;
    }

    /** Runs {@code java -jar vmdumpfs.jar ARGS} in a child process, like a user. */
    static Result process(Path tmp, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(javaBinary(), "-XX:+UseSerialGC", "-jar", jar().toString()));
        cmd.addAll(List.of(args));
        return command(tmp, cmd, PROCESS_TIMEOUT);
    }

    /** Runs {@code cmd} with stdin from /dev/null and its output in files under {@code tmp}. */
    static Result command(Path tmp, List<String> cmd, Duration timeout) throws IOException, InterruptedException {
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Path err = Files.createTempFile(tmp, "err", ".txt");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("LC_ALL", "C");
        long t0 = System.nanoTime();
        Process p = pb.start();
        boolean done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (!done) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        Result r = new Result(done ? p.exitValue() : -1, Files.readString(out), Files.readString(err), "", ms, !done);
        Files.deleteIfExists(out);
        Files.deleteIfExists(err);
        return r;
    }

    /** Runs a bash script (LC_ALL=C, so error messages are the English ones tests look for). */
    static Result sh(Path tmp, String script) throws IOException, InterruptedException {
        return command(tmp, List.of("bash", "-c", script), PROCESS_TIMEOUT);
    }

    static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }
}

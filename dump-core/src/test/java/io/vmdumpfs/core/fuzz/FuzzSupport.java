package io.vmdumpfs.core.fuzz;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.vmdumpfs.core.BadCoreException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;

/**
 * What every fuzz target in this package shares: the invariant ("a result or a {@link BadCoreException}, nothing
 * else, never a hang"), a scratch file per target for the readers that need a path, and execution counters that
 * {@link FuzzMain} reports.
 *
 * <p>Hangs: in fuzzing mode libFuzzer's {@code -timeout} (set by {@link FuzzMain}) turns a slow input into a finding;
 * in regression mode (plain {@code mvn test}) each input runs under {@link #INPUT_TIMEOUT} here, because JUnit's
 * {@code @Timeout} on a fuzz test would also bound the whole fuzzing run.
 *
 * <p>Not thread-safe per target: Jazzer runs one input at a time.
 */
final class FuzzSupport {

    /** One input must finish well within this; the slowest legitimate input takes milliseconds. */
    static final Duration INPUT_TIMEOUT = Duration.ofSeconds(10);

    private static final boolean FUZZING = System.getenv("JAZZER_FUZZ") != null && !System.getenv("JAZZER_FUZZ").isEmpty();
    private static final Map<String, LongAdder> EXECUTIONS = new ConcurrentHashMap<>();
    private static final Map<String, LongAdder> REJECTED = new ConcurrentHashMap<>();
    private static Path scratchDir;

    private FuzzSupport() {
    }

    /** The body of a fuzz target. */
    @FunctionalInterface
    interface Body {
        void run() throws Exception;
    }

    /**
     * Runs {@code body} for target {@code name}: a {@link BadCoreException} is an accepted outcome (counted as a
     * rejection), any other exception or error propagates and becomes a finding.
     */
    static void check(String name, Body body) {
        EXECUTIONS.computeIfAbsent(name, k -> new LongAdder()).increment();
        Runnable guarded = () -> {
            try {
                body.run();
            } catch (BadCoreException expected) {
                REJECTED.computeIfAbsent(name, k -> new LongAdder()).increment();
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Exception e) {
                throw new AssertionError("checked exception escaped: " + e, e);
            }
        };
        if (FUZZING) {
            guarded.run();
        } else {
            assertTimeoutPreemptively(INPUT_TIMEOUT, guarded::run, () -> name + ": input took longer than " + INPUT_TIMEOUT);
        }
    }

    /** Returns executions and rejections per target in this JVM, e.g. {"ElfReaderFuzzTest": [1200, 1100]}. */
    static Map<String, long[]> counts() {
        Map<String, long[]> m = new TreeMap<>();
        EXECUTIONS.forEach((k, v) -> m.put(k, new long[] {v.sum(), REJECTED.getOrDefault(k, new LongAdder()).sum()}));
        return m;
    }

    /** Returns a file path private to this JVM for {@code name}; the directory goes away when the JVM exits. */
    static synchronized Path scratch(String name) {
        try {
            if (scratchDir == null) {
                scratchDir = Files.createTempDirectory("vmdumpfs-fuzz-");
                Path dir = scratchDir;
                Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir)));
            }
            return scratchDir.resolve(name);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Replaces the content of {@code file} with {@code bytes}. */
    static void writeFile(Path file, byte[] bytes) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException ignored) {
            // best effort at exit
        }
    }
}

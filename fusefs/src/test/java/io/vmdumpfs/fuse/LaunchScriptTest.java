package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.cache.CaffeineChunkCache;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launchers' launch.sh passes the JVM options {@link JvmOptions} wrote, heap included, and computes none; the JVM
 * restarts itself when the launcher's heap does not fit its mount, so a drift would cost every mount ~0.3 s unseen.
 */
class LaunchScriptTest {

    private static final Path SCRIPT = Path.of("src/main/sh/launch.sh"); // tests run in the module directory

    @TempDir
    Path tmp;

    /** Returns what launch.sh passes to Java {@code major} from the options file {@code text}, one option a line. */
    private List<String> shellOptions(String text, int major) throws IOException, InterruptedException {
        Path file = Files.writeString(tmp.resolve("jvm-options"), text);
        Process p = new ProcessBuilder("sh", "-c", ". \"$1\"; vmdumpfs_jvm_options \"$2\" \"$3\"", "sh",
                SCRIPT.toAbsolutePath().toString(), file.toString(), Integer.toString(major))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return List.of(out.strip().split(" +"));
    }

    @Test
    void heapConstants_sameAsMountCommand() throws Exception {
        List<String> passed = shellOptions(JvmOptions.fileText(), 17);
        assertTrue(passed.contains("-Xmn" + JvmOptions.YOUNG_MIB + "m"), passed.toString());
        long cacheMib = CaffeineChunkCache.defaultBytes() >> 20;
        assertTrue(passed.contains("-Xmx" + (cacheMib + JvmOptions.INDEX_ALLOWANCE_MIB + JvmOptions.HEADROOM_MIB) + "m"),
                passed.toString());
    }

    @Test
    void jvmOptions_java17_exactlyWhatJavaWouldUse() throws Exception {
        assertEquals(JvmOptions.forJava(17, JvmOptions.defaultHeapMib()),
                shellOptions(JvmOptions.fileText(), 17));
    }

    @Test
    void jvmOptions_java25_getsTheOptionsFromJava23On() throws Exception {
        List<String> passed = shellOptions(JvmOptions.fileText(), 25);
        assertEquals(JvmOptions.forJava(25, JvmOptions.defaultHeapMib()), passed);
        assertTrue(passed.contains("--sun-misc-unsafe-memory-access=allow"), passed.toString());
        assertFalse(shellOptions(JvmOptions.fileText(), 21).contains("--sun-misc-unsafe-memory-access=allow"));
    }

    @Test
    void jvmOptions_defaultMount_fitsWithoutRestart() {
        long given = JvmOptions.defaultHeapMib();
        long cache = CaffeineChunkCache.defaultBytes();
        assertTrue(JvmOptions.fits(given, JvmOptions.heapMib(cache, 0)), "an empty core");
        assertTrue(JvmOptions.fits(given, JvmOptions.heapMib(cache, JvmOptions.indexBytes(16L << 30, 1))),
                "a core holding 16 GiB");
        assertFalse(JvmOptions.fits(given, JvmOptions.heapMib(cache, JvmOptions.indexBytes(17L << 30, 1))),
                "a core holding 17 GiB needs more");
        assertFalse(JvmOptions.fits(given, JvmOptions.heapMib(64L << 20, 0)), "cache_size=64M: far less");
    }
}

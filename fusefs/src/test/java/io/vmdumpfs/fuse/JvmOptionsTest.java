package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.cache.CaffeineChunkCache;
import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.testing.QemuFixture;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JvmOptionsTest {

    @TempDir
    Path tmp;

    @Test
    void heapMib_cacheIndexesAndHeadroom() {
        assertEquals(64 + JvmOptions.HEADROOM_MIB, JvmOptions.heapMib(64L << 20, 0));
        // 8 bytes of index per 4 KiB page of data and 72 per MiB: a core holding 4 GiB adds 8.3 MiB
        assertEquals(64 + 8 + JvmOptions.HEADROOM_MIB,
                JvmOptions.heapMib(64L << 20, JvmOptions.indexBytes(4L << 30, 1)));
    }

    @Test
    void indexBytes_followTheData() {
        assertEquals(0, JvmOptions.indexBytes(0, 0));
        assertEquals(8 + 72, JvmOptions.indexBytes(4096, 1), "one page: its sizes and its chunk");
        assertEquals(4 * 8 + 4 * 72, JvmOptions.indexBytes(4 * 4096, 4), "four scattered pages: four chunks");
        assertEquals(256 * 8 + 3 * 72, JvmOptions.indexBytes(1 << 20, 1), "1 MiB in one run: up to 3 chunks");
        // the 1 TiB guest stopped before it ran: 133 MB of data (loader writes, QEMU's own memory) in ~200 runs
        assertTrue(JvmOptions.indexBytes(133L << 20, 200) < 1 << 20);
    }

    /**
     * A sparse core of 1 TiB holding a few MiB (as the kernel writes one of a guest that barely ran) gets the heap of
     * a default mount: no restart of the launcher's JVM. Counting the core's apparent size, it asked for 2 GiB more.
     */
    @Test
    void heapMib_sparseTerabyteCore_fitsTheLaunchersHeap() throws IOException {
        Path core = tmp.resolve("sparse.core");
        try (RandomAccessFile f = new RandomAccessFile(core.toFile(), "rw")) {
            f.setLength(1L << 40);
            for (long at : new long[] {0, 1L << 30, 700L << 30, (1L << 40) - (1 << 20)}) {
                f.seek(at);
                f.write(new byte[1 << 20]);
            }
        }
        try (CoreFile f = CoreFile.open(core)) {
            QemuFixture.require(f.dataRuns().dataBytes() < 1L << 30, "this file system does not report holes");
        }
        long given = JvmOptions.defaultHeapMib();
        long needed = JvmOptions.heapMib(OptionalLong.empty(), core);
        assertTrue(needed <= JvmOptions.heapMib(CaffeineChunkCache.defaultBytes(), 0) + 1, needed + " MiB");
        assertTrue(JvmOptions.fits(given, needed), given + " MiB given, " + needed + " MiB needed");
    }

    @Test
    void fits_neededUpToTheIndexAllowance() {
        assertTrue(JvmOptions.fits(500, 500));
        assertTrue(JvmOptions.fits(500 + JvmOptions.INDEX_ALLOWANCE_MIB, 500));
        assertFalse(JvmOptions.fits(500 + JvmOptions.INDEX_ALLOWANCE_MIB + 1, 500), "too much: garbage piles up");
        assertFalse(JvmOptions.fits(499, 500), "too little: out of memory");
    }

    @Test
    void heapMib_options_lastXmxWins() {
        assertEquals(OptionalLong.of(300), JvmOptions.heapMib(List.of("-Xmx200m", "-Xmn48m", "-Xmx300m")));
        assertEquals(OptionalLong.empty(), JvmOptions.heapMib(List.of("-XX:+UseSerialGC", "-Xmx2g")));
    }

    @Test
    void forJava_optionsFromTheirVersionOn() {
        assertFalse(JvmOptions.forJava(17, 100).contains("--sun-misc-unsafe-memory-access=allow"));
        assertTrue(JvmOptions.forJava(23, 100).contains("--sun-misc-unsafe-memory-access=allow"));
        List<String> o = JvmOptions.forJava(17, 100);
        assertEquals(List.of("-Xmx100m", "-Xmn" + JvmOptions.YOUNG_MIB + "m"), o.subList(o.size() - 2, o.size()));
    }

    @Test
    void withHeap_launcherOptionsReplaced_usersKeptAfterOurs() {
        List<String> launcher = JvmOptions.forJava(17, 1184);
        List<String> jvmArgs = new java.util.ArrayList<>(launcher);
        jvmArgs.addAll(List.of("-XX:SharedArchiveFile=/a.jsa", "-Xmx8g", "-jar", "/v.jar"));
        List<String> got = JvmOptions.withHeap(jvmArgs, launcher, 192);
        List<String> ours = JvmOptions.forJava(Runtime.version().feature(), 192);
        assertEquals(ours, got.subList(0, ours.size()));
        assertEquals(List.of("-XX:SharedArchiveFile=/a.jsa", "-Xmx8g", "-jar", "/v.jar"), got.subList(ours.size(), got.size()));
    }

    @Test
    void fileText_everyOptionAfterItsVersion_defaultHeapLast() {
        List<String> lines = JvmOptions.fileText().lines().filter(l -> !l.startsWith("#")).toList();
        assertEquals(JvmOptions.COMMON.size() + 2, lines.size());
        assertEquals("17 -Xmx" + JvmOptions.defaultHeapMib() + "m", lines.get(lines.size() - 2));
        assertTrue(lines.stream().allMatch(l -> l.matches("[0-9]+ -\\S+")), lines.toString());
    }
}

package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class JvmOptionsTest {

    @Test
    void heapMib_cacheIndexesAndHeadroom() {
        assertEquals(64 + JvmOptions.HEADROOM_MIB, JvmOptions.heapMib(64L << 20, 0));
        // 8 bytes of index per 4 KiB page: a 4 GiB core adds 8 MiB
        assertEquals(64 + 8 + JvmOptions.HEADROOM_MIB, JvmOptions.heapMib(64L << 20, 4L << 30));
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

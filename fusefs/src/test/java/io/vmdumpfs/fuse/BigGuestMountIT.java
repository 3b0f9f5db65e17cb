package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.vmdumpfs.core.testing.Crash;
import io.vmdumpfs.core.testing.QemuFixture;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Big guests through the launcher, as a user mounts them: a 64 GiB guest that booted Debian's kernel and a 1 TiB guest
 * stopped before it ran, both with kernel-written (sparse) cores. Each is served by the JVM the launcher started, with
 * the launcher's heap: the kdump indexes cost what the core's data costs, not what the guest's size would. crash reads
 * the 64 GiB guest from vmcore.elf and from vmcore.kdump-zlib alike; the 1 TiB guest lists every file with its size.
 */
class BigGuestMountIT {

    @TempDir
    Path tmp;

    private static Path repoRoot;
    private final List<Path> mounted = new ArrayList<>();

    @BeforeAll
    static void prerequisites() {
        if (!Files.exists(Preflight.DEV_FUSE)) {
            Prerequisites.missing("/dev/fuse missing (modprobe fuse)");
        }
        if (Preflight.findLibrary(Preflight.librarySearchPath(), Preflight.LIBFUSE2).isEmpty()) {
            Prerequisites.missing("libfuse.so.2 missing (apt-get install libfuse2)");
        }
        repoRoot = QemuFixture.repoRoot();
        if (!Files.isRegularFile(repoRoot.resolve("fusefs/target/vmdumpfs.jar"))) {
            fail("fusefs/target/vmdumpfs.jar missing: run mvn package first (failsafe runs after package)");
        }
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (Path mnt : mounted) {
            if (MountIT.isMounted(mnt)) {
                Fusermount.unmount(mnt, true);
            }
            for (long pid : Processes.mentioning(mnt.toString())) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }

    /** Runs {@code cmd} with {@code env} added; returns its stdout, failing on a non-zero exit. */
    private String run(List<String> cmd, Map<String, String> env) throws IOException, InterruptedException {
        Path out = Files.createTempFile(tmp, "out", ".txt");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            fail("timed out: " + cmd);
        }
        String text = Files.readString(out);
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ": " + text);
        return text;
    }

    /**
     * Mounts {@code core} with the launcher (./vmdumpfs CORE MNT), indexes in a private cache directory so each
     * kdump file's index is built here; returns the mount point once mounted.
     */
    private Path mount(Path core, String name) throws Exception {
        Path mnt = Files.createDirectory(tmp.resolve(name)).toRealPath();
        mounted.add(mnt);
        run(List.of(repoRoot.resolve("vmdumpfs").toString(), core.toString(), mnt.toString()),
                Map.of("VMDUMPFS_NO_BUILD", "1", "XDG_CACHE_HOME", tmp.resolve("xdg").toString()));
        assertTrue(MountIT.isMounted(mnt), "mounted when the launcher returns");
        return mnt;
    }

    /**
     * Asserts that the launcher's JVM serves {@code mnt} with the launcher's heap: the mount's heap rule found it
     * enough (JvmOptions.fits), so the JVM neither restarted in place nor re-executed itself with another.
     */
    private static void assertServedWithTheLaunchersHeap(Path mnt) throws IOException {
        List<Long> pids = Processes.mentioning(mnt.toString());
        assertEquals(1, pids.size(), "one process serves the mount");
        String cmdline = Files.readString(Path.of("/proc/" + pids.get(0) + "/cmdline")).replace('\0', ' ');
        assertTrue(!cmdline.contains(Background.NOTIFY_FLAG), "the launcher's JVM serves: " + cmdline);
        assertTrue(cmdline.contains(" -Xmx" + JvmOptions.defaultHeapMib() + "m "),
                "the launcher's heap (-Xmx" + JvmOptions.defaultHeapMib() + "m): " + cmdline);
    }

    /** Returns file name → size from {@code ls -l MNT}, which stats every file (and so builds every kdump index). */
    private Map<String, Long> lsl(Path mnt) throws Exception {
        Map<String, Long> sizes = new TreeMap<>();
        for (String line : run(List.of("ls", "-l", mnt.toString()), Map.of("LC_ALL", "C")).split("\n")) {
            String[] w = line.trim().split("\\s+");
            if (w.length >= 9 && w[0].startsWith("-")) {
                sizes.put(w[w.length - 1], Long.parseLong(w[4]));
            }
        }
        return sizes;
    }

    @Test
    void launcher_terabyteGuestStoppedBeforeItRan_mountsAndListsWithTheLaunchersHeap() throws Exception {
        QemuFixture f = QemuFixture.q35Mem1tStopped();
        Path mnt = mount(f.core(), "mnt1t");
        assertServedWithTheLaunchersHeap(mnt);
        Map<String, Long> sizes = lsl(mnt);
        assertEquals(List.of("blocks.txt", "status", "vmcore.elf", "vmcore.kdump-lzo", "vmcore.kdump-snappy",
                "vmcore.kdump-zlib", "vmcore.kdump-zstd"), List.copyOf(sizes.keySet()),
                "no vmcoreinfo: the guest never ran");
        assertTrue(sizes.get("vmcore.elf") > 1L << 40, "vmcore.elf holds 1 TiB of guest RAM: " + sizes);
        for (String kdump : List.of("vmcore.kdump-zlib", "vmcore.kdump-lzo", "vmcore.kdump-snappy",
                "vmcore.kdump-zstd")) {
            // the bitmaps (2 x 32 MiB) and a 24-byte descriptor per page of the 1 TiB: some 6 GiB, little data
            assertTrue(sizes.get(kdump) > 6L << 30 && sizes.get(kdump) < 7L << 30, kdump + ": " + sizes);
        }
        assertServedWithTheLaunchersHeap(mnt);
        String status = Files.readString(mnt.resolve("status"));
        for (String kdump : List.of("zlib", "lzo", "snappy", "zstd")) {
            assertTrue(status.contains("vmcore.kdump-" + kdump + ": ready"), status);
        }
    }

    @Test
    void launcher_64GiBGuest_crashSysOnVmcoreElfAndKdumpZlib() throws Exception {
        QemuFixture f = QemuFixture.q35Mem64g();
        Path vmlinux = Crash.vmlinux(f.get("UNAME"));
        Path mnt = mount(f.core(), "mnt64g");
        assertServedWithTheLaunchersHeap(mnt);
        List<String> commands = List.of("sys", "log");
        Map<String, String> elf = Crash.run(vmlinux, mnt.resolve("vmcore.elf"), commands);
        Map<String, String> kdump = Crash.run(vmlinux, mnt.resolve("vmcore.kdump-zlib"), commands);
        assertTrue(elf.get("sys").contains("RELEASE: " + f.get("UNAME")), elf.get("sys"));
        assertTrue(elf.get("sys").contains("MEMORY: 64 GB"), elf.get("sys"));
        assertTrue(elf.get("log").contains(f.get("MARKER")), "the guest's marker in crash's log");
        for (String cmd : commands) {
            assertEquals(elf.get(cmd), kdump.get(cmd), "crash `" + cmd + "` on vmcore.kdump-zlib vs vmcore.elf");
        }
        assertServedWithTheLaunchersHeap(mnt);
    }
}

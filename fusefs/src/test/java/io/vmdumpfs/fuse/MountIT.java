package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.testing.QemuFixture;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mounts through the real command line ({@code java -jar fusefs/target/vmdumpfs.jar}, and once through the
 * {@code ./vmdumpfs} launcher) and checks what a user sees: listing, modes, sizes, content equal to the views,
 * read-only errors, clean unmounts, and one-line errors for bad input with nothing left mounted or running.
 *
 * <p>Needs /dev/fuse, libfuse2 and fusermount: without them the tests are skipped, except with CI=true where that
 * is a failure. The real-core test also needs the QEMU fixture (see {@link QemuFixture}).
 */
class MountIT {

    /** How long one vmdumpfs or shell command may take before the test gives up on it. */
    private static final long COMMAND_TIMEOUT_S = 120;

    private static Path jar;
    private static Path repoRoot;

    @TempDir
    Path tmp;

    /** Mount points this test mounted, unmounted in {@link #cleanUp()} whatever happened. */
    private final List<Path> mounted = new ArrayList<>();

    @BeforeAll
    static void prerequisites() {
        if (!Files.exists(Preflight.DEV_FUSE)) {
            Prerequisites.missing("/dev/fuse missing (modprobe fuse)");
        }
        if (Preflight.findLibrary(Preflight.librarySearchPath(), Preflight.LIBFUSE2).isEmpty()) {
            Prerequisites.missing("libfuse.so.2 missing (apt-get install libfuse2)");
        }
        if (Fusermount.find("fusermount").or(() -> Fusermount.find("fusermount3")).isEmpty()) {
            Prerequisites.missing("fusermount missing (apt-get install fuse3)");
        }
        repoRoot = QemuFixture.repoRoot();
        Path built = repoRoot.resolve("fusefs/target/vmdumpfs.jar");
        if (!Files.isRegularFile(built)) {
            fail(built + " missing: run mvn package first (failsafe runs after package)");
        }
        // A private copy: a rebuild rewriting the jar in place would pull classes from under the mount processes.
        try {
            jar = Files.createTempFile("vmdumpfs-it", ".jar");
            Files.copy(built, jar, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            jar.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (Path mnt : mounted) {
            if (isMounted(mnt)) {
                Fusermount.unmount(mnt, true);
            }
            for (long pid : Processes.mentioning(mnt.toString())) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    /** What a command did. */
    record Result(int rc, String out, String err, long millis) {
        Result ok() {
            assertEquals(0, rc, "exit code; stderr: " + err + " stdout: " + out);
            return this;
        }

        /** The error contract: exit 2, exactly one line on stderr starting "vmdumpfs: ", nothing on stdout. */
        Result oneLineError(String expectedPart) {
            assertEquals(2, rc, "exit code; stderr: " + err);
            assertEquals(1, err.lines().count(), "exactly one line on stderr: " + err);
            assertTrue(err.startsWith("vmdumpfs: "), err);
            assertTrue(err.contains(expectedPart), "stderr should mention '" + expectedPart + "': " + err);
            assertEquals("", out);
            return this;
        }
    }

    private Result run(List<String> cmd, Map<String, String> env) throws IOException, InterruptedException {
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Path err = Files.createTempFile(tmp, "err", ".txt");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().putAll(env);
        long t0 = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(COMMAND_TIMEOUT_S, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("timed out: " + cmd);
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err), ms);
    }

    private Result vmdumpfs(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(javaBinary(), "-XX:+UseSerialGC", "-jar", jar.toString()));
        cmd.addAll(List.of(args));
        return run(cmd, Map.of());
    }

    private Result sh(String script) throws IOException, InterruptedException {
        return run(List.of("bash", "-c", script), Map.of("LC_ALL", "C"));
    }

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private Path emptyDir(String name) throws IOException {
        return Files.createDirectory(tmp.resolve(name)).toRealPath();
    }

    /** Mounts the tiny core at a new mount point and returns it. */
    private Path mountTiny(TinyCore core, String... options) throws Exception {
        Path mnt = emptyDir("mnt");
        List<String> args = new ArrayList<>(List.of("-o", "blocks=" + core.blocks()));
        args.addAll(List.of(options));
        args.add(core.core().toString());
        args.add(mnt.toString());
        mounted.add(mnt);
        Result r = vmdumpfs(args.toArray(String[]::new)).ok();
        assertEquals("", r.err());
        assertTrue(isMounted(mnt), "mounted when the command returns");
        System.out.printf("MountIT: mount of %s returned after %d ms%n", core.core().getFileName(), r.millis());
        return mnt;
    }

    static boolean isMounted(Path mnt) {
        return MountInfo.find(MountInfo.read(), mnt).isPresent();
    }

    /** Waits until nothing is mounted at {@code mnt} and no process mentions it. */
    private static void assertGone(Path mnt, long timeoutMs) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < deadline) {
            if (!isMounted(mnt) && Processes.mentioning(mnt.toString()).isEmpty()) {
                return;
            }
            Thread.sleep(20);
        }
        fail("after " + timeoutMs + " ms: mounted=" + isMounted(mnt) + ", processes=" + Processes.mentioning(mnt.toString()));
    }

    /** The views the mount should show, opened in this JVM. */
    private static Map<String, View> views(GuestDump dump) {
        Map<String, View> m = new LinkedHashMap<>();
        for (DumpFormat f : DumpFormat.values()) {
            if (f.availableFor(dump)) {
                m.put(f.fileName(), f.open(dump, FormatContext.uncached()));
            }
        }
        return m;
    }

    private static byte[] viewBytes(View v, long offset, int len) {
        ByteBuffer b = ByteBuffer.allocate(len);
        Views.readFully(v, offset, b);
        return Arrays.copyOf(b.array(), b.position());
    }

    /** Asserts that {@code file} (through the mount) has exactly the view's bytes, compared chunk by chunk. */
    private static void assertSameContent(View view, Path file) throws IOException {
        int chunk = 1 << 20;
        ByteBuffer got = ByteBuffer.allocate(chunk);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long off = 0;
            while (true) {
                got.clear();
                while (got.hasRemaining() && ch.read(got) > 0) {
                    // fill the chunk
                }
                byte[] want = viewBytes(view, off, chunk);
                byte[] have = Arrays.copyOf(got.array(), got.position());
                if (!Arrays.equals(want, have)) {
                    fail(file + " differs from its view in the chunk at offset " + off);
                }
                if (have.length < chunk) {
                    assertEquals(view.size(), off + have.length, file + " size");
                    return;
                }
                off += chunk;
            }
        }
    }

    // ---------------------------------------------------------------- the mount as a user sees it

    @Test
    void mount_listsEveryFormatWithModesAndExactSizes() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        Path mnt = mountTiny(core);
        Result ls = sh("ls -ln --time-style=+%s " + mnt + " && stat -c '%A %s' " + mnt).ok();
        try (GuestDump dump = GuestDumps.open(core.core(), Optional.of(core.blocks()))) {
            Map<String, View> views = views(dump);
            // Every format, plus the status file (its content changes, so its size is checked elsewhere).
            List<String> lines = ls.out().lines().filter(l -> l.startsWith("-") && !l.endsWith(" status")).toList();
            assertEquals(views.size(), lines.size(), ls.out());
            assertTrue(ls.out().lines().anyMatch(l -> l.startsWith("-r-------- 1") && l.endsWith(" status")), ls.out());
            long uid = new com.sun.security.auth.module.UnixSystem().getUid();
            long mtime = Files.getLastModifiedTime(core.core()).toMillis() / 1000;
            for (String line : lines) {
                String[] f = line.split("\\s+");
                // -r-------- 1 UID GID SIZE MTIME NAME
                assertEquals("-r--------", f[0], line);
                assertEquals("1", f[1], line);
                assertEquals(Long.toString(uid), f[2], line);
                assertEquals(Long.toString(views.get(f[6]).size()), f[4], line);
                assertEquals(Long.toString(mtime), f[5], line);
            }
            assertTrue(ls.out().contains("dr-x------"), ls.out());
            assertTrue(views.containsKey("vmcoreinfo") && views.containsKey("vmcore.elf"), views.keySet().toString());
        }
    }

    @Test
    void mount_readsEqualViews_wholeFilesAndSlices() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        Path mnt = mountTiny(core);
        try (GuestDump dump = GuestDumps.open(core.core(), Optional.of(core.blocks()))) {
            for (Map.Entry<String, View> e : views(dump).entrySet()) {
                assertSameContent(e.getValue(), mnt.resolve(e.getKey()));
            }
            View elf = views(dump).get("vmcore.elf");
            // dd at odd offsets and sizes: the kernel turns them into page-aligned FUSE reads, which must line up.
            Path slice = tmp.resolve("slice");
            sh("dd if=" + mnt.resolve("vmcore.elf") + " of=" + slice + " bs=1000 skip=1234 count=77 status=none").ok();
            assertArrayEquals(viewBytes(elf, 1_234_000, 77_000), Files.readAllBytes(slice));
            sh("dd if=" + mnt.resolve("vmcore.elf") + " of=" + slice + " bs=1 skip=" + (elf.size() - 5)
                    + " status=none").ok();
            assertArrayEquals(viewBytes(elf, elf.size() - 5, 5), Files.readAllBytes(slice));
            assertEquals(TinyCore.VMCOREINFO_TEXT, sh("cat " + mnt.resolve("vmcoreinfo")).ok().out());
        }
    }

    @Test
    void mount_writes_failReadOnly() throws Exception {
        Path mnt = mountTiny(TinyCore.write(tmp));
        String file = mnt.resolve("blocks.txt").toString();
        for (String cmd : List.of("touch " + mnt.resolve("new"), "echo x > " + file, "echo x >> " + file,
                "rm -f " + file, "mkdir " + mnt.resolve("d"), "mv " + file + " " + mnt.resolve("b2"),
                "chmod 666 " + file, "truncate -s 0 " + file, "ln -s x " + mnt.resolve("l"), "touch " + file)) {
            Result r = sh(cmd);
            assertNotEquals(0, r.rc(), cmd);
            assertTrue(r.err().contains("Read-only file system"), cmd + ": " + r.err());
        }
        assertTrue(sh("cat " + file).ok().out().startsWith("# target_start"));
    }

    @Test
    void mount_allowOtherAndIds_modesAndOwner() throws Exception {
        Path mnt = mountTiny(TinyCore.write(tmp), "-o", "allow_other,uid=4242,gid=4343,cache_size=8M,noauto,x-a=b");
        String ls = sh("ls -ln " + mnt + " && stat -c '%A %u %g' " + mnt).ok().out();
        assertTrue(ls.lines().filter(l -> l.startsWith("-")).allMatch(l -> l.startsWith("-r--r--r-- 1 4242 4343 ")), ls);
        assertTrue(ls.contains("dr-xr-xr-x 4242 4343"), ls);
    }

    @Test
    void mount_statfs_readOnly() throws Exception {
        Path mnt = mountTiny(TinyCore.write(tmp));
        String flags = sh("stat -f -c '%T' " + mnt + "; grep ' " + mnt + " ' /proc/self/mountinfo").ok().out();
        assertTrue(flags.contains(" ro,"), flags);
        assertTrue(flags.contains("fuse.vmdumpfs vmdumpfs:"), flags);
    }

    @Test
    void mount_kernelConnection_tunedAsFuseTuningSays() throws Exception {
        Assumptions.assumeTrue(new com.sun.security.auth.module.UnixSystem().getUid() == 0,
                "the FUSE control file system is root's");
        Path mnt = mountTiny(TinyCore.write(tmp));
        Path connections = Path.of("/sys/fs/fuse/connections");
        boolean mountedCtl = false;
        try (var entries = Files.list(connections)) {
            if (entries.findAny().isEmpty()) { // with our mount up, an empty directory means fusectl is not mounted
                sh("mount -t fusectl fusectl " + connections).ok();
                mountedCtl = true;
            }
        }
        try {
            // The connection's directory is named by the mount's device number (0:NN -> NN).
            String device = MountInfo.find(MountInfo.read(), mnt).orElseThrow().device();
            Path conn = connections.resolve(device.substring(device.indexOf(':') + 1));
            assertEquals(String.valueOf(FuseTuning.MAX_BACKGROUND), Files.readString(conn.resolve("max_background")).strip());
            assertEquals(8, FuseTuning.MAX_BACKGROUND, "1 MiB read-ahead in 128 KiB requests");
        } finally {
            if (mountedCtl) {
                sh("umount " + connections).ok();
            }
        }
    }

    @Test
    void mount_relativeJarCoreAndMountPoint_work() throws Exception {
        // The background child runs in "/": every relative path must have been made absolute for it.
        TinyCore core = TinyCore.write(tmp);
        Files.copy(jar, tmp.resolve("v.jar"));
        Path mnt = emptyDir("rel");
        mounted.add(mnt);
        Result r = run(List.of("bash", "-c", "cd " + tmp + " && exec " + javaBinary()
                + " -jar v.jar -o blocks=tiny.blocks tiny.core rel"), Map.of()).ok();
        assertEquals("", r.err());
        assertEquals(TinyCore.VMCOREINFO_TEXT, sh("cat " + mnt.resolve("vmcoreinfo")).ok().out());
        assertEquals(core.core().toString(), MountInfo.find(MountInfo.read(), mnt).get().source()
                .substring("vmdumpfs:".length()));
    }

    // ---------------------------------------------------------------- unmounting

    @Test
    void unmount_fusermount_processExitsNothingLeft() throws Exception {
        Path mnt = mountTiny(TinyCore.write(tmp));
        assertEquals(1, Processes.mentioning(mnt.toString()).size(), "one background process serves the mount");
        sh("fusermount -u " + mnt).ok();
        assertGone(mnt, 10_000);
    }

    @Test
    void unmount_sigterm_unmountsAndExits() throws Exception {
        Path mnt = mountTiny(TinyCore.write(tmp));
        List<Long> pids = Processes.mentioning(mnt.toString());
        assertEquals(1, pids.size());
        sh("kill -TERM " + pids.get(0)).ok();
        assertGone(mnt, 10_000);
    }

    @Test
    void unmount_sigintForeground_unmountsAndExits() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        Path mnt = emptyDir("fg");
        mounted.add(mnt);
        Process p = new ProcessBuilder(javaBinary(), "-jar", jar.toString(), "-f", "-o", "blocks=" + core.blocks(),
                core.core().toString(), mnt.toString()).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("fg.log").toFile()).start();
        long deadline = System.currentTimeMillis() + 30_000;
        while (!isMounted(mnt) || sh("ls " + mnt).rc() != 0) {
            assertTrue(p.isAlive() && System.currentTimeMillis() < deadline, Files.readString(tmp.resolve("fg.log")));
            Thread.sleep(20);
        }
        // A JVM leaves SIGINT alone when it starts with SIGINT ignored (as under nohup or `cmd &` in a script).
        String status = Files.readString(Path.of("/proc/" + p.pid() + "/status"));
        String sigIgn = status.lines().filter(l -> l.startsWith("SigIgn:")).findFirst().orElse("SigIgn: 0").substring(7);
        if ((Long.parseLong(sigIgn.strip(), 16) & 0x2) != 0) {
            p.destroy();
            org.junit.jupiter.api.Assumptions.abort("SIGINT is ignored in this environment; cannot test it");
        }
        sh("kill -INT " + p.pid()).ok();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS), "exits after SIGINT");
        assertGone(mnt, 5_000);
        assertEquals("", Files.readString(tmp.resolve("fg.log")));
    }

    // ---------------------------------------------------------------- bad input: one line, exit 2, nothing left

    @Test
    void badInput_mountPointMissing() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        Path mnt = tmp.resolve("missing");
        vmdumpfs(core.core().toString(), mnt.toString()).oneLineError("does not exist");
        assertGone(mnt, 1000);
    }

    @Test
    void badInput_mountPointIsFile() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        vmdumpfs(core.core().toString(), core.blocks().toString()).oneLineError("is not a directory");
    }

    @Test
    void badInput_mountPointNotEmpty() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        Path mnt = emptyDir("full");
        Files.writeString(mnt.resolve("x"), "x");
        vmdumpfs(core.core().toString(), mnt.toString()).oneLineError("is not empty");
        assertGone(mnt, 1000);
    }

    @Test
    void badInput_alreadyMounted() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        Path mnt = mountTiny(core);
        List<Long> before = Processes.mentioning(mnt.toString());
        vmdumpfs("-o", "blocks=" + core.blocks(), core.core().toString(), mnt.toString())
                .oneLineError("is already a mount point");
        assertEquals(before, Processes.mentioning(mnt.toString()), "no second server");
    }

    @Test
    void badInput_coreNotElf() throws Exception {
        Path bad = Files.writeString(tmp.resolve("bad.core"), "not a core at all\n");
        Path mnt = emptyDir("m");
        vmdumpfs(bad.toString(), mnt.toString()).oneLineError("not an ELF file");
        assertGone(mnt, 5000);
    }

    @Test
    void badInput_coreMissing() throws Exception {
        Path mnt = emptyDir("m");
        vmdumpfs(tmp.resolve("nope.core").toString(), mnt.toString()).oneLineError("no such file");
        assertGone(mnt, 5000);
    }

    @Test
    void badInput_blocksFileCorrupt() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        Files.writeString(core.blocks(), "0 zz 0 0 pc.ram\n");
        Path mnt = emptyDir("m");
        vmdumpfs("-o", "blocks=" + core.blocks(), core.core().toString(), mnt.toString())
                .oneLineError("line 1: target_end 'zz' is not a hex number");
        assertGone(mnt, 5000);
    }

    @Test
    void badInput_unknownOption() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        Path mnt = emptyDir("m");
        vmdumpfs("-o", "ro,frob", core.core().toString(), mnt.toString()).oneLineError("unknown mount option 'frob'");
    }

    // ---------------------------------------------------------------- the launcher and a real core

    @Test
    void launcher_mountsWithinASecondOrSo() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        Path mnt = emptyDir("viaLauncher");
        mounted.add(mnt);
        List<String> cmd = List.of(repoRoot.resolve("vmdumpfs").toString(), "-o", "blocks=" + core.blocks(),
                core.core().toString(), mnt.toString());
        Map<String, String> env = Map.of("VMDUMPFS_NO_BUILD", "1");
        run(List.of(repoRoot.resolve("vmdumpfs").toString(), "--version"), env).ok(); // makes the CDS archive
        Result r = run(cmd, env).ok();
        System.out.printf("MountIT: ./vmdumpfs mount-to-ready %d ms%n", r.millis());
        assertTrue(isMounted(mnt));
        assertEquals(TinyCore.VMCOREINFO_TEXT, sh("cat " + mnt.resolve("vmcoreinfo")).ok().out());
        sh("fusermount -u " + mnt).ok();
        assertGone(mnt, 10_000);
    }

    /**
     * Returns the descriptors of process {@code pid} that are pipes. A serving JVM holds none once the READY pipe is
     * closed (fd 3 alone would not say it: the JVM reuses that number for the files it opens later).
     */
    private static List<String> pipes(long pid) throws IOException {
        List<String> pipes = new ArrayList<>();
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("pipe:")) {
                        pipes.add(fd.getFileName() + " -> " + target);
                    }
                } catch (java.nio.file.NoSuchFileException closedMeanwhile) {
                    // a descriptor closed while we listed: not the pipe we look for
                }
            }
        }
        return pipes;
    }

    private Result launcher(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(repoRoot.resolve("vmdumpfs").toString()));
        cmd.addAll(List.of(args));
        return run(cmd, Map.of("VMDUMPFS_NO_BUILD", "1"));
    }

    @Test
    void launcher_backgroundMount_oneDetachedJvmServesWithBoundedHeap() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        Path mnt = emptyDir("oneJvm");
        mounted.add(mnt);
        launcher("-o", "blocks=" + core.blocks() + ",cache_size=64M", core.core().toString(), mnt.toString()).ok();
        List<Long> pids = Processes.mentioning(mnt.toString());
        assertEquals(1, pids.size(), "one process serves the mount");
        long pid = pids.get(0);
        String cmdline = Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
        assertTrue(!cmdline.contains(Background.NOTIFY_FLAG), "the launcher's JVM serves, not a re-executed one: " + cmdline);
        // 64 MiB cache + 128 MiB headroom (+ indexes of a tiny core: 0 MiB)
        assertTrue(cmdline.contains("-Xmx" + (64 + JvmOptions.HEADROOM_MIB) + "m "), cmdline);
        // detached: its own session, in "/", stdio on /dev/null
        String[] stat = Files.readString(Path.of("/proc/" + pid + "/stat")).replaceFirst(".*\\) ", "").split(" ");
        assertEquals(String.valueOf(pid), stat[3], "session id = pid (setsid)");
        assertEquals(Path.of("/"), Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")));
        for (int fd = 0; fd <= 2; fd++) {
            assertEquals(Path.of("/dev/null"), Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/" + fd)));
        }
        assertEquals(List.of(), pipes(pid), "the READY pipe is closed");
        if (new com.sun.security.auth.module.UnixSystem().getUid() == 0) {
            // root: the mount's read-ahead is raised before READY (ReadAhead says why)
            String device = MountInfo.find(MountInfo.read(), mnt).orElseThrow().device();
            assertEquals(String.valueOf(ReadAhead.KIB), Files.readString(ReadAhead.sysfsFile(device)).strip());
        }
        assertEquals(TinyCore.VMCOREINFO_TEXT, sh("cat " + mnt.resolve("vmcoreinfo")).ok().out());
        // SIGINT unmounts: the launcher must not leave SIGINT ignored, as a shell's background job has it
        sh("kill -INT " + pid).ok();
        assertGone(mnt, 10_000);
    }

    @Test
    void mount_jvmFlagPrintingToStdout_stillReturnsOnceMounted() throws Exception {
        // The re-executed child inherits the JVM flags; one that prints before main() must not hide READY.
        TinyCore core = TinyCore.write(tmp);
        Path mnt = emptyDir("chatty");
        mounted.add(mnt);
        Result r = run(List.of(javaBinary(), "-XX:+PrintCommandLineFlags", "-jar", jar.toString(), "-o",
                "blocks=" + core.blocks(), core.core().toString(), mnt.toString()), Map.of()).ok();
        assertTrue(r.out().contains("-XX:"), "the flag did print: " + r.out());
        assertTrue(isMounted(mnt));
        assertEquals(TinyCore.VMCOREINFO_TEXT, sh("cat " + mnt.resolve("vmcoreinfo")).ok().out());
    }

    @Test
    void launcher_stdinClosedOrNoTemporaryDirectory_stillMounts() throws Exception {
        TinyCore core = TinyCore.write(tmp);
        for (String how : List.of("<&-", "TMPDIR=/nonexistent")) {
            Path mnt = emptyDir("odd" + mounted.size());
            mounted.add(mnt);
            String cmd = repoRoot.resolve("vmdumpfs") + " -o blocks=" + core.blocks() + " " + core.core() + " " + mnt;
            run(List.of("sh", "-c", how.startsWith("<") ? "exec " + cmd + " " + how : how + " exec " + cmd),
                    Map.of("VMDUMPFS_NO_BUILD", "1")).ok();
            assertEquals(TinyCore.VMCOREINFO_TEXT, sh("cat " + mnt.resolve("vmcoreinfo")).ok().out(), how);
            sh("fusermount -u " + mnt).ok();
            assertGone(mnt, 10_000);
        }
    }

    @Test
    void launcher_badCore_oneLineErrorNothingLeft() throws Exception {
        Path bad = Files.writeString(tmp.resolve("bad.core"), "not a core at all\n");
        Path mnt = emptyDir("m");
        launcher(bad.toString(), mnt.toString()).oneLineError("not an ELF file");
        assertGone(mnt, 5000);
    }

    @Test
    void launcher_heapTooSmallForTheOptions_reexecutesWithItsOwn() throws Exception {
        // The launcher passes the heap of a default mount; where the options need more, the JVM must not run out of
        // memory but serve with its own heap. Here the launcher cannot wait for the JVM (VMDUMPFS_NO_LAUNCH, as
        // without a temporary directory), so the server is a re-executed child, and the launcher's heap is gone.
        TinyCore core = TinyCore.write(tmp);
        Path mnt = emptyDir("reexec");
        mounted.add(mnt);
        run(List.of(repoRoot.resolve("vmdumpfs").toString(), "-o", "blocks=" + core.blocks() + ",cache_size=2G",
                core.core().toString(), mnt.toString()), Map.of("VMDUMPFS_NO_BUILD", "1", "VMDUMPFS_NO_LAUNCH", "1")).ok();
        List<Long> pids = Processes.mentioning(mnt.toString());
        assertEquals(1, pids.size(), "one process serves the mount");
        String cmdline = Files.readString(Path.of("/proc/" + pids.get(0) + "/cmdline")).replace('\0', ' ');
        assertTrue(cmdline.contains(Background.NOTIFY_FLAG), "re-executed: " + cmdline);
        assertTrue(!cmdline.contains("-Xmx" + JvmOptions.defaultHeapMib() + "m"), "the launcher's heap is gone: " + cmdline);
        assertTrue(cmdline.contains("-Xmx"), cmdline);
        assertEquals(TinyCore.VMCOREINFO_TEXT, sh("cat " + mnt.resolve("vmcoreinfo")).ok().out());
    }

    @Test
    void launcher_heapTooSmallForTheOptions_restartsInPlaceWithItsOwn() throws Exception {
        // With the launcher's pipe, the JVM whose heap does not fit restarts in place (Restart): still the one
        // process the launcher started and waits for, detached, with the heap its mount needs.
        TinyCore core = TinyCore.write(tmp);
        Path mnt = emptyDir("restart");
        mounted.add(mnt);
        launcher("-o", "blocks=" + core.blocks() + ",cache_size=2G", core.core().toString(), mnt.toString()).ok();
        List<Long> pids = Processes.mentioning(mnt.toString());
        assertEquals(1, pids.size(), "one process serves the mount");
        long pid = pids.get(0);
        String cmdline = Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
        assertTrue(!cmdline.contains(Background.NOTIFY_FLAG), "not a re-executed child: " + cmdline);
        assertTrue(cmdline.contains("-Xmx" + (2048 + JvmOptions.HEADROOM_MIB) + "m "), cmdline);
        assertTrue(!cmdline.contains("-Xmx" + JvmOptions.defaultHeapMib() + "m"), "the launcher's heap is gone: " + cmdline);
        String[] stat = Files.readString(Path.of("/proc/" + pid + "/stat")).replaceFirst(".*\\) ", "").split(" ");
        assertEquals(String.valueOf(pid), stat[3], "session id = pid (setsid)");
        assertEquals(List.of(), pipes(pid), "the READY pipe is closed");
        // The first JVM's descriptors (its jar, the JDK's modules, random devices) were closed on the way: each file
        // is open as often as one serving JVM opens it: once, but the core twice (CoreFile's channel and
        // CoreDescriptor's verified native descriptor, which the hole scan opens at mount).
        List<String> files = new ArrayList<>();
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds.toList()) {
                String target = Files.readSymbolicLink(fd).toString();
                if (Integer.parseInt(fd.getFileName().toString()) > 2 && target.startsWith("/")) {
                    files.add(target);
                }
            }
        }
        for (String f : files.stream().distinct().toList()) {
            long n = files.stream().filter(f::equals).count();
            assertEquals(f.equals(core.core().toString()) ? 2 : 1, n, "open " + n + " times: " + f + " in " + files);
        }
        assertEquals(TinyCore.VMCOREINFO_TEXT, sh("cat " + mnt.resolve("vmcoreinfo")).ok().out());
    }

    @Test
    void realCore_vmcoreElfEqualsView() throws Exception {
        QemuFixture fx = QemuFixture.pc256();
        Path mnt = emptyDir("real");
        mounted.add(mnt);
        Result r = vmdumpfs(fx.core().toString(), mnt.toString()).ok();
        System.out.printf("MountIT: real core (%d MiB) mount-to-ready %d ms%n", Files.size(fx.core()) >> 20, r.millis());
        try (GuestDump dump = GuestDumps.open(fx.core(), Optional.empty())) {
            View elf = DumpFormat.ELF.open(dump, FormatContext.uncached());
            long t0 = System.nanoTime();
            assertSameContent(elf, mnt.resolve("vmcore.elf"));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.printf("MountIT: read and compared vmcore.elf (%d MiB) in %d ms%n", elf.size() >> 20, ms);
            String osrelease = sh("grep '^OSRELEASE=' " + mnt.resolve("vmcoreinfo")).ok().out().strip();
            assertEquals("OSRELEASE=" + fx.get("UNAME"), osrelease);
        }
        sh("fusermount -u " + mnt).ok();
        assertGone(mnt, 10_000);
    }
}

package io.vmdumpfs.fuse.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.vmdumpfs.core.testing.ElfCompare;
import io.vmdumpfs.core.testing.QemuFixture;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * vmdumpfs used the way admins use file systems, on a real QEMU core: {@code scripts/install.sh} into a temporary
 * prefix, then {@code mount -t fuse.vmdumpfs}, {@code mount -t vmdumpfs}, an fstab line, a zstd-compressed core as
 * systemd-coredump stores it, failing mounts, and {@code systemd-analyze verify} on the installed units. Every
 * unmount must leave neither a mount nor a process.
 *
 * <p>mount(8) looks for helpers only in /sbin, so the install links /sbin/mount.vmdumpfs and
 * /sbin/mount.fuse.vmdumpfs into the temporary prefix; whatever was there before is put back afterwards. Needs root
 * (mount(8) runs helpers only for root), /dev/fuse, libfuse2, zstd, readelf and systemd-analyze: a missing piece
 * skips locally and fails in CI. Two runs at once on one machine (two checkouts, two developers) would fight over
 * the /sbin links, so each run holds a lock file for its whole duration.
 */
class AdminIT {

    /** mount(8)'s helper directory; /usr/sbin on merged-/usr systems. */
    static final Path SBIN = Path.of("/sbin");
    static final List<String> HELPERS = List.of("mount.vmdumpfs", "mount.fuse.vmdumpfs");
    static final List<String> UNITS = List.of("vmdumpfs@.service", "vmdumpfs-coredump.path", "vmdumpfs-coredump.service");
    static final List<String> FILES = List.of("blocks.txt", "vmcore.elf", "vmcoreinfo");
    /** One mount, or a failing one: two JVM starts and block discovery; a timeout means something hangs. */
    static final long MOUNT_TIMEOUT_S = 120;

    /** Serializes AdminIT runs on this machine: they share /sbin. */
    static final Path LOCK = Path.of(System.getProperty("java.io.tmpdir"), "vmdumpfs-adminit.lock");
    static FileChannel lockChannel;
    static FileLock lock;

    @TempDir
    static Path shared;
    static Path prefix;
    /** What /sbin held under the helpers' names before the install: null when nothing, else the moved-away copy. */
    static final Map<Path, Path> SAVED = new LinkedHashMap<>();

    @TempDir
    Path tmp;
    final List<Path> mounted = new ArrayList<>();

    @BeforeAll
    static void install() throws Exception {
        QemuFixture.require(isRoot(), "mount(8) runs helpers for root only; run as root");
        QemuFixture.require(Files.exists(Path.of("/dev/fuse")), "/dev/fuse missing (modprobe fuse)");
        QemuFixture.requireCommand("mount", "apt-get install mount");
        QemuFixture.requireCommand("zstd", "apt-get install zstd");
        QemuFixture.requireCommand("systemd-analyze", "apt-get install systemd");
        QemuFixture.requireCommand("systemd-escape", "apt-get install systemd");
        Path jar = QemuFixture.repoRoot().resolve("fusefs/target/vmdumpfs.jar");
        QemuFixture.require(Files.isRegularFile(jar), jar + " missing: run mvn package first");
        lockChannel = FileChannel.open(LOCK, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        lock = lockChannel.lock(); // waits for another run to finish
        for (String h : HELPERS) {
            Path p = SBIN.resolve(h);
            if (Files.isSymbolicLink(p) && !Files.exists(p)) {
                Files.delete(p); // dangling: an earlier run's temporary prefix, gone
            }
            if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                Path saved = shared.resolve("saved-" + h);
                Files.move(p, saved);
                SAVED.put(p, saved);
            } else {
                SAVED.put(p, null);
            }
        }
        prefix = shared.resolve("prefix");
        Result r = run(Map.of(), 300, "bash", QemuFixture.repoRoot().resolve("scripts/install.sh").toString(),
                "--prefix", prefix.toString(), "--no-build");
        assertEquals(0, r.rc, () -> "install.sh failed:\n" + r.err);
    }

    @AfterAll
    static void uninstall() throws Exception {
        if (prefix != null) {
            run(Map.of(), 60, "bash", QemuFixture.repoRoot().resolve("scripts/install.sh").toString(), "--uninstall",
                    "--prefix", prefix.toString());
        }
        for (Map.Entry<Path, Path> e : SAVED.entrySet()) {
            Files.deleteIfExists(e.getKey());
            if (e.getValue() != null) {
                Files.move(e.getValue(), e.getKey());
            }
        }
        SAVED.clear();
        if (lockChannel != null) {
            lockChannel.close(); // releases the lock
        }
    }

    @AfterEach
    void unmountLeftovers() throws Exception {
        for (Path m : mounted) {
            if (isMounted(m)) {
                run(Map.of(), 30, "umount", "-l", m.toString());
            }
        }
    }

    @Test
    void install_layout_andSbinLinks() throws IOException {
        for (String f : List.of("bin/vmdumpfs", "sbin/mount.vmdumpfs", "libexec/vmdumpfs/coredump-scan")) {
            assertTrue(Files.isExecutable(prefix.resolve(f)), f);
        }
        assertTrue(Files.isRegularFile(prefix.resolve("lib/vmdumpfs/vmdumpfs.jar")));
        assertTrue(Files.isRegularFile(prefix.resolve("lib/vmdumpfs/launch.sh")), "the launcher's background-mount part");
        assertEquals(Path.of("mount.vmdumpfs"), Files.readSymbolicLink(prefix.resolve("sbin/mount.fuse.vmdumpfs")));
        for (String h : HELPERS) {
            assertEquals(prefix.resolve("sbin").resolve(h), Files.readSymbolicLink(SBIN.resolve(h)));
        }
        for (String u : UNITS) {
            String text = Files.readString(prefix.resolve("lib/systemd/system").resolve(u));
            assertFalse(text.contains("@bindir@") || text.contains("@libexecdir@") || text.contains("@docdir@"), u);
        }
        assertTrue(Files.readString(prefix.resolve("lib/systemd/system/vmdumpfs@.service"))
                .contains("ExecStart=" + prefix.resolve("bin/vmdumpfs") + " "));
    }

    @Test
    void mountTypeFuseVmdumpfs_realCore_mountsAndUnmountsClean() throws Exception {
        QemuFixture f = QemuFixture.pc256();
        Path mnt = mountPoint("mnt");

        Result r = run(Map.of(), MOUNT_TIMEOUT_S, "mount", "-t", "fuse.vmdumpfs", f.core().toString(), mnt.toString(),
                "-o", "ro,noauto,_netdev,nofail");

        assertEquals(0, r.rc, r.err);
        assertMountedWithFiles(mnt, f.core());
        unmountClean(mnt);
    }

    @Test
    void mountTypeVmdumpfs_helper_mountsAndUnmountsClean() throws Exception {
        QemuFixture f = QemuFixture.pc256();
        Path mnt = mountPoint("mnt");

        Result r = run(Map.of(), MOUNT_TIMEOUT_S, "mount", "-t", "vmdumpfs", f.core().toString(), mnt.toString(),
                "-o", "allow_other");

        assertEquals(0, r.rc, r.err);
        assertMountedWithFiles(mnt, f.core());
        assertTrue(mountOptions(mnt).contains("allow_other"), mountOptions(mnt));
        unmountClean(mnt);
    }

    @Test
    void fstabLine_mountByMountPoint_mounts() throws Exception {
        QemuFixture f = QemuFixture.pc256();
        Path mnt = mountPoint("mnt");
        Path fstab = tmp.resolve("fstab");
        Files.writeString(fstab, "# a test fstab\n" + f.core() + "\t" + mnt
                + "\tfuse.vmdumpfs\tro,noauto,user,_netdev,nofail,x-systemd.automount\t0 0\n");

        Result r = run(Map.of(), MOUNT_TIMEOUT_S, "mount", "--fstab", fstab.toString(), mnt.toString());

        assertEquals(0, r.rc, r.err);
        assertMountedWithFiles(mnt, f.core());
        unmountClean(mnt);
    }

    @Test
    void mountTypeFuse_zstdCore_sameMemoryAsQemuAndAsPlainMount() throws Exception {
        QemuFixture f = QemuFixture.pc256();
        // As systemd-coredump stores it: streamed, so without a content size in the frame header.
        Path zst = tmp.resolve("core.qemu-system-x86.0.0123456789abcdef.4242.1700000000000000.zst");
        Result z = run(Map.of(), 300, "sh", "-c", "zstd -q -c < \"$1\" > \"$2\"", "sh", f.core().toString(), zst.toString());
        assertEquals(0, z.rc, z.err);
        Path xdg = tmp.resolve("xdg");
        Map<String, String> env = Map.of("XDG_CACHE_HOME", xdg.toString());
        Path mntZ = mountPoint("zst");
        Path mntP = mountPoint("plain");

        long t0 = System.nanoTime();
        Result rz = run(env, 600, "mount", "-t", "fuse.vmdumpfs", zst.toString(), mntZ.toString());
        long firstMs = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(0, rz.rc, rz.err);
        Result rp = run(env, MOUNT_TIMEOUT_S, prefix.resolve("bin/vmdumpfs").toString(), f.core().toString(),
                mntP.toString());
        assertEquals(0, rp.rc, rp.err);

        assertMountedWithFiles(mntZ, zst);
        long compared = ElfCompare.assertSameMemory(f.qemuDumpElf(), mntZ.resolve("vmcore.elf"));
        assertTrue(compared >= Long.parseLong(f.get("MEM_MIB")) << 20, "compared all guest RAM: " + compared);
        assertEquals(-1, Files.mismatch(mntP.resolve("vmcore.elf"), mntZ.resolve("vmcore.elf")),
                "vmcore.elf of the .zst mount equals that of the plain core's");

        Path cores = xdg.resolve("vmdumpfs/cores");
        List<Path> copies = list(cores, ".core");
        assertEquals(1, copies.size(), "one decompressed copy in " + cores);
        Path copy = copies.get(0);
        assertEquals("r--------", PosixFilePermissions.toString(Files.getPosixFilePermissions(copy)));
        assertEquals(Files.size(f.core()), Files.size(copy));
        Object inode = Files.getAttribute(copy, "unix:ino");
        unmountClean(mntZ);
        unmountClean(mntP);

        long t1 = System.nanoTime();
        Result again = run(env, MOUNT_TIMEOUT_S, "mount", "-t", "fuse.vmdumpfs", zst.toString(), mntZ.toString());
        long remountMs = (System.nanoTime() - t1) / 1_000_000;
        assertEquals(0, again.rc, again.err);
        assertEquals(inode, Files.getAttribute(list(cores, ".core").get(0), "unix:ino"), "the copy was reused");
        System.out.printf("AdminIT: %s (%d MiB zstd of a %d MiB core): first mount %d ms, remount %d ms%n",
                zst.getFileName(), Files.size(zst) >> 20, Files.size(f.core()) >> 20, firstMs, remountMs);
        unmountClean(mntZ);
    }

    @Test
    void mountTypeFuse_missingCore_printsOneLineAndFails() throws Exception {
        Path mnt = mountPoint("mnt");
        Path missing = tmp.resolve("no-such.core");

        Result r = run(Map.of(), MOUNT_TIMEOUT_S, "mount", "-t", "fuse.vmdumpfs", missing.toString(), mnt.toString());

        assertNotEquals(0, r.rc);
        assertEquals("vmdumpfs: " + missing + ": no such file", oneLine(r.err));
        assertNothingLeft(mnt);
    }

    @Test
    void mountTypeVmdumpfs_truncatedZstd_printsOneLineAndFails() throws Exception {
        Path bad = tmp.resolve("truncated.zst");
        Result z = run(Map.of(), 120, "sh", "-c", "head -c 200000000 \"$1\" | zstd -q -c | head -c 100000 > \"$2\"", "sh",
                QemuFixture.pc256().core().toString(), bad.toString());
        assertEquals(0, z.rc, z.err);
        Path mnt = mountPoint("mnt");
        Map<String, String> env = Map.of("XDG_CACHE_HOME", tmp.resolve("xdg").toString());

        Result r = run(env, MOUNT_TIMEOUT_S, "mount", "-t", "vmdumpfs", bad.toString(), mnt.toString());

        assertNotEquals(0, r.rc);
        String line = oneLine(r.err);
        assertTrue(line.startsWith("vmdumpfs: " + bad + ": damaged or truncated zstd data"), line);
        assertNothingLeft(mnt);
        assertEquals(List.of(), list(tmp.resolve("xdg/vmdumpfs/cores"), ""), "no partial copy is left");
    }

    @Test
    void systemdAnalyzeVerify_installedUnits_clean() throws Exception {
        Path units = prefix.resolve("lib/systemd/system");
        String instance = run(Map.of(), 30, "systemd-escape", "--path", "--template=vmdumpfs@.service",
                QemuFixture.pc256().core().toString()).out.strip();
        List<String> cmd = new ArrayList<>(List.of("systemd-analyze", "verify", "--man=no"));
        cmd.add(units.resolve(instance).toString());
        cmd.add(units.resolve("vmdumpfs-coredump.path").toString());
        cmd.add(units.resolve("vmdumpfs-coredump.service").toString());

        // Works without systemd as PID 1: verify loads the files offline.
        Result r = run(Map.of(), 120, cmd.toArray(String[]::new));

        assertEquals(0, r.rc, r.out + r.err);
        assertEquals("", (r.out + r.err).strip(), "systemd-analyze verify must print nothing");
    }

    /**
     * Runs vmdumpfs@.service under a real systemd, hardening and all, and checks that the mount is visible outside
     * the service (a unit with its own mount namespace would mount where nobody sees it) and that stopping the unit
     * unmounts and ends every process. This machine's PID 1 is not systemd, so a container boots one: systemd-nspawn
     * on an overlay of / (changes go to a tmpfs and vanish), with /dev/fuse, the repository and the fixture bound in.
     */
    @Test
    void systemdUnit_inContainer_mountsVisiblyAndStopsClean() throws Exception {
        QemuFixture.requireCommand("systemd-nspawn", "apt-get install systemd-container");
        QemuFixture f = QemuFixture.pc256();
        try (Container c = Container.boot(tmp, List.of(QemuFixture.repoRoot(), f.dir()))) {
            Result inst = c.exec(300, "bash", QemuFixture.repoRoot().resolve("scripts/install.sh").toString(),
                    "--prefix", "/usr/local", "--no-build", "--no-cds");
            assertEquals(0, inst.rc, inst.err);
            String unit = c.exec(30, "systemd-escape", "--path", "--template=vmdumpfs@.service", f.core().toString())
                    .out.strip();
            String mnt = "/run/vmdumpfs" + f.core();

            Result start = c.exec(MOUNT_TIMEOUT_S, "systemctl", "start", unit);
            assertEquals(0, start.rc, () -> start.err + c.exec0("journalctl", "-u", unit, "--no-pager"));

            // Seen from the container's PID 1 namespace, i.e. outside the service.
            assertTrue(c.exec(30, "findmnt", "-n", "-o", "FSTYPE", mnt).out.contains("fuse.vmdumpfs"),
                    "the mount is visible outside the service");
            assertEquals("7f454c46", c.exec(30, "sh", "-c", "head -c 4 \"$1\"/vmcore.elf | od -An -tx1 | tr -d ' \\n'",
                    "sh", mnt).out.strip());
            String mainPid = c.exec(30, "systemctl", "show", "-p", "MainPID", "--value", unit).out.strip();
            assertNotEquals("0", mainPid, "Type=forking found the FUSE server");

            Result stop = c.exec(60, "systemctl", "stop", unit);
            assertEquals(0, stop.rc, stop.err);
            assertEquals("", c.exec(30, "findmnt", "-n", mnt).out.strip(), "unmounted");
            assertNotEquals(0, c.exec(30, "test", "-d", mnt).rc, "the mount point is removed");
            assertEquals("", c.exec(30, "pgrep", "-f", "vmdumpfs.jar").out.strip(), "no vmdumpfs process left");
            assertEquals("inactive", c.exec(30, "systemctl", "is-active", unit).out.strip());
        }
    }

    /** A systemd-nspawn container booting this machine's own /, overlaid with a throw-away tmpfs. */
    static final class Container implements AutoCloseable {
        private final Process nspawn;
        private final long leader;
        private final Path merged;
        private final Path upper;

        private Container(Process nspawn, long leader, Path merged, Path upper) {
            this.nspawn = nspawn;
            this.leader = leader;
            this.merged = merged;
            this.upper = upper;
        }

        /** Boots the container; {@code binds} are bound read-only at the same paths. */
        static Container boot(Path work, List<Path> binds) throws Exception {
            Path upper = Files.createDirectories(work.resolve("ct-upper"));
            Path merged = Files.createDirectories(work.resolve("ct-root"));
            // The upper layer must not be inside the lower one (/): a tmpfs is another file system.
            assertEquals(0, run(Map.of(), 30, "mount", "-t", "tmpfs", "-o", "size=1g", "ct-upper", upper.toString()).rc);
            Process p = null;
            try {
                Files.createDirectories(upper.resolve("u"));
                Files.createDirectories(upper.resolve("w"));
                Result ov = run(Map.of(), 30, "mount", "-t", "overlay", "ct-root", "-o",
                        "lowerdir=/,upperdir=" + upper.resolve("u") + ",workdir=" + upper.resolve("w"), merged.toString());
                QemuFixture.require(ov.rc == 0, "cannot make an overlay of / for the container: " + ov.err.strip());
                List<String> cmd = new ArrayList<>(List.of("systemd-nspawn", "-D", merged.toString(), "-b",
                        "--register=no", "--keep-unit", "--console=passive",
                        "-M", "vmdumpfs-it-" + ProcessHandle.current().pid(), "--bind=/dev/fuse"));
                for (Path b : binds) {
                    cmd.add("--bind-ro=" + b);
                }
                Path log = work.resolve("nspawn.log");
                p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
                while (System.nanoTime() < deadline && p.isAlive()) {
                    Long pid1 = p.descendants()
                            .filter(h -> h.info().command().map(c -> c.endsWith("/systemd")).orElse(false))
                            .map(ProcessHandle::pid).findFirst().orElse(null);
                    if (pid1 != null) {
                        Container c = new Container(p, pid1, merged, upper);
                        String state = c.exec(30, "systemctl", "is-system-running").out.strip();
                        if (state.equals("running") || state.equals("degraded")) {
                            return c;
                        }
                    }
                    Thread.sleep(250);
                }
                throw new AssertionError("the container did not boot in 90 s:\n" + Files.readString(log));
            } catch (Throwable t) {
                // Never leave the overlay of / under the temp dir: JUnit's clean-up would walk into it.
                new Container(p, -1, merged, upper).close();
                throw t;
            }
        }

        /** Runs {@code cmd} in the container's namespaces (those of its PID 1). */
        Result exec(long timeoutS, String... cmd) throws IOException, InterruptedException {
            List<String> full = new ArrayList<>(List.of("nsenter", "-t", Long.toString(leader), "-a"));
            full.addAll(List.of(cmd));
            return run(Map.of(), timeoutS, full.toArray(String[]::new));
        }

        /** Returns {@code cmd}'s output in the container, for failure messages. */
        String exec0(String... cmd) {
            try {
                Result r = exec(30, cmd);
                return "\n" + r.out + r.err;
            } catch (Exception e) {
                return "\n(" + e + ")";
            }
        }

        @Override
        public void close() throws Exception {
            if (nspawn != null) {
                // SIGTERM asks nspawn to shut the container down cleanly (its systemd stops every unit).
                nspawn.destroy();
                if (!nspawn.waitFor(60, TimeUnit.SECONDS)) {
                    nspawn.descendants().forEach(ProcessHandle::destroyForcibly);
                    nspawn.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
                }
            }
            run(Map.of(), 30, "umount", "-l", merged.toString());
            run(Map.of(), 30, "umount", "-l", upper.toString());
        }
    }

    @Test
    void launcher_everyInstalledJdk_runsQuietly() throws Exception {
        List<Path> javas = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("/usr/lib/jvm"))) {
            s.map(d -> d.resolve("bin/java")).filter(Files::isExecutable).forEach(javas::add);
        } catch (IOException e) {
            // no /usr/lib/jvm: only java on PATH
        }
        javas.add(Path.of("java"));
        for (Path java : javas) {
            Result v = run(Map.of(), 60, java.toString(), "-version");
            String version = v.err.lines().findFirst().orElse("");
            if (!version.matches(".*version \"(1[7-9]|[2-9][0-9]).*")) {
                continue; // older than 17: the launcher refuses it, tested below
            }
            Result r = run(Map.of("JAVA", java.toString()), 60, prefix.resolve("bin/vmdumpfs").toString(), "--version");
            assertEquals(0, r.rc, java + ": " + r.err);
            assertEquals("", r.err, java + " (" + version + ") printed warnings");
            assertTrue(r.out.startsWith("vmdumpfs "), r.out);
        }
    }

    @Test
    void mountHelper_arguments_passedToVmdumpfs() throws Exception {
        Path fake = tmp.resolve("fake-vmdumpfs");
        Files.writeString(fake, "#!/bin/sh\nfor a; do printf '[%s]' \"$a\"; done\necho\necho \"PATH=$PATH\"\n");
        fake.toFile().setExecutable(true);
        String helper = prefix.resolve("sbin/mount.fuse.vmdumpfs").toString();
        Map<String, String> env = Map.of("VMDUMPFS", fake.toString());

        Result r = run(env, 30, helper, "/c ore", "/m nt", "-n", "-o", "ro,noauto", "-s", "-o", "allow_other",
                "-t", "fuse.vmdumpfs");
        assertEquals(0, r.rc, r.err);
        assertEquals("[-o][ro,noauto,allow_other][--][/c ore][/m nt]", r.out.lines().findFirst().orElse(""));
        assertTrue(r.out.contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), r.out);

        Result legacy = run(env, 30, helper, "vmdumpfs#/core", "/mnt");
        assertEquals("[--][/core][/mnt]", legacy.out.lines().findFirst().orElse(""));

        Result fakeMount = run(env, 30, helper, "/core", "/mnt", "-fv", "-o", "ro");
        assertEquals(0, fakeMount.rc);
        assertEquals("", fakeMount.out, "-f must not run vmdumpfs");
        assertTrue(fakeMount.err.contains("-o ro -- /core /mnt"), fakeMount.err);

        Result bad = run(env, 30, helper, "/core", "/mnt", "-x");
        assertEquals(2, bad.rc);
        assertEquals("mount.fuse.vmdumpfs: unknown flag -x", oneLine(bad.err));
    }

    // ------------------------------------------------------------------ helpers

    Path mountPoint(String name) throws IOException {
        Path p = Files.createDirectories(tmp.resolve(name));
        mounted.add(p);
        return p;
    }

    static void assertMountedWithFiles(Path mnt, Path core) throws IOException {
        assertTrue(isMounted(mnt), mnt + " is not in the mount table");
        String line = mountLine(mnt);
        assertTrue(line.contains(" fuse.vmdumpfs "), line);
        assertTrue(line.contains("vmdumpfs:" + core), "fsname names the core as given: " + line);
        try (Stream<Path> s = Files.list(mnt)) {
            List<String> names = s.map(p -> p.getFileName().toString()).toList();
            assertTrue(names.containsAll(FILES), names.toString());
        }
        try (InputStream in = Files.newInputStream(mnt.resolve("vmcore.elf"))) {
            byte[] magic = in.readNBytes(4);
            assertEquals("\u007fELF", new String(magic, StandardCharsets.ISO_8859_1));
        }
    }

    /** Unmounts with umount(8), as an admin would, and checks that neither the mount nor its server remains. */
    static void unmountClean(Path mnt) throws Exception {
        Result r = run(Map.of(), 60, "umount", mnt.toString());
        assertEquals(0, r.rc, r.err);
        assertNothingLeft(mnt);
    }

    /** Asserts that {@code mnt} is not mounted and that no process names it (its FUSE server exited). */
    static void assertNothingLeft(Path mnt) throws InterruptedException {
        assertFalse(isMounted(mnt), mnt + " is still mounted");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        List<String> left;
        do {
            left = ProcessHandle.allProcesses()
                    .filter(p -> p.info().commandLine().map(c -> c.contains(mnt.toString())).orElse(false))
                    .map(p -> p.pid() + " " + p.info().commandLine().orElse("")).toList();
            if (left.isEmpty()) {
                return;
            }
            Thread.sleep(100);
        } while (System.nanoTime() < deadline);
        fail("processes left after unmounting " + mnt + ": " + left);
    }

    static boolean isMounted(Path mnt) {
        return !mountLine(mnt).isEmpty();
    }

    /** Returns /proc/self/mounts' line for {@code mnt}, or "". */
    static String mountLine(Path mnt) {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/mounts"))) {
                String[] f = l.split(" ");
                if (f.length > 2 && f[1].replace("\\040", " ").equals(mnt.toString())) {
                    return l;
                }
            }
            return "";
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    static String mountOptions(Path mnt) {
        String[] f = mountLine(mnt).split(" ");
        return f.length > 3 ? f[3] : "";
    }

    static List<Path> list(Path dir, String suffix) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(suffix)).sorted().toList();
        }
    }

    /** Returns the only non-blank line of {@code text}, failing when there are more. */
    static String oneLine(String text) {
        List<String> lines = text.lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), "expected one line:\n" + text);
        return lines.get(0);
    }

    static boolean isRoot() {
        try {
            return Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    record Result(int rc, String out, String err) {
    }

    /** Runs {@code cmd} with {@code env} added to ours, stdin from /dev/null; kills it after {@code timeoutS}. */
    static Result run(Map<String, String> env, long timeoutS, String... cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Map<String, String> e = new HashMap<>(env);
        pb.environment().putAll(e);
        Process p = pb.start();
        // Read both pipes at once: a chatty child must not block on a full one. A mount's FUSE server keeps
        // neither: it redirects its stdio to /dev/null once ready.
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            fail(String.join(" ", cmd) + " did not finish in " + timeoutS + " s");
        }
        try {
            return new Result(p.exitValue(), out.get(30, TimeUnit.SECONDS), err.get(30, TimeUnit.SECONDS));
        } catch (Exception ex) {
            throw new AssertionError(String.join(" ", cmd) + ": its output did not end (a child holds the pipe?)", ex);
        }
    }

    private static String readAll(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}

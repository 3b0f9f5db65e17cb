package io.vmdumpfs.hardening;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.testing.QemuFixture;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Proof that a mount never writes: the real fixture core (not a copy) is mounted and attacked with every mutating
 * system call, and afterwards its SHA-256, size, mtime and ctime are unchanged. The serving process holds the core
 * open read-only (O_RDONLY in /proc/PID/fdinfo), every mutation fails with EROFS, and without allow_other another
 * user cannot even read the files.
 */
class ReadOnlyIT {

    /** Operations and the errno each must fail with; a write on a read-only descriptor is EBADF, not EROFS. */
    static final Map<String, String> EXPECTED = new LinkedHashMap<>();

    static {
        for (String op : List.of("open-wronly", "open-rdwr", "open-append", "open-trunc", "create", "mknod-fifo",
                "truncate", "truncate-grow", "unlink", "mkdir", "rmdir-file", "rmdir-missing", "rename", "rename-over",
                "chmod", "chown", "utimens", "touch-now", "symlink", "link", "setxattr", "removexattr", "chmod-root",
                "utimens-root")) {
            EXPECTED.put(op, "EROFS");
        }
        EXPECTED.put("write-on-rdonly-fd", "EBADF");
    }

    @TempDir
    static Path tmp;

    private static QemuFixture fixture;
    private static String sha256Before;
    private static String identityBefore;
    private static Path mnt;
    private static final Summary SUMMARY = new Summary("readonly");

    @BeforeAll
    static void mount() throws Exception {
        Mounts.requireFuse();
        fixture = QemuFixture.pc256();
        sha256Before = sha256(fixture.core());
        identityBefore = Mounts.identity(fixture.core());
        // Other users must reach the mount point (JUnit makes temp directories 0700), so that a refusal comes from
        // the mount and not from the path to it; probe.txt proves they can.
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(tmp.resolve("probe.txt"), "readable\n");
        Files.setPosixFilePermissions(tmp.resolve("probe.txt"), PosixFilePermissions.fromString("rw-r--r--"));
        mnt = Files.createDirectory(tmp.resolve("mnt"));
        Mounts.mountOk(tmp, fixture.core(), mnt);
    }

    @AfterAll
    static void unmountAndCompare() throws Exception {
        if (mnt != null) {
            Mounts.cleanUp(mnt);
        }
        if (fixture != null) {
            String after = sha256(fixture.core());
            SUMMARY.put("readonly.core_sha256_before", sha256Before).put("readonly.core_sha256_after", after)
                    .put("readonly.core_unchanged", after.equals(sha256Before));
            assertEquals(sha256Before, after, "SHA-256 of " + fixture.core());
            assertEquals(identityBefore, Mounts.identity(fixture.core()), "inode, size, mtime and ctime");
        }
    }

    @Test
    void server_holdsTheCoreOpenReadOnly() throws Exception {
        long pid = Mounts.serverPid(mnt);
        // Make it read: a lazily opened view must not reopen the core for writing either.
        Cli.sh(tmp, "head -c 1048576 " + mnt.resolve("vmcore.elf") + " >/dev/null; cat " + mnt.resolve("blocks.txt")
                + " >/dev/null");
        List<Integer> flags = Mounts.openFlags(pid, fixture.core());
        assertFalse(flags.isEmpty(), "the server has the core open");
        for (int f : flags) {
            assertEquals(0, f & 3, "O_ACCMODE of the core's descriptor is O_RDONLY: flags 0" + Integer.toOctalString(f));
        }
        String maps = Files.readString(Path.of("/proc", Long.toString(pid), "maps"));
        String real = fixture.core().toRealPath().toString();
        for (String line : maps.lines().filter(l -> l.endsWith(real)).toList()) {
            assertFalse(line.split("\\s+")[1].contains("w"), "no writable mapping of the core: " + line);
        }
        SUMMARY.put("readonly.core_descriptors", flags.size()).put("readonly.core_open_flags_rdonly", true);
    }

    @Test
    void everyMutatingOperation_failsWithEROFS() throws Exception {
        List<String> listingBefore = listing();
        Path script = tmp.resolve("erofs.py");
        try (InputStream in = ReadOnlyIT.class.getResourceAsStream("erofs.py")) {
            Files.write(script, in.readAllBytes());
        }
        Cli.Result r = Cli.command(tmp, List.of(python(), script.toString(), mnt.toString()), Cli.PROCESS_TIMEOUT);
        assertEquals(0, r.rc(), r.err());
        Map<String, String> got = new LinkedHashMap<>();
        r.out().lines().map(l -> l.split(" ")).forEach(f -> got.put(f[0], f[1]));
        int passed = 0;
        for (Map.Entry<String, String> e : EXPECTED.entrySet()) {
            if (e.getValue().equals(got.get(e.getKey()))) {
                passed++;
            }
        }
        // Shell tools say it in words.
        List<String> shell = List.of("touch " + mnt.resolve("x"), "echo x >> " + mnt.resolve("blocks.txt"),
                "rm -f " + mnt.resolve("blocks.txt"), "mkdir " + mnt.resolve("d"), "chmod 600 " + mnt.resolve("vmcoreinfo"),
                "truncate -s 0 " + mnt.resolve("vmcoreinfo"), "ln -s a " + mnt.resolve("l"),
                "mv " + mnt.resolve("vmcoreinfo") + " " + mnt.resolve("v2"), "touch " + mnt.resolve("vmcore.elf"));
        int shellPassed = 0;
        for (String cmd : shell) {
            Cli.Result s = Cli.sh(tmp, cmd);
            if (s.rc() != 0 && s.err().contains("Read-only file system")) {
                shellPassed++;
            } else {
                got.put("sh: " + cmd, "rc=" + s.rc() + " " + s.err().strip());
            }
        }
        SUMMARY.put("erofs.cases", EXPECTED.size() + shell.size()).put("erofs.passed", passed + shellPassed);
        System.out.printf("ReadOnlyIT: %d of %d mutating operations refused as expected%n", passed + shellPassed,
                EXPECTED.size() + shell.size());
        Map<String, String> relevant = new LinkedHashMap<>();
        EXPECTED.keySet().forEach(op -> relevant.put(op, got.get(op)));
        assertEquals(EXPECTED, relevant, "errno per operation");
        assertEquals(shell.size(), shellPassed, "shell commands report 'Read-only file system': " + got);
        assertEquals(listingBefore, listing(), "nothing changed in the mount");
    }

    @Test
    void withoutAllowOther_anotherUserCannotRead() throws Exception {
        String nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
        Cli.Result probe = Cli.sh(tmp, nobody + "cat " + tmp.resolve("probe.txt"));
        assertEquals("readable\n", probe.out(), "nobody reaches the directory of the mount point: " + probe.err());
        Cli.Result cat = Cli.sh(tmp, nobody + "head -c 16 " + mnt.resolve("vmcore.elf") + " | od -c | head -1");
        Cli.Result ls = Cli.sh(tmp, nobody + "ls " + mnt);
        Cli.Result stat = Cli.sh(tmp, nobody + "stat " + mnt.resolve("vmcoreinfo"));
        assertTrue(cat.err().contains("Permission denied"), "cat as nobody: " + cat.err() + cat.out());
        assertNotEquals(0, ls.rc(), "ls as nobody: " + ls.out());
        assertTrue(ls.err().contains("Permission denied"), ls.err());
        assertNotEquals(0, stat.rc(), "stat as nobody");
        // As root, the same files read fine: it is the user that is refused, not the file.
        assertEquals(0, Cli.sh(tmp, "head -c 16 " + mnt.resolve("vmcore.elf") + " >/dev/null").rc());
        SUMMARY.put("permissions.other_user_denied", true);
    }

    @Test
    void withAllowOther_anotherUserReadsButCannotWrite() throws Exception {
        Path other = Files.createDirectory(tmp.resolve("allow"));
        try {
            Mounts.mountOk(tmp, fixture.core(), other, "-o", "allow_other");
            String nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
            Cli.Result cat = Cli.sh(tmp, nobody + "head -c 4 " + other.resolve("vmcore.elf") + " | od -An -c");
            assertEquals(0, cat.rc(), cat.err());
            assertTrue(cat.out().replace(" ", "").contains("177ELF"), "nobody reads vmcore.elf: " + cat.out() + cat.err());
            Cli.Result w = Cli.sh(tmp, nobody + "touch " + other.resolve("vmcore.elf"));
            assertNotEquals(0, w.rc());
            assertTrue(w.err().contains("Read-only file system") || w.err().contains("Permission denied"), w.err());
        } finally {
            Mounts.cleanUp(other);
        }
    }

    private static List<String> listing() throws IOException, InterruptedException {
        return Cli.sh(tmp, "ls -ln --time-style=+%s " + mnt).out().lines().toList();
    }

    private static String python() {
        return Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    }

    static String sha256(Path file) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }
}

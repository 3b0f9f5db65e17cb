package io.vmdumpfs.hardening;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.vmdumpfs.core.testing.QemuFixture;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Mounting through the real command line, and the checks around it: is something mounted there, which process
 * serves it, what files it has open and how, and unmounting whatever a test left behind.
 */
final class Mounts {

    private Mounts() {
    }

    /** Skips (or in CI fails) unless FUSE mounts can work here: /dev/fuse, libfuse2, fusermount. */
    static void requireFuse() {
        QemuFixture.require(Files.exists(Path.of("/dev/fuse")), "/dev/fuse missing (modprobe fuse)");
        boolean libfuse = Stream.of("/lib/x86_64-linux-gnu/libfuse.so.2", "/usr/lib/x86_64-linux-gnu/libfuse.so.2",
                "/lib64/libfuse.so.2", "/usr/lib/libfuse.so.2").anyMatch(p -> Files.exists(Path.of(p)));
        QemuFixture.require(libfuse, "libfuse.so.2 missing (apt-get install libfuse2)");
        QemuFixture.require(Files.isExecutable(Path.of("/usr/bin/fusermount"))
                || Files.isExecutable(Path.of("/bin/fusermount")) || Files.isExecutable(Path.of("/usr/bin/fusermount3")),
                "fusermount missing (apt-get install fuse3)");
    }

    /** Mounts {@code core} at {@code mnt} with the real CLI (background) and returns the command's result. */
    static Cli.Result mount(Path tmp, Path core, Path mnt, String... options) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of(options));
        args.add(core.toString());
        args.add(mnt.toString());
        return Cli.process(tmp, args.toArray(String[]::new));
    }

    /** Mounts and asserts success: exit 0, nothing printed, mounted. */
    static void mountOk(Path tmp, Path core, Path mnt, String... options) throws IOException, InterruptedException {
        Cli.Result r = mount(tmp, core, mnt, options);
        assertEquals(0, r.rc(), "mount " + core + " at " + mnt + ": " + r.err() + r.out());
        assertEquals("", r.err() + r.out(), "a mount prints nothing");
        if (!isMounted(mnt)) {
            fail("vmdumpfs exited 0 but nothing is mounted at " + mnt);
        }
    }

    /** Returns true when the mount table lists {@code mnt} (as a mount point, with mountinfo's octal escapes). */
    static boolean isMounted(Path mnt) {
        try {
            String want = mnt.toAbsolutePath().toString();
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String[] f = line.split(" ");
                if (f.length > 4 && unescape(f[4]).equals(want)) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static String unescape(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length()) {
                sb.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    /** Returns the one vmdumpfs process serving {@code mnt}. */
    static long serverPid(Path mnt) {
        List<Long> pids = io.vmdumpfs.fuse.Processes.mentioning(mnt.toString());
        assertEquals(1, pids.size(), "one process serves " + mnt + ": " + pids);
        return pids.get(0);
    }

    /**
     * Returns the open flags (octal, as /proc/PID/fdinfo shows them) of every descriptor of {@code pid} that refers to
     * {@code file}; empty when it has none open.
     */
    static List<Integer> openFlags(long pid, Path file) throws IOException {
        List<Integer> flags = new ArrayList<>();
        Path real = file.toRealPath();
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    if (!Files.readSymbolicLink(fd).equals(real)) {
                        continue;
                    }
                    for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "fdinfo",
                            fd.getFileName().toString()))) {
                        if (line.startsWith("flags:")) {
                            flags.add(Integer.parseInt(line.substring(6).strip(), 8));
                        }
                    }
                } catch (IOException closed) {
                    // closed while we looked
                }
            }
        }
        return flags;
    }

    /** Unmounts {@code mnt} if mounted (lazily, so a busy mount goes too) and kills what still serves it. */
    static void cleanUp(Path mnt) {
        try {
            if (isMounted(mnt)) {
                new ProcessBuilder("fusermount", "-uz", mnt.toString()).redirectErrorStream(true).start().waitFor();
            }
        } catch (IOException e) {
            // fusermount missing: nothing was mounted by us either
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (long pid : io.vmdumpfs.fuse.Processes.mentioning(mnt.toString())) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    /** Waits until nothing is mounted at {@code mnt} and no process mentions it; returns the milliseconds taken. */
    static long awaitGone(Path mnt, long timeoutMs) throws InterruptedException {
        long t0 = System.currentTimeMillis();
        while (System.currentTimeMillis() - t0 < timeoutMs) {
            if (!isMounted(mnt) && io.vmdumpfs.fuse.Processes.mentioning(mnt.toString()).isEmpty()) {
                return System.currentTimeMillis() - t0;
            }
            Thread.sleep(20);
        }
        fail("after " + timeoutMs + " ms: mounted=" + isMounted(mnt) + ", processes=" + io.vmdumpfs.fuse.Processes.mentioning(mnt.toString()));
        return -1;
    }

    /**
     * Returns what identifies a file's content without reading it: device, inode, size, mtime and ctime. Any write,
     * truncate, chmod or rename changes ctime, which nothing can set back.
     */
    static String identity(Path file) throws IOException {
        return Files.getAttribute(file, "unix:dev", LinkOption.NOFOLLOW_LINKS) + ":"
                + Files.getAttribute(file, "unix:ino", LinkOption.NOFOLLOW_LINKS) + ":"
                + Files.size(file) + ":"
                + Files.getAttribute(file, "unix:lastModifiedTime", LinkOption.NOFOLLOW_LINKS) + ":"
                + Files.getAttribute(file, "unix:ctime", LinkOption.NOFOLLOW_LINKS);
    }
}

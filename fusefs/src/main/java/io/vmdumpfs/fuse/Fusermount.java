package io.vmdumpfs.fuse;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Unmounts a FUSE mount the way a user would: {@code fusermount -u} (setuid, so it works without root), falling back
 * to {@code fusermount3} and, for root, {@code umount}. libfuse2 itself only knows the name "fusermount", which
 * fuse3-only systems provide as a symlink to fusermount3.
 */
final class Fusermount {

    /** How long one unmount command may take; it only talks to the kernel, so more means it is stuck. */
    private static final long TIMEOUT_SECONDS = 10;

    private Fusermount() {
    }

    /**
     * Unmounts {@code mountPoint}. With {@code lazy}, detaches it even while busy (files still open keep working until
     * closed, new lookups fail), which is what a SIGTERM asks for.
     *
     * @return null on success, else the tool's one-line complaint
     */
    static String unmount(Path mountPoint, boolean lazy) {
        List<String> cmd = new ArrayList<>();
        Optional<String> tool = find("fusermount").or(() -> find("fusermount3"));
        if (tool.isPresent()) {
            cmd.add(tool.get());
            cmd.add(lazy ? "-uz" : "-u");
        } else {
            cmd.add("umount");
            if (lazy) {
                cmd.add("-l");
            }
        }
        cmd.add("--");
        cmd.add(mountPoint.toString());
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return String.join(" ", cmd) + " timed out";
            }
            if (p.exitValue() == 0) {
                return null;
            }
            String msg = new String(out, StandardCharsets.UTF_8).strip();
            return msg.isEmpty() ? String.join(" ", cmd) + " exited with " + p.exitValue() : msg.lines().findFirst().get();
        } catch (IOException e) {
            return "cannot run " + cmd.get(0) + ": " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    /** Returns the absolute path of {@code name} on PATH (or in /usr/bin and /bin), if it is there. */
    static Optional<String> find(String name) {
        String path = System.getenv().getOrDefault("PATH", "") + File.pathSeparator + "/usr/bin:/bin";
        for (String dir : path.split(File.pathSeparator)) {
            if (!dir.isEmpty()) {
                Path p = Path.of(dir, name);
                if (Files.isExecutable(p)) {
                    return Optional.of(p.toString());
                }
            }
        }
        return Optional.empty();
    }
}

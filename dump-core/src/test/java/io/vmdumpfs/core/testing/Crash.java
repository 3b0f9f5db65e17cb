package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The crash utility as a judge of dump files: runs several commands in one session (crash takes seconds to start)
 * and returns each command's output, split at shell-escape markers.
 */
public final class Crash {

    private static final String MARK = "==VMDUMPFS-CMD== ";

    private Crash() {
    }

    /** Returns the guest kernel's debug vmlinux for {@code release}; skips (fails in CI) when it is not installed. */
    public static Path vmlinux(String release) {
        QemuFixture.requireCommand("crash", "apt-get install crash");
        Path p = Path.of("/usr/lib/debug/boot/vmlinux-" + release);
        QemuFixture.require(Files.isReadable(p), p + " missing (apt-get install linux-image-" + release + "-dbg)");
        return p;
    }

    /**
     * Runs {@code commands} in one {@code crash -s VMLINUX DUMP} session and returns command → output. The DUMPFILE
     * line of {@code sys} names the file and is dropped, so outputs of two dumps of one guest compare equal.
     */
    public static Map<String, String> run(Path vmlinux, Path dump, List<String> commands) {
        return run(vmlinux, dump, commands, false);
    }

    /**
     * Runs {@code commands} as {@link #run(Path, Path, List)} does; with {@code minimal}, in {@code crash --minimal},
     * which skips the kernel's bring-up (tasks, per-CPU data) and so opens a dump that lacks what that reads; only
     * log, rd, sym, dis, eval and set work there.
     */
    public static Map<String, String> run(Path vmlinux, Path dump, List<String> commands, boolean minimal) {
        StringBuilder in = new StringBuilder();
        for (String c : commands) {
            in.append("!echo '").append(MARK).append(c).append("'\n").append(c).append('\n');
        }
        in.append("quit\n");
        try {
            List<String> argv = minimal ? List.of("crash", "--minimal", "-s", vmlinux.toString(), dump.toString())
                    : List.of("crash", "-s", vmlinux.toString(), dump.toString());
            Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
            p.getOutputStream().write(in.toString().getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                fail("crash did not finish on " + dump);
            }
            Map<String, String> byCmd = new LinkedHashMap<>();
            String[] parts = out.split("(?m)^" + MARK);
            byCmd.put("", parts[0]);
            for (int i = 1; i < parts.length; i++) {
                int nl = parts[i].indexOf('\n');
                String cmd = nl < 0 ? parts[i] : parts[i].substring(0, nl);
                String body = nl < 0 ? "" : parts[i].substring(nl + 1);
                byCmd.put(cmd.strip(), body.replaceAll("(?m)^\\s*DUMPFILE: .*\\n", ""));
            }
            if (byCmd.size() != commands.size() + 1) {
                fail("crash on " + dump + " ran " + (byCmd.size() - 1) + " of " + commands.size() + " commands (exit "
                        + p.exitValue() + "):\n" + tail(out));
            }
            return byCmd;
        } catch (IOException e) {
            throw new AssertionError("cannot run crash", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Runs {@code makedumpfile --dump-dmesg DUMP OUT} and returns the extracted log. */
    public static String makedumpfileDmesg(Path dump, Path outDir) {
        QemuFixture.requireCommand("makedumpfile", "apt-get install makedumpfile");
        Path out = outDir.resolve("dmesg-" + dump.getFileName() + ".txt");
        try {
            Files.deleteIfExists(out);
            Process p = new ProcessBuilder("makedumpfile", "--dump-dmesg", dump.toString(), out.toString())
                    .redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
                fail("makedumpfile --dump-dmesg " + dump + " failed:\n" + tail(log));
            }
            return Files.readString(out, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new AssertionError("cannot run makedumpfile", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static String tail(String s) {
        return s.substring(Math.max(0, s.length() - 4000));
    }
}

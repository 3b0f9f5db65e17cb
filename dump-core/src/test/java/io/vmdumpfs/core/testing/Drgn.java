package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * drgn as a judge of dump files: runs the Python script kept beside this class as a test resource
 * ({@code drgn_facts.py}) with Debian's {@code /usr/bin/python3} and its {@code python3-drgn} module (which opens
 * kdump files through {@code python3-libkdumpfile}), and returns what it printed: one {@code KEY VALUE} line per
 * fact; the script's header comment lists the keys. ({@link Libkdumpfile} judges with libkdumpfile alone.)
 *
 * <p>Without python3 or a module the calling test reports a skip; with {@code CI=true} it fails
 * ({@link QemuFixture#require}).
 */
public final class Drgn {

    /** Debian's interpreter: the one its python3-drgn and python3-libkdumpfile packages install into. */
    public static final Path PYTHON = Path.of("/usr/bin/python3");

    private Drgn() {
    }

    /** Skips (fails in CI) unless {@code /usr/bin/python3} can import {@code module} (from Debian's {@code pkg}). */
    public static void requireModule(String module, String pkg) {
        boolean ok = false;
        if (Files.isExecutable(PYTHON)) {
            try {
                Process p = new ProcessBuilder(PYTHON.toString(), "-c", "import " + module)
                        .redirectErrorStream(true).start();
                p.getInputStream().readAllBytes();
                ok = p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
            } catch (IOException e) {
                ok = false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
        QemuFixture.require(ok, PYTHON + " cannot import " + module + " (apt-get install " + pkg + ")");
    }

    /**
     * Returns what {@code drgn_facts.py} prints for {@code dump} read with {@code vmlinux}'s debug info: release,
     * nodename, tasks, marker lines, init's stack frames, page_offset_base, and for each {@code reads} pair
     * {kernelVaddr, length} a sha256 of those bytes as drgn reads them.
     */
    public static Facts drgnFacts(Path vmlinux, Path dump, long[]... reads) {
        requireModule("drgn", "python3-drgn");
        List<String> args = new ArrayList<>(List.of(vmlinux.toString(), dump.toString()));
        for (long[] r : reads) {
            args.addAll(List.of("read", Long.toHexString(r[0]), Long.toString(r[1])));
        }
        return new Facts(run("drgn_facts.py", args));
    }

    /**
     * Returns what {@code drgn_read.py} prints for {@code dump} opened without debug info: a "platform" line, and for
     * each {@code reads} pair {kernelVaddr, length} "read ADDR HEX" (the bytes drgn reads there) or "read-error ADDR
     * MESSAGE".
     */
    public static Facts readKernel(Path dump, long[]... reads) {
        requireModule("drgn", "python3-drgn");
        List<String> args = new ArrayList<>(List.of(dump.toString()));
        for (long[] r : reads) {
            args.addAll(List.of(Long.toHexString(r[0]), Long.toString(r[1])));
        }
        return new Facts(run("drgn_read.py", args));
    }

    /** The "KEY VALUE" lines a script printed. */
    public record Facts(List<String> lines) {

        /** Returns the values of every line with {@code key}, in order. */
        public List<String> all(String key) {
            List<String> out = new ArrayList<>();
            for (String l : lines) {
                if (l.startsWith(key + " ")) {
                    out.add(l.substring(key.length() + 1));
                } else if (l.equals(key)) {
                    out.add("");
                }
            }
            return out;
        }

        /** Returns the value of the one line with {@code key}, or fails. */
        public String one(String key) {
            List<String> v = all(key);
            if (v.size() != 1) {
                fail("expected one '" + key + "' line, got " + v.size() + " in:\n" + String.join("\n", lines));
            }
            return v.get(0);
        }

        @Override
        public String toString() {
            return String.join("\n", lines);
        }
    }

    /** Runs resource {@code script} with {@code args}; fails with its output unless it exits 0 within 10 minutes. */
    static List<String> run(String script, List<String> args) {
        byte[] source;
        try (InputStream in = Drgn.class.getResourceAsStream(script)) {
            if (in == null) {
                throw new AssertionError("test resource " + script + " missing beside " + Drgn.class.getName());
            }
            source = in.readAllBytes();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        List<String> cmd = new ArrayList<>(List.of(PYTHON.toString(), "-"));
        cmd.addAll(args);
        try {
            Path err = Files.createTempFile("drgn", ".stderr");
            try {
                Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
                p.getOutputStream().write(source);
                p.getOutputStream().close();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (!p.waitFor(10, TimeUnit.MINUTES)) {
                    p.destroyForcibly();
                    fail(script + " " + args + " did not finish in 10 minutes");
                }
                if (p.exitValue() != 0) {
                    String e = Files.readString(err);
                    fail(script + " " + args + " exited " + p.exitValue() + ":\n" + Crash.tail(out) + "\n"
                            + Crash.tail(e));
                }
                return out.lines().toList();
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new AssertionError("cannot run " + PYTHON, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}

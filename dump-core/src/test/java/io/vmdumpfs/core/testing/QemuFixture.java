package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A real QEMU fixture made by {@code scripts/make-qemu-core.sh}: a gcore of a stopped qemu-system-x86_64 process and
 * QEMU's own {@code dump-guest-memory} ELF of the same guest, as ground truth. The script caches fixtures, so only the
 * first test run on a machine pays for the boot.
 *
 * <p>When QEMU or the guest kernel is missing, tests report a skip; with {@code CI=true}, where everything is
 * installed, a missing prerequisite fails instead.
 *
 * @param dir  the fixture directory
 * @param meta meta.env's KEY=VALUE pairs (TOKEN, UNAME, MARKER, MACHINE, MEM_MIB, KASLR, …)
 */
public record QemuFixture(Path dir, Map<String, String> meta) {

    private static final Map<String, QemuFixture> MADE = new ConcurrentHashMap<>();

    /** The 256 MiB pc guest, KASLR on. */
    public static QemuFixture pc256() {
        return get("pc", 256, "on", 0, "on");
    }

    /** The 3 GiB q35 guest (RAM split below and above 4 GiB), KASLR on. */
    public static QemuFixture q35big() {
        return get("q35", 3072, "on", 0, "on");
    }

    /** A pc guest run with dump-guest-core=off: its RAM is absent from the core. */
    public static QemuFixture pc256NoGuestCore() {
        return get("pc", 256, "on", 0, "off");
    }

    public Path core() {
        return dir.resolve("qemu.core");
    }

    /** QEMU's own dump-guest-memory ELF (paging=false) of the same stopped guest. */
    public Path qemuDumpElf() {
        return dir.resolve("qemu-dump.elf");
    }

    /** Returns a meta.env value (quotes removed), or fails. */
    public String get(String key) {
        String v = meta.get(key);
        if (v == null) {
            fail("meta.env of " + dir + " has no " + key);
        }
        return v;
    }

    /** Makes (or finds cached) the fixture for these parameters. */
    public static synchronized QemuFixture get(String machine, int memMib, String kaslr, int fillMib,
            String dumpGuestCore) {
        String key = machine + "/" + memMib + "/" + kaslr + "/" + fillMib + "/" + dumpGuestCore;
        QemuFixture f = MADE.get(key);
        if (f == null) {
            f = make(machine, memMib, kaslr, fillMib, dumpGuestCore);
            MADE.put(key, f);
        }
        return f;
    }

    /** Returns the repository root (VMDUMPFS_ROOT, set by the build, or the nearest parent holding scripts/). */
    public static Path repoRoot() {
        String env = System.getenv("VMDUMPFS_ROOT");
        if (env != null && Files.isRegularFile(Path.of(env, "scripts", "make-qemu-core.sh"))) {
            return Path.of(env);
        }
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isRegularFile(p.resolve("scripts/make-qemu-core.sh"))) {
            p = p.getParent();
        }
        if (p == null) {
            fail("cannot find scripts/make-qemu-core.sh above " + Path.of("").toAbsolutePath());
        }
        return p;
    }

    /** Skips (or, in CI, fails) unless {@code command} is on the PATH. */
    public static void requireCommand(String command, String hint) {
        boolean found = false;
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, command))) {
                found = true;
                break;
            }
        }
        require(found, command + " not found (" + hint + ")");
    }

    /** Skips the test with {@code why} unless {@code ok}; in CI (CI=true) fails instead, since CI installs all. */
    public static void require(boolean ok, String why) {
        if (ok) {
            return;
        }
        if ("true".equals(System.getenv("CI"))) {
            fail("prerequisite missing in CI: " + why);
        }
        Assumptions.assumeTrue(false, why);
    }

    private static QemuFixture make(String machine, int memMib, String kaslr, int fillMib, String dumpGuestCore) {
        requireCommand("qemu-system-x86_64", "apt-get install qemu-system-x86");
        requireCommand("gdb", "apt-get install gdb");
        requireCommand("busybox", "apt-get install busybox-static");
        Path script = repoRoot().resolve("scripts/make-qemu-core.sh");
        List<String> cmd = List.of("bash", script.toString(), "--machine", machine, "--mem", Integer.toString(memMib),
                "--kaslr", kaslr, "--fill", Integer.toString(fillMib), "--dump-guest-core", dumpGuestCore);
        try {
            Path log = Files.createTempFile("make-qemu-core", ".log");
            Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(15, TimeUnit.MINUTES) || p.exitValue() != 0) {
                p.destroyForcibly();
                String tail = Files.readString(log);
                fail("make-qemu-core.sh " + String.join(" ", cmd.subList(2, cmd.size())) + " failed:\n"
                        + tail.substring(Math.max(0, tail.length() - 3000)));
            }
            Files.deleteIfExists(log);
            String[] lines = new String(out, StandardCharsets.UTF_8).strip().split("\n");
            Path dir = Path.of(lines[lines.length - 1].strip());
            return new QemuFixture(dir, readMeta(dir.resolve("meta.env")));
        } catch (IOException e) {
            throw new AssertionError("cannot run " + script, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static Map<String, String> readMeta(Path file) throws IOException {
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : Files.readAllLines(file)) {
            int eq = line.indexOf('=');
            if (eq <= 0 || line.startsWith("#")) {
                continue;
            }
            String v = line.substring(eq + 1);
            if (v.length() >= 2 && (v.startsWith("'") && v.endsWith("'") || v.startsWith("\"") && v.endsWith("\""))) {
                v = v.substring(1, v.length() - 1);
            }
            m.put(line.substring(0, eq), v);
        }
        return m;
    }
}

package io.vmdumpfs.fuse;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * "Return once mounted, keep serving in the background" for a JVM, which cannot fork: the command re-executes itself
 * as a child JVM in the foreground, and waits for the child to say it is ready. The shell launchers avoid this second
 * JVM start-up for plain mounts ({@link LauncherHandoff}); this path remains for {@code java -jar}, compressed cores
 * and heap sizes the launcher got wrong.
 *
 * <p>Protocol: the parent starts the child with {@link #NOTIFY_FLAG}, stdin from /dev/null, stdout and stderr piped.
 * The child's first such stdout line is {@value #READY} once the mount answers requests, or {@value #ERROR_PREFIX}
 * followed by the one-line error. Before writing READY the child points stderr, and right after it stdout and
 * stdin, at /dev/null, so nothing it does later can block on, or fail writing to, the parent's pipes. The parent
 * then exits 0; on an error line, or if the child exits without a line, it prints the error (with whatever libfuse
 * wrote to stderr when that is the only explanation) and exits 2.
 *
 * <p>Detaching: the child runs under {@code setsid(1)} when it is installed, and calls setsid(2) itself otherwise, so
 * the terminal's SIGINT/SIGHUP reach neither it nor its mount. It runs in "/" so that it does not keep the caller's
 * working directory busy; all paths handed to it are absolute.
 */
final class Background {

    /** Hidden mount option: "you are the background child; report readiness on stdout". */
    static final String NOTIFY_FLAG = "--x-notify-ready";
    static final String READY = "READY";
    static final String ERROR_PREFIX = "ERROR ";

    private static final Path SETSID = Path.of("/usr/bin/setsid");

    private Background() {
    }

    // ---------------------------------------------------------------- parent side

    /**
     * Starts {@code programArgs} in a detached child JVM (with {@code extraJvmArgs}) and waits for its first line.
     *
     * @return the exit code for the parent: 0 when the child reported READY, else 2 (after printing the error)
     */
    static int spawnAndWait(List<String> extraJvmArgs, List<String> programArgs, boolean debug, PrintStream err) {
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(SETSID)) {
            cmd.add(SETSID.toString());
        }
        List<String> jvm = new ArrayList<>(jvmCommand());
        LauncherHandoff.fromEnvironment().ifPresent(h -> {
            // The launcher's heap was not enough (a compressed core, another cache size): ours must win, the user's
            // own flags still come later and win over both.
            jvm.remove("-Xmx" + h.heapMib() + "m");
            jvm.remove("-Xmn" + MountCommand.YOUNG_MIB + "m");
        });
        // Ours right after the java binary: flags of the user's that come later override them.
        cmd.add(jvm.get(0));
        cmd.addAll(extraJvmArgs);
        cmd.addAll(jvm.subList(1, jvm.size()));
        cmd.addAll(programArgs);
        Process child;
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.environment().remove(LauncherHandoff.FD_ENV);
            pb.environment().remove(LauncherHandoff.HEAP_ENV);
            child = pb
                    .directory(new File("/"))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
        } catch (IOException e) {
            err.println("vmdumpfs: cannot start the mount process: " + e.getMessage());
            return CliException.EXIT_ERROR;
        }
        // Ctrl-C before READY: take the child (and any half-made mount) down with us.
        Thread killer = new Thread(child::destroy, "vmdumpfs-abort");
        Runtime.getRuntime().addShutdownHook(killer);
        StderrCollector stderr = new StderrCollector(child.getErrorStream());
        stderr.start();
        String line = null;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            // Skip what else the JVM may print first (a flag such as -XX:StartFlightRecording announces itself).
            for (String l; (l = out.readLine()) != null; ) {
                if (READY.equals(l) || l.startsWith(ERROR_PREFIX)) {
                    line = l;
                    break;
                }
            }
        } catch (IOException e) {
            line = null;
        }
        if (READY.equals(line)) {
            Runtime.getRuntime().removeShutdownHook(killer);
            return 0;
        }
        // Error or early exit: the child exits by itself; wait so its stderr is complete.
        try {
            child.waitFor();
            stderr.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        String libfuse = stderr.lastLine();
        String message;
        if (line != null && line.startsWith(ERROR_PREFIX)) {
            message = line.substring(ERROR_PREFIX.length());
        } else {
            message = "the mount process exited with status " + child.exitValue() + " before the file system was ready"
                    + (libfuse == null ? "" : ": " + libfuse);
        }
        if (MountCommand.isLibfuseFailure(message) && libfuse != null) {
            message = "mount failed: " + libfuse;
        }
        err.println("vmdumpfs: " + message);
        if (debug && !stderr.text().isBlank()) {
            err.print(stderr.text());
        }
        return CliException.EXIT_ERROR;
    }

    /** Returns how this JVM was started, without our program arguments: java binary, JVM flags, -jar/-cp, main. */
    static List<String> jvmCommand() {
        ProcessHandle.Info info = ProcessHandle.current().info();
        Optional<String> java = info.command();
        Optional<String[]> argv = info.arguments();
        String[] programArgs = Main.programArgs();
        if (java.isPresent() && argv.isPresent() && programArgs != null && argv.get().length >= programArgs.length) {
            String[] a = argv.get();
            int jvmArgs = a.length - programArgs.length;
            boolean tailMatches = true;
            for (int i = 0; i < programArgs.length; i++) {
                tailMatches &= a[jvmArgs + i].equals(programArgs[i]);
            }
            if (tailMatches) {
                List<String> cmd = new ArrayList<>();
                cmd.add(java.get());
                cmd.addAll(absolutePaths(List.of(a).subList(0, jvmArgs), Path.of("").toAbsolutePath()));
                return cmd;
            }
        }
        // /proc unreadable, or a launcher that rewrote argv: rebuild from system properties (loses JVM flags).
        return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", absoluteClassPath(System.getProperty("java.class.path"), Path.of("").toAbsolutePath()),
                Main.class.getName());
    }

    /**
     * Returns JVM arguments for the child: the paths in them made absolute against {@code cwd} (the child runs in
     * "/", so a relative {@code -jar fusefs/target/vmdumpfs.jar}, class path or CDS archive would not be found
     * there).
     */
    static List<String> absolutePaths(List<String> jvmArgs, Path cwd) {
        List<String> out = new ArrayList<>(jvmArgs.size());
        for (int i = 0; i < jvmArgs.size(); i++) {
            String a = jvmArgs.get(i);
            out.add(a);
            if (i + 1 < jvmArgs.size() && (a.equals("-jar") || a.equals("-cp") || a.equals("-classpath")
                    || a.equals("--class-path"))) {
                out.add(absoluteClassPath(jvmArgs.get(++i), cwd));
            } else if (a.startsWith("-XX:SharedArchiveFile=")) {
                out.set(out.size() - 1, "-XX:SharedArchiveFile="
                        + absoluteClassPath(a.substring("-XX:SharedArchiveFile=".length()), cwd));
            }
        }
        return out;
    }

    private static String absoluteClassPath(String path, Path cwd) {
        List<String> parts = new ArrayList<>();
        for (String p : path.split(File.pathSeparator, -1)) {
            parts.add(p.isEmpty() ? p : cwd.resolve(p).normalize().toString());
        }
        return String.join(File.pathSeparator, parts);
    }

    /** Reads the child's stderr while we wait, so that a chatty child never blocks on a full pipe. */
    private static final class StderrCollector extends Thread {
        private final InputStream in;
        private final StringBuilder text = new StringBuilder();

        StderrCollector(InputStream in) {
            super("vmdumpfs-child-stderr");
            setDaemon(true);
            this.in = in;
        }

        @Override
        public void run() {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                    synchronized (text) {
                        text.append(l).append('\n');
                    }
                }
            } catch (IOException e) {
                // The child went away; what we have is all there is.
            }
        }

        String text() {
            synchronized (text) {
                return text.toString();
            }
        }

        /** Returns the last non-blank line, e.g. libfuse's "fuse: mountpoint is not empty", or null. */
        String lastLine() {
            String last = null;
            for (String l : text().split("\n")) {
                if (!l.isBlank()) {
                    last = l.strip();
                }
            }
            return last;
        }
    }

    // ---------------------------------------------------------------- child side

    /** Leaves the caller's session unless setsid(1) already did. Best effort: failing leaves us attached. */
    static void detach() {
        try {
            LibC c = LibC.get();
            if (c.getsid(0) != c.getpid()) {
                c.setsid();
            }
        } catch (Throwable t) {
            // Without libc binding we stay in the session; the mount still works.
        }
    }

    /** Tells the parent we are mounted, then lets go of its pipes. */
    static void reportReady() {
        redirectToDevNull(2);
        System.out.println(READY);
        System.out.flush();
        redirectToDevNull(1);
        redirectToDevNull(0);
    }

    /** Tells the parent why we failed; the caller exits next. */
    static void reportError(String message) {
        System.out.println(ERROR_PREFIX + message.replace('\n', ' '));
        System.out.flush();
    }

    static void redirectToDevNull(int fd) {
        System.err.flush();
        LibC c = LibC.get();
        int nul = c.open("/dev/null", LibC.O_RDWR);
        if (nul >= 0) {
            c.dup2(nul, fd);
            c.close(nul);
        }
    }
}

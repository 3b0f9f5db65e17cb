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
 * as a detached child JVM with the heap the mount needs, and waits for the child to say it is ready
 * ({@link ParentPipe}). The launchers avoid this second JVM start ({@link LauncherPipe}); it remains for
 * {@code java -jar} and launchers that could not make a pipe.
 *
 * <p>The child runs under {@code setsid(1)} when it is installed (and calls setsid(2) itself otherwise), so that the
 * terminal's SIGINT/SIGHUP reach neither it nor its mount, in "/" so that it does not keep the caller's working
 * directory busy, with stdin from /dev/null. Its arguments are the command's own, written back from picocli's model
 * with every path absolute ({@link MountCommand#childArgs}), and {@link #NOTIFY_FLAG}. On READY the parent exits 0;
 * on an error line, or if the child exits without a line, it prints the error (with whatever libfuse wrote to stderr
 * when that is the only explanation) and exits 2.
 */
final class Background {

    /** Hidden mount option: "you are the background child; report readiness on stdout" ({@link ParentPipe}). */
    static final String NOTIFY_FLAG = "--x-notify-ready";

    private static final Path SETSID = Path.of("/usr/bin/setsid");

    private Background() {
    }

    /**
     * Starts {@code programArgs} in a detached child JVM with a heap of {@code heapMib} and waits for its first line.
     *
     * @return the exit code for the parent: 0 when the child reported READY, else 2 (after printing the error)
     */
    static int spawnAndWait(long heapMib, List<String> programArgs, boolean debug, PrintStream err) {
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(SETSID)) {
            cmd.add(SETSID.toString());
        }
        List<String> jvm = jvmCommand();
        cmd.add(jvm.get(0));
        // A launcher's options (its heap did not fit, or it could not wait for us) give way to ours; the user's own
        // flags still come later and win.
        cmd.addAll(JvmOptions.withHeap(jvm.subList(1, jvm.size()), JvmOptions.fromLauncher(), heapMib));
        cmd.addAll(programArgs);
        Process child;
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.environment().remove(LauncherPipe.FD_ENV);
            pb.environment().remove(JvmOptions.ENV);
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
                if (ParentPipe.READY.equals(l) || l.startsWith(ParentPipe.ERROR_PREFIX)) {
                    line = l;
                    break;
                }
            }
        } catch (IOException e) {
            line = null;
        }
        if (ParentPipe.READY.equals(line)) {
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
        if (line != null && line.startsWith(ParentPipe.ERROR_PREFIX)) {
            message = line.substring(ParentPipe.ERROR_PREFIX.length());
        } else {
            message = "the mount process exited with status " + child.exitValue() + " before the file system was ready"
                    + (libfuse == null ? "" : ": " + libfuse);
        }
        if (MountSession.isLibfuseFailure(message) && libfuse != null) {
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
}

package io.vmdumpfs.fuse;

import io.vmdumpfs.core.LibC;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.stream.Stream;

/**
 * Restarts this JVM in place with another heap: execve(2) of the same command, the launcher's heap options replaced
 * by ours. The launchers pass the heap of a default mount on this machine ({@link JvmOptions}); a mount or
 * {@code convert} with another cache size, or over a core beyond the index allowance, needs its own, and a JVM's heap
 * is fixed when it starts. The process stays the one the launcher started and waits for — same pid, READY pipe, terminal,
 * working directory, arguments and environment — so the launcher needs no protocol for it. It costs one JVM start
 * (~0.3 s), paid only by commands that are not a default mount.
 */
final class Restart {

    private Restart() {
    }

    /**
     * Restarts this JVM with a heap of {@code neededMib} when a launcher started it with a heap that does not fit
     * ({@link JvmOptions#fits}), or with none (it had no options file); returns when it fits, when no launcher
     * started this JVM (a user's {@code java -jar} keeps what it chose), or when it cannot restart.
     */
    static void unlessHeapFits(long neededMib) {
        if (System.getenv(JvmOptions.ENV) == null) {
            return;
        }
        OptionalLong given = JvmOptions.heapMib(JvmOptions.fromLauncher());
        if (given.isEmpty() || !JvmOptions.fits(given.getAsLong(), neededMib)) {
            withHeap(neededMib, LauncherPipe.fromEnvironment().map(LauncherPipe::fd).orElse(-1));
        }
    }

    /**
     * Replaces this process by this command with a heap of {@code heapMib}, keeping descriptors 0-2 and
     * {@code keepFd} open (the launcher's pipe; -1 for none) and closing every other on the way.
     *
     * <p>Returns only when it could not (no libc, execve failed): the caller then goes on with the heap it has.
     */
    private static void withHeap(long heapMib, int keepFd) {
        String[] programArgs = Main.programArgs();
        if (programArgs == null) {
            return; // not started by main(): a test
        }
        List<String> jvm = Background.jvmCommand();
        List<String> launcher = JvmOptions.fromLauncher();
        List<String> argv = new ArrayList<>();
        argv.add(jvm.get(0));
        argv.addAll(JvmOptions.withHeap(jvm.subList(1, jvm.size()), launcher, heapMib));
        argv.addAll(List.of(programArgs));
        List<String> env = new ArrayList<>();
        for (Map.Entry<String, String> e : System.getenv().entrySet()) {
            if (!e.getKey().equals(JvmOptions.ENV)) {
                env.add(e.getKey() + "=" + e.getValue());
            }
        }
        // The new JVM's heap came from us: it fits, so it will not restart again.
        env.add(JvmOptions.ENV + "=" + String.join(" ", JvmOptions.forJava(Runtime.version().feature(), heapMib)));
        try {
            LibC c = LibC.get();
            closeOnExec(c, keepFd);
            // execve keeps the calling thread's signal mask, and the JVM blocks some signals in its threads.
            c.pthread_sigmask(LibC.SIG_SETMASK, new byte[LibC.SIGSET_BYTES], null);
            System.out.flush();
            System.err.flush();
            c.execve(argv.get(0), argv.toArray(String[]::new), env.toArray(String[]::new));
        } catch (LinkageError e) {
            // no libc binding: stay
        }
    }

    /**
     * Marks every open descriptor above 2 but {@code keepFd} close-on-exec: the JVM's own (its jar, modules, random
     * devices) do not set it, and the new JVM would carry them for its whole life.
     */
    private static void closeOnExec(LibC c, int keepFd) {
        List<Integer> fds = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            s.forEach(p -> {
                String n = p.getFileName().toString();
                if (n.matches("[0-9]{1,9}")) {
                    fds.add(Integer.parseInt(n));
                }
            });
        } catch (IOException | RuntimeException e) {
            return; // no /proc: the descriptors leak into the new JVM, which works all the same
        }
        for (int fd : fds) {
            if (fd > 2 && fd != keepFd) {
                c.fcntl(fd, LibC.F_SETFD, LibC.FD_CLOEXEC); // the listing's own descriptor is closed by now: EBADF
            }
        }
    }
}

package io.vmdumpfs.fuse;

import io.vmdumpfs.core.BadCoreException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import picocli.CommandLine;

/**
 * The {@code vmdumpfs} command line. {@code vmdumpfs CORE MOUNTPOINT} mounts (the {@code mount} command is the
 * default), {@code vmdumpfs blocks|info|convert …} work on the core without FUSE.
 *
 * <p>Every failure prints one line, {@code vmdumpfs: <message>}, and exits with 2; {@code --debug} (and {@code -d})
 * add the stack trace. A core file literally named like a command ("info") needs {@code vmdumpfs mount ./info MNT}.
 */
public final class Main {

    /** Subcommand names: a first argument that is none of these starts a mount. */
    static final Set<String> COMMANDS = Set.of("mount", "blocks", "info", "convert", "help");

    /** Implemented by commands that have a --debug flag, so the error handler knows whether to print stack traces. */
    interface HasDebug {
        boolean debug();
    }

    /** System.nanoTime() when this class was initialised, at the start of main(): the zero of the timing logs. */
    static final long STARTED_NANOS = System.nanoTime();

    /** Returns the milliseconds since main() started. */
    static long sinceStartMillis() {
        return (System.nanoTime() - STARTED_NANOS) / 1_000_000;
    }

    /** The arguments main() got, so that {@link Restart} can run this command again. */
    private static volatile String[] programArgs;

    private Main() {
    }

    public static void main(String[] args) {
        programArgs = args.clone();
        int rc = run(args, System.out, System.err);
        System.out.flush();
        System.exit(rc);
    }

    /** Returns the arguments main() was called with, or null when called otherwise (tests). */
    static String[] programArgs() {
        String[] a = programArgs;
        return a == null ? null : a.clone();
    }

    /** Runs the command line and returns the exit code; never calls System.exit. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 1 && args[0].equals(CDS_TRAIN)) {
            return trainClassDataSharing(out, err);
        }
        try {
            if (args.length == 1 && args[0].equals(PRINT_JVM_OPTIONS)) {
                out.print(JvmOptions.fileText());
                return 0;
            }
            String[] routed = route(args);
            return commandLine(out, err, routed[0]).execute(routed);
        } catch (Throwable t) {
            // Errors (OutOfMemoryError, LinkageError) pass through picocli's Exception handler.
            err.println("vmdumpfs: " + describe(t));
            return CliException.EXIT_ERROR;
        }
    }

    /**
     * Returns the command line with the subcommand {@code only} (all of them for "help" or an option): picocli
     * reflects over every command it is given, and a mount should not pay for the others.
     */
    static CommandLine commandLine(PrintStream out, PrintStream err, String only) {
        boolean all = !COMMANDS.contains(only) || only.equals("help");
        CommandLine cl = new CommandLine(new TopCommand());
        if (all || only.equals("mount")) {
            cl.addSubcommand("mount", new MountCommand(err));
        }
        if (all || only.equals("blocks")) {
            cl.addSubcommand("blocks", new BlocksCommand(out));
        }
        if (all || only.equals("info")) {
            cl.addSubcommand("info", new InfoCommand(out));
        }
        if (all || only.equals("convert")) {
            cl.addSubcommand("convert", new ConvertCommand(out));
        }
        if (all) {
            cl.addSubcommand("help", new CommandLine.HelpCommand());
        }
        cl.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        // "@file" would expand a core called "@foo"; cores are paths, never argument files.
        cl.setExpandAtFiles(false);
        // fstab/mount.fuse may repeat options; the last one wins, as with mount(8).
        cl.setOverwrittenOptionsAllowed(true);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((ex, a) -> {
            String name = ex.getCommandLine().getCommandName();
            String help = "mount".equals(name) || "vmdumpfs".equals(name) ? "vmdumpfs --help" : "vmdumpfs " + name + " --help";
            err.println("vmdumpfs: " + lowerFirst(ex.getMessage()) + " (see " + help + ")");
            return CliException.EXIT_ERROR;
        });
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            err.println("vmdumpfs: " + describe(ex));
            if (cmd.getCommand() instanceof HasDebug d && d.debug()) {
                ex.printStackTrace(err);
            }
            return CliException.EXIT_ERROR;
        });
        return cl;
    }

    /**
     * Returns {@code args} with "mount" in front unless they start with a command name or ask for the version, so
     * that {@code vmdumpfs [OPTIONS] CORE MNT} mounts. Help goes to the mount command, whose help lists everything.
     */
    static String[] route(String[] args) {
        if (args.length == 0) {
            return new String[] {"mount"};
        }
        String first = args[0];
        if (first.equals("-h") || first.equals("--help") || (first.equals("help") && args.length == 1)) {
            return new String[] {"mount", "--help"};
        }
        if (first.equals("-V") || first.equals("--version") || COMMANDS.contains(first)) {
            return args.clone();
        }
        String[] routed = new String[args.length + 1];
        routed[0] = "mount";
        System.arraycopy(args, 0, routed, 1, args.length);
        return routed;
    }

    /** For the launchers: print the JVM options file ({@link JvmOptions}; fusefs/src/main/sh/launch.sh). */
    static final String PRINT_JVM_OPTIONS = "--print-jvm-options";

    /** Hidden: load the classes of a mount's start-up path, for the launcher's class-data archive. */
    static final String CDS_TRAIN = "--x-cds-train";

    /**
     * Walks the start-up path of a mount without mounting: parses a command line, reads the mount table, opens a
     * missing core, binds libc and libfuse, makes a chunk cache and runs each codec once; then loads (without
     * initialising) every vmdumpfs class, since a missing core reaches few of those that open, index and serve a
     * real one. The launcher runs this once with -XX:ArchiveClassesAtExit so that later runs map these classes from
     * the archive instead of loading them (about 180 of ours and 70 of Caffeine's on a mount and first kdump copy).
     */
    static int trainClassDataSharing(PrintStream out, PrintStream err) {
        String[] mount = route(new String[] {"-f", "-o", "allow_other,cache_size=1M,rw", "/core", "/mnt"});
        CommandLine cl = commandLine(out, err, mount[0]);
        cl.parseArgs(mount);
        CommandArgs.of(cl.getSubcommands().get("mount").getCommandSpec());
        MountOptions opts = MountOptions.parse(List.of("uid=0,gid=0,blocks=/b"));
        JvmOptions.fits(JvmOptions.heapMib(opts.cacheSizeBytes(), java.nio.file.Path.of("/nonexistent/core")),
                JvmOptions.heapMib(JvmOptions.fromLauncher()).orElse(0));
        MountInfo.read();
        Preflight.findLibrary(Preflight.librarySearchPath(), Preflight.LIBFUSE2);
        try {
            io.vmdumpfs.core.guest.GuestDumps.open(java.nio.file.Path.of("/nonexistent/core"),
                    java.util.Optional.empty());
        } catch (RuntimeException expected) {
            describe(expected);
        }
        try {
            io.vmdumpfs.core.LibC.get().getuid();
            new VmdumpFs();
        } catch (Throwable noLibfuse) {
            // Nothing to archive then; the mount will report the missing library.
        }
        io.vmdumpfs.core.format.ChunkCache cache = Caches.context(java.util.OptionalLong.of(1 << 20)).cache();
        cache.get("train", k -> java.nio.ByteBuffer.allocate(16));
        for (io.vmdumpfs.core.format.kdump.KdumpCodec c : io.vmdumpfs.core.format.kdump.KdumpCodec.values()) {
            try {
                c.fingerprint(); // compresses four pages: the codec's library and its binding
            } catch (Throwable unavailable) {
                // a codec whose library is missing: its file reports that when read
            }
        }
        loadOwnClasses();
        return 0;
    }

    /** Loads every class of this jar under io/vmdumpfs/, without running their static initialisers. */
    private static void loadOwnClasses() {
        ClassLoader loader = Main.class.getClassLoader();
        try (java.util.jar.JarFile jar = new java.util.jar.JarFile(java.nio.file.Path.of(
                Main.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toFile())) {
            jar.stream().map(java.util.jar.JarEntry::getName)
                    .filter(n -> n.startsWith("io/vmdumpfs/") && n.endsWith(".class"))
                    .forEach(n -> {
                        try {
                            Class.forName(n.substring(0, n.length() - 6).replace('/', '.'), false, loader);
                        } catch (Throwable e) {
                            // a class that cannot load here (a missing optional library) is loaded by use, if ever
                        }
                    });
        } catch (java.io.IOException | java.net.URISyntaxException | RuntimeException notAJar) {
            // run from classes (tests, an IDE): no archive is made from those
        }
    }

    /** Returns the one-line message for {@code t}: the user's problem as it is, anything else as an internal error. */
    static String describe(Throwable t) {
        if (t instanceof CliException || t instanceof BadCoreException) {
            return t.getMessage();
        }
        if (t instanceof OutOfMemoryError) {
            return "out of memory; give Java more heap (JAVA_TOOL_OPTIONS=-Xmx…) or a smaller cache_size";
        }
        return "internal error: " + t.getClass().getSimpleName()
                + (t.getMessage() == null ? "" : ": " + t.getMessage()) + " (--debug shows where)";
    }

    /** Returns the innermost cause's message, e.g. libfuse's return code under jnr-fuse's wrapper. */
    static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getMessage() == null ? c.getClass().getSimpleName() : c.getMessage();
    }

    private static String lowerFirst(String s) {
        if (s == null || s.isEmpty() || (s.length() > 1 && Character.isUpperCase(s.charAt(1)))) {
            return s;
        }
        return s.substring(0, 1).toLowerCase(Locale.ROOT) + s.substring(1);
    }

    /** The top of the command tree; it only dispatches (see {@link #route}). */
    @CommandLine.Command(name = "vmdumpfs", versionProvider = Version.class, mixinStandardHelpOptions = true,
            description = "Mount a QEMU process core read-only and read the guest's memory as vmcore files.")
    static final class TopCommand {
    }

    /** Reads the version that the build writes into version.properties. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"vmdumpfs " + version()};
        }

        static String version() {
            try (var in = Main.class.getResourceAsStream("version.properties")) {
                if (in != null) {
                    java.util.Properties p = new java.util.Properties();
                    p.load(in);
                    return p.getProperty("version", "unknown");
                }
            } catch (java.io.IOException e) {
                // fall through
            }
            return "unknown";
        }
    }
}

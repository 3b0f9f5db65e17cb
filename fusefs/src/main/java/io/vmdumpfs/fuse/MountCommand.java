package io.vmdumpfs.fuse;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import ru.serce.jnrfuse.FuseException;

/**
 * {@code vmdumpfs [OPTIONS] CORE MOUNTPOINT}: checks everything it can before mounting, then either serves in the
 * foreground ({@code -f}, {@code -d}) or serves in the background and returns once the files are visible: in this JVM
 * when the shell launcher started it for that ({@link LauncherHandoff}), else in a re-executed one ({@link Background}).
 */
@Command(name = "mount", sortOptions = false, separator = " ", versionProvider = Main.Version.class,
        customSynopsis = {
            "vmdumpfs [-fd] [--debug] [-o OPT[,OPT...]] CORE MOUNTPOINT",
            "       vmdumpfs blocks [--blocks FILE] CORE",
            "       vmdumpfs info [--blocks FILE] CORE",
            "       vmdumpfs convert --format FORMAT -o FILE CORE",
        },
        description = {
            "",
            "Mounts the guest memory in CORE, a core dump of a qemu-system-x86_64",
            "process, read-only at MOUNTPOINT: vmcore.elf (for crash), vmcore.kdump-*,",
            "blocks.txt and vmcoreinfo, each generated as it is read. Returns once the",
            "files are visible and keeps serving in the background.",
            "Unmount with: fusermount -u MOUNTPOINT",
            "",
        },
        footerHeading = "%nMount options (-o):%n",
        footer = {
            "  allow_other      let other users read the files (modes 0444/0555);",
            "                   non-root needs user_allow_other in /etc/fuse.conf",
            "  uid=N, gid=N     owner and group of the files (default: you)",
            "  cache_size=SIZE  chunk cache bound in bytes, suffix K, M or G",
            "                   (default: 1/16 of RAM, 256M to 1G)",
            "  blocks=FILE      use this block table (from `vmdumpfs blocks`)",
            "                   instead of discovering it",
            "  nonempty         allow a mount point that is not empty",
            "  ro, rw, defaults, auto, noauto, user, users, nouser, _netdev, nofail,",
            "  exec, noexec, suid, nosuid, dev, nodev, x-*, comment=*:",
            "                   accepted and ignored, for fstab lines like",
            "  /var/crash/qemu.core /mnt/guest fuse.vmdumpfs noauto,allow_other 0 0",
            "",
            "Commands:",
            "  mount     mount (the default: `vmdumpfs CORE MNT`)",
            "  blocks    print the guest RAM block table",
            "  info      print architecture, RAM, QEMU and kernel release of CORE",
            "  convert   write one of the files to disk, with a progress bar",
            "  (vmdumpfs COMMAND --help for each)",
            "",
            "Exit status: 0 when mounted (with -f: when unmounted again), 2 on errors.",
        })
final class MountCommand implements Callable<Integer>, Main.HasDebug {

    private static final Logger LOG = Logger.getLogger("io.vmdumpfs.fuse");

    /** How long the child waits for its mount to show in the mount table after INIT; only a wedged kernel takes long. */
    private static final long VISIBLE_TIMEOUT_MS = 30_000;

    @Parameters(index = "0", paramLabel = "CORE", description = "the QEMU process core dump")
    Path core;

    @Parameters(index = "1", paramLabel = "MOUNTPOINT", description = "an empty directory")
    Path mountPoint;

    @Option(names = "-f", description = "stay in the foreground")
    boolean foreground;

    @Option(names = "-d", description = "debug: FUSE debug output and stack traces; implies -f")
    boolean fuseDebug;

    @Option(names = "--debug", description = "show stack traces for errors")
    boolean debug;

    @Option(names = "-o", paramLabel = "OPT[,OPT...]", description = "mount options, see below")
    List<String> options = new ArrayList<>();

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help")
    boolean help;

    @Option(names = {"-V", "--version"}, versionHelp = true, description = "print the version")
    boolean version;

    @Option(names = Background.NOTIFY_FLAG, hidden = true)
    boolean notifyReady;

    /** Child only: the core as the user named it, when CORE is its decompressed copy. */
    @Option(names = SHOWN_AS_FLAG, hidden = true)
    Path shownAs;

    static final String SHOWN_AS_FLAG = "--x-shown-as";

    /** Set when the launcher started this JVM to serve the background mount itself. */
    private LauncherHandoff handoff;

    /** Set once READY or ERROR went to the parent, so that exactly one of them does. */
    private final AtomicBoolean reported = new AtomicBoolean();

    private final PrintStream err;

    MountCommand() {
        this(System.err);
    }

    MountCommand(PrintStream err) {
        this.err = err;
    }

    @Override
    public boolean debug() {
        return debug || fuseDebug;
    }

    /** The serving JVM's young generation: small and fixed, so the old generation holds the chunk cache. */
    static final int YOUNG_MIB = 48;
    /** Heap beyond the chunk cache and the kdump indexes: young generation, other live objects, garbage. */
    static final int HEADROOM_MIB = 128;

    /**
     * Returns the serving JVM's heap in MiB: the chunk cache, kdump indexes (about 2 bytes per guest page each, four
     * files) and {@value #HEADROOM_MIB} MiB for everything else. Without a bound the JVM sizes its heap from the
     * host's RAM and keeps garbage from compression around, so the server's RSS grew to several times the cache.
     * The launcher (fusefs/src/main/sh/launch.sh) computes the same.
     */
    static long heapMib(MountOptions opts, Path core) {
        long cache = opts.cacheSizeBytes().orElse(io.vmdumpfs.cache.CaffeineChunkCache.defaultBytes());
        long indexes = 0;
        try {
            indexes = Files.size(core) / 4096 * 2 * 4;
        } catch (IOException e) {
            // the open will report it
        }
        return (cache + indexes >> 20) + HEADROOM_MIB;
    }

    /** Returns the heap flags for the background child; a user's own -Xmx (VMDUMPFS_JAVA_OPTS) comes later and wins. */
    static List<String> heapBound(MountOptions opts, Path core) {
        return List.of("-Xmx" + heapMib(opts, core) + "m", "-Xmn" + YOUNG_MIB + "m");
    }

    @Override
    public Integer call() {
        try {
            MountOptions opts = MountOptions.parse(options);
            // The background child runs in "/", so everything it gets must be absolute.
            opts = opts.withBlocksFile(opts.blocksFile().map(p -> p.toAbsolutePath().normalize()));
            Path coreAbs = core.toAbsolutePath().normalize();
            Path shown = shownAs != null ? shownAs : coreAbs;
            Path mnt = Preflight.checkMountPoint(mountPoint, opts.nonempty(), MountInfo.read());
            Preflight.checkDevFuse(Preflight.DEV_FUSE);
            Preflight.checkLibfuse2(Preflight.librarySearchPath());
            // A compressed core is decompressed here, before the child starts: the progress bar needs the terminal.
            Path toOpen = notifyReady ? coreAbs : Caches.resolveCore(coreAbs);
            if (!foreground && !fuseDebug && !notifyReady) {
                // Serve here when the launcher started us for that with enough heap; else start the server JVM.
                MountOptions o = opts;
                handoff = LauncherHandoff.fromEnvironment()
                        .filter(h -> toOpen.equals(coreAbs) && h.heapMib() >= heapMib(o, toOpen)).orElse(null);
                if (handoff == null) {
                    return Background.spawnAndWait(heapBound(opts, toOpen), childArgs(toOpen, shown, mnt, opts),
                            debug(), err);
                }
            }
            return serve(toOpen, shown, mnt, opts);
        } catch (RuntimeException | Error e) {
            if (notifyReady) {
                if (reported.compareAndSet(false, true)) {
                    Background.reportError(Main.describe(e));
                }
                if (debug()) {
                    e.printStackTrace();
                }
                return CliException.EXIT_ERROR;
            }
            throw e;
        }
    }

    /**
     * Returns the command for the background child's arguments, as {@link #childArgs} wrote them: "mount",
     * {@link Background#NOTIFY_FLAG}, "-f", optionally "--debug", "--x-shown-as FILE" and "-o OPTIONS", then "--",
     * CORE, MOUNTPOINT.
     *
     * @throws IllegalArgumentException for anything else: only the parent starts the child
     */
    static MountCommand forChild(List<String> args, PrintStream err) {
        MountCommand c = new MountCommand(err);
        int i = 0;
        if (args.size() < 6 || !args.get(i++).equals("mount") || !args.get(i++).equals(Background.NOTIFY_FLAG)
                || !args.get(i++).equals("-f")) {
            throw new IllegalArgumentException("not background-child arguments: " + args);
        }
        c.notifyReady = true;
        c.foreground = true;
        if (args.get(i).equals("--debug")) {
            c.debug = true;
            i++;
        }
        if (args.get(i).equals(SHOWN_AS_FLAG)) {
            c.shownAs = Path.of(args.get(i + 1));
            i += 2;
        }
        if (args.get(i).equals("-o")) {
            c.options.add(args.get(i + 1));
            i += 2;
        }
        if (args.size() != i + 3 || !args.get(i).equals("--")) {
            throw new IllegalArgumentException("not background-child arguments: " + args);
        }
        c.core = Path.of(args.get(i + 1));
        c.mountPoint = Path.of(args.get(i + 2));
        return c;
    }

    /** Returns the child's arguments: this mount, in the foreground, reporting readiness, with absolute paths. */
    List<String> childArgs(Path coreAbs, Path shown, Path mnt, MountOptions opts) {
        List<String> a = new ArrayList<>(List.of("mount", Background.NOTIFY_FLAG, "-f"));
        if (debug) {
            a.add("--debug");
        }
        if (!shown.equals(coreAbs)) {
            a.add(SHOWN_AS_FLAG);
            a.add(shown.toString());
        }
        String o = opts.toOptionString();
        if (!o.isEmpty()) {
            a.add("-o");
            a.add(o);
        }
        a.add("--");
        a.add(coreAbs.toString());
        a.add(mnt.toString());
        return a;
    }

    private int serve(Path coreAbs, Path shown, Path mnt, MountOptions opts) {
        if (notifyReady) {
            // stderr is the parent's pipe until READY, then /dev/null: errors travel in the ERROR line instead.
            Log.configure(Level.OFF, false);
        } else {
            Log.configure(debug() ? Level.FINE : Level.WARNING, debug());
        }
        LOG.fine(() -> "arguments checked at +" + Main.sinceStartMillis() + " ms");
        // Binding libfuse (jnr-ffi generates a class per callback) and opening the core (block discovery) take a few
        // hundred milliseconds each and need nothing from each other: on two cores they overlap.
        CompletableFuture<Bound> bound = CompletableFuture.supplyAsync(this::bind, MountCommand::startDaemon);
        try (MountSource src = MountSource.open(coreAbs, shown, opts.blocksFile(),
                Caches.context(opts.cacheSizeBytes()))) {
            LOG.fine(() -> "core opened at +" + Main.sinceStartMillis() + " ms: " + src.dump().blocksSource());
            Bound b = join(bound);
            LOG.fine(() -> "libfuse bound at +" + Main.sinceStartMillis() + " ms");
            Ownership own = Ownership.of(opts, b.uid(), b.gid(), src.coreMtime());
            FsContent content = new FsContent(src.files(), own, src.coreBytes(), src.dump().core());
            Thread watcher = new Thread(() -> announceWhenVisible(b.fs(), mnt, shown), "vmdumpfs-ready");
            watcher.setDaemon(true);
            watcher.start();
            try {
                b.fs().serve(mnt, content, fuseDebug, fuseArgs(shown, opts));
            } catch (FuseException e) {
                throw new CliException(LIBFUSE_FAILED + " (" + Main.rootMessage(e) + ")", e);
            }
            LOG.fine(() -> "unmounted " + mnt);
            return 0;
        } catch (IOException e) {
            // Closing the core failed after unmount: nothing the user could act on.
            return 0;
        } catch (RuntimeException | Error e) {
            bound.cancel(false);
            throw e;
        }
    }

    /** The file system bound to libfuse, and our ids. */
    private record Bound(VmdumpFs fs, long uid, long gid) {
    }

    /** Leaves the terminal's session (background child), binds libc and libfuse. Runs beside the core opening. */
    private Bound bind() {
        if (notifyReady) {
            Background.detach();
        }
        LibC libc = LibC.get();
        try {
            return new Bound(new VmdumpFs(), Integer.toUnsignedLong(libc.getuid()), Integer.toUnsignedLong(libc.getgid()));
        } catch (LinkageError e) {
            throw new CliException("cannot load " + Preflight.LIBFUSE2 + " (libfuse2): " + Main.rootMessage(e)
                    + "; install it: apt-get install libfuse2", e);
        }
    }

    private static void startDaemon(Runnable r) {
        Thread t = new Thread(r, "vmdumpfs-bind");
        t.setDaemon(true);
        t.start();
    }

    private static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }


    static final String LIBFUSE_FAILED = "mount failed: libfuse refused";

    /** Returns true for our generic "libfuse refused" message, which libfuse's own stderr line explains better. */
    static boolean isLibfuseFailure(String message) {
        return message.startsWith(LIBFUSE_FAILED);
    }

    /**
     * Returns the libfuse arguments. Why each option:
     * ro (the kernel refuses writes before asking us), default_permissions (the kernel enforces our modes),
     * fsname/subtype (what mount(8) and df show: "vmdumpfs:/path/core" of type fuse.vmdumpfs), and the options that
     * decide speed ({@link FuseTuning}).
     */
    static List<String> fuseArgs(Path coreAbs, MountOptions opts) {
        StringBuilder o = new StringBuilder("ro,default_permissions");
        o.append(",fsname=").append(MountOptions.escape("vmdumpfs:" + coreAbs));
        o.append(",subtype=vmdumpfs,").append(FuseTuning.OPTIONS);
        if (opts.allowOther()) {
            o.append(",allow_other");
        }
        if (opts.nonempty()) {
            o.append(",nonempty");
        }
        return List.of("-o", o.toString());
    }

    /**
     * Waits until the mount answers (libfuse handled INIT and the mount table lists it, then a stat of the root went
     * through FUSE), then reports READY to the parent, or logs "mounted" in the foreground. Gives up silently if the
     * loop ends first: the main thread reports that.
     */
    private void announceWhenVisible(VmdumpFs fs, Path mnt, Path coreAbs) {
        try {
            while (!fs.awaitInit(10)) {
                if (fs.isStopped()) {
                    return;
                }
            }
            long deadline = System.nanoTime() + VISIBLE_TIMEOUT_MS * 1_000_000;
            Optional<MountInfo.Entry> entry;
            while ((entry = MountInfo.find(MountInfo.read(), mnt).filter(e -> e.fsType().equals("fuse.vmdumpfs")))
                    .isEmpty()) {
                if (fs.isStopped()) {
                    return;
                }
                if (System.nanoTime() > deadline) {
                    LOG.warning("INIT answered, but " + mnt + " is not in /proc/self/mountinfo");
                    break;
                }
                Thread.sleep(2);
            }
            try {
                Files.readAttributes(mnt, BasicFileAttributes.class);
            } catch (IOException e) {
                // INIT was answered, so the mount exists; say so, and let uses show the problem.
                LOG.warning("mounted, but " + mnt + " does not answer: " + e.getMessage());
            }
            // Only now: the kernel lowers read-ahead to INIT's max_readahead when it processes libfuse's INIT reply,
            // which may come after our init callback and after the mount table lists us; a request through the
            // mount (the stat above) waits for that reply, so nothing lowers it after this.
            entry.ifPresent(e -> {
                String what = ReadAhead.raise(ReadAhead.sysfsFile(e.device()), ReadAhead.KIB);
                LOG.fine(() -> what);
            });
            if (fs.isStopped()) {
                return;
            }
            if (notifyReady) {
                if (reported.compareAndSet(false, true)) {
                    Background.reportReady();
                }
            } else if (handoff != null) {
                if (reported.compareAndSet(false, true)) {
                    handoff.ready();
                }
            } else {
                LOG.fine(() -> "mounted " + coreAbs + " at " + mnt + " at +" + Main.sinceStartMillis() + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

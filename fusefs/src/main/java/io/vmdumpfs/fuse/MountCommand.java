package io.vmdumpfs.fuse;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code vmdumpfs [OPTIONS] CORE MOUNTPOINT}: checks everything it can before mounting, then decides where the mount
 * ({@link MountSession}) runs and who hears that it is ready: here in the foreground ({@code -f}, {@code -d}); here in
 * the background when the shell launcher started this JVM and waits on its pipe ({@link LauncherPipe}); else in a
 * re-executed child JVM that tells us ({@link Background}, {@link ParentPipe}). A JVM serving here whose heap the
 * launcher chose for another mount restarts in place with its own first ({@link Restart}).
 */
@Command(name = "mount", sortOptions = false, separator = " ", versionProvider = Main.Version.class,
        customSynopsis = {
            "vmdumpfs [-fd] [--debug] [-o OPT[,OPT...]] CORE MOUNTPOINT",
            "       vmdumpfs blocks [--blocks FILE] CORE",
            "       vmdumpfs info [--blocks FILE] [--dump-level N] CORE",
            "       vmdumpfs convert --format FORMAT [--dump-level N] -o FILE CORE",
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
            "  dump_level=N     leave pages out of the kdump files as makedumpfile -d N",
            "                   does (0-31: 1 zero, 2 cache, 4 private cache, 8 user",
            "                   data, 16 free pages; default 0: every page)",
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

    /** Child only: report readiness to the parent ({@link ParentPipe}). */
    @Option(names = Background.NOTIFY_FLAG, hidden = true)
    boolean notifyReady;

    /** Child only: the core as the user named it, when CORE is its decompressed copy. */
    @Option(names = "--x-shown-as", hidden = true)
    Path shownAs;

    /** This command in picocli's model, when picocli made it. */
    @Spec
    CommandSpec spec;

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

    @Override
    public Integer call() {
        // The re-executed child tells its parent, on stdout, even why it failed: its stderr is a pipe nobody shows.
        ParentPipe parent = notifyReady ? new ParentPipe() : null;
        try {
            MountOptions opts = MountOptions.parse(options);
            // The background child runs in "/", so everything it gets must be absolute.
            opts = opts.withBlocksFile(opts.blocksFile().map(p -> p.toAbsolutePath().normalize()));
            Path coreAbs = core.toAbsolutePath().normalize();
            Path shown = shownAs != null ? shownAs : coreAbs;
            Path mnt = Preflight.checkMountPoint(mountPoint, opts.nonempty(), MountInfo.read());
            Preflight.checkDevFuse(Preflight.DEV_FUSE);
            Preflight.checkLibfuse2(Preflight.librarySearchPath());
            // A compressed core is decompressed here, before any child starts: the progress bar needs the terminal.
            Path toOpen = notifyReady ? coreAbs : Caches.resolveCore(coreAbs);
            long heapMib = JvmOptions.heapMib(opts.cacheSizeBytes(), toOpen);
            Optional<LauncherPipe> pipe = LauncherPipe.fromEnvironment();
            ReadySignal ready;
            if (parent != null) {
                ready = parent;
            } else if (foreground || fuseDebug) {
                ready = ReadySignal.NONE;
            } else if (pipe.isPresent()) {
                ready = pipe.get();
            } else {
                // java -jar, or a launcher without a pipe: nobody else can wait for us, and a JVM cannot fork.
                return Background.spawnAndWait(heapMib, childArgs(toOpen, shown, mnt, opts), debug(), err);
            }
            Restart.unlessHeapFits(heapMib);
            // The child's stderr is the parent's pipe until READY, then /dev/null: errors travel in the ERROR line.
            Log.configure(parent != null ? Level.OFF : debug() ? Level.FINE : Level.WARNING, debug());
            return new MountSession(toOpen, shown, mnt, opts, fuseDebug).run(ready);
        } catch (RuntimeException | Error e) {
            if (parent == null) {
                throw e;
            }
            parent.failed(Main.describe(e));
            if (debug()) {
                e.printStackTrace();
            }
            return CliException.EXIT_ERROR;
        }
    }

    /**
     * Returns the background child's arguments: this command written back from picocli's model
     * ({@link CommandArgs}), changed where the child's differ. It serves {@code toOpen} (a compressed core's
     * decompressed copy) in the foreground, shows it as {@code shown}, reports to us, and runs in "/", so its
     * paths are absolute. Changes this command's values: it only waits for the child after this.
     */
    List<String> childArgs(Path toOpen, Path shown, Path mnt, MountOptions opts) {
        notifyReady = true;
        foreground = true;
        core = toOpen;
        shownAs = shown.equals(toOpen) ? null : shown;
        mountPoint = mnt;
        String o = opts.toOptionString();
        options = o.isEmpty() ? new ArrayList<>() : new ArrayList<>(List.of(o));
        return CommandArgs.of(spec != null ? spec : new CommandLine(this).getCommandSpec());
    }
}

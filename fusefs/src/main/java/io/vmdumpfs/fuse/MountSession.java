package io.vmdumpfs.fuse;

import io.vmdumpfs.core.LibC;
import io.vmdumpfs.core.format.DumpFormat;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.logging.Logger;
import ru.serce.jnrfuse.FuseException;

/**
 * One mount's life, in this JVM: open the core and bind libfuse (side by side), build the files, mount, announce
 * ready once the mount answers, serve until unmounted, close the core. Where the command runs and who hears of
 * readiness is decided before ({@link MountCommand}); this class only mounts.
 *
 * @param core       the file to open: the core, or a compressed core's decompressed copy
 * @param shownAs    the core as the user named it: the mount's source in the mount table, the files' mtime
 * @param mountPoint the checked, absolute mount point
 * @param options    the mount options, paths absolute
 * @param fuseDebug  libfuse's own debug output ({@code -d})
 */
record MountSession(Path core, Path shownAs, Path mountPoint, MountOptions options, boolean fuseDebug) {

    private static final Logger LOG = Logger.getLogger("io.vmdumpfs.fuse");

    /** How long to wait for the mount to show in the mount table after INIT; only a wedged kernel takes long. */
    private static final long VISIBLE_TIMEOUT_MS = 30_000;

    static final String LIBFUSE_FAILED = "mount failed: libfuse refused";

    /** Returns true for our generic "libfuse refused" message, which libfuse's own stderr line explains better. */
    static boolean isLibfuseFailure(String message) {
        return message.startsWith(LIBFUSE_FAILED);
    }

    /**
     * Mounts, tells {@code ready} once the files are visible, and serves until unmounted.
     *
     * @return 0 once unmounted
     * @throws CliException or {@link io.vmdumpfs.core.BadCoreException} when it cannot mount, before {@code ready}
     */
    int run(ReadySignal ready) {
        LOG.fine(() -> "arguments checked at +" + Main.sinceStartMillis() + " ms");
        // Binding libfuse (jnr-ffi generates a class per callback) and opening the core (block discovery) take a few
        // hundred milliseconds each and need nothing from each other: on two cores they overlap.
        CompletableFuture<Bound> bound = CompletableFuture.supplyAsync(MountSession::bind, MountSession::startDaemon);
        try (MountSource src = MountSource.open(core, shownAs, options.blocksFile(),
                Caches.context(options.cacheSizeBytes(), options.dumpLevel()))) {
            LOG.fine(() -> "core opened at +" + Main.sinceStartMillis() + " ms: " + src.dump().blocksSource());
            Bound b = join(bound);
            LOG.fine(() -> "libfuse bound at +" + Main.sinceStartMillis() + " ms");
            Ownership own = Ownership.of(options, b.uid(), b.gid(), src.coreMtime());
            FsContent content = new FsContent(src.files(), own, src.coreBytes(), src.dump().core());
            Thread watcher = new Thread(() -> {
                if (announceWhenVisible(b.fs(), ready)) {
                    prepareElfHeader(src.files());
                }
            }, "vmdumpfs-ready");
            watcher.setDaemon(true);
            watcher.start();
            try {
                b.fs().serve(mountPoint, content, fuseDebug, fuseArgs(shownAs, options));
            } catch (FuseException e) {
                throw new CliException(LIBFUSE_FAILED + " (" + Main.rootMessage(e) + ")", e);
            }
            LOG.fine(() -> "unmounted " + mountPoint);
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

    /** Binds libc and libfuse. Runs beside the core opening. */
    private static Bound bind() {
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
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }

    /**
     * Returns the libfuse arguments. Why each option:
     * ro (the kernel refuses writes before asking us), default_permissions (the kernel enforces our modes),
     * fsname/subtype (what mount(8) and df show: "vmdumpfs:/path/core" of type fuse.vmdumpfs), and the options that
     * decide speed ({@link FuseTuning}).
     */
    static List<String> fuseArgs(Path shownAs, MountOptions opts) {
        StringBuilder o = new StringBuilder("ro,default_permissions");
        o.append(",fsname=").append(MountOptions.escape("vmdumpfs:" + shownAs));
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
     * through FUSE), raises its read-ahead, then tells {@code ready}. Gives up silently if the loop ends first: the
     * main thread reports that.
     */
    private boolean announceWhenVisible(VmdumpFs fs, ReadySignal ready) {
        try {
            while (!fs.awaitInit(10)) {
                if (fs.isStopped()) {
                    return false;
                }
            }
            long deadline = System.nanoTime() + VISIBLE_TIMEOUT_MS * 1_000_000;
            Optional<MountInfo.Entry> entry;
            while ((entry = MountInfo.find(MountInfo.read(), mountPoint)
                    .filter(e -> e.fsType().equals("fuse.vmdumpfs"))).isEmpty()) {
                if (fs.isStopped()) {
                    return false;
                }
                if (System.nanoTime() > deadline) {
                    LOG.warning("INIT answered, but " + mountPoint + " is not in /proc/self/mountinfo");
                    break;
                }
                Thread.sleep(2);
            }
            try {
                Files.readAttributes(mountPoint, BasicFileAttributes.class);
            } catch (IOException e) {
                // INIT was answered, so the mount exists; say so, and let uses show the problem.
                LOG.warning("mounted, but " + mountPoint + " does not answer: " + e.getMessage());
            }
            // Only now: the kernel lowers read-ahead to INIT's max_readahead when it processes libfuse's INIT reply,
            // which may come after our init callback and after the mount table lists us; a request through the
            // mount (the stat above) waits for that reply, so nothing lowers it after this.
            entry.ifPresent(e -> {
                String what = ReadAhead.raise(ReadAhead.sysfsFile(e.device()), ReadAhead.KIB);
                LOG.fine(() -> what);
            });
            if (fs.isStopped()) {
                return false;
            }
            LOG.fine(() -> "mounted " + shownAs + " at " + mountPoint + " at +" + Main.sinceStartMillis() + " ms");
            ready.ready();
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * Builds vmcore.elf's header now that the mount is ready, rather than in its first {@code stat}: the header needs
     * the guest kernel (kallsyms, page tables, BTF for the notes' pids) and the vCPUs (a scan of QEMU's heap), about
     * 0.3 s in a fresh JVM, which a user starting crash a moment later would otherwise wait for. A file that cannot be
     * built stays as it is: its first use reports it, as before.
     */
    private static void prepareElfHeader(List<VirtualFile> files) {
        for (VirtualFile f : files) {
            if (f.name().equals(DumpFormat.ELF.fileName())) {
                try {
                    f.view().size();
                } catch (RuntimeException e) {
                    LOG.fine(() -> "vmcore.elf's header not prepared: " + e);
                }
            }
        }
    }
}

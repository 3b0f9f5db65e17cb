package io.vmdumpfs.fuse;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Checks made before mounting, each failing with one {@link CliException} line and a hint. They run before anything
 * is mounted, so a failure leaves nothing behind; libfuse would otherwise report most of these itself, but as
 * stack traces (jnr-fuse) or after the mount syscall.
 */
final class Preflight {

    static final Path DEV_FUSE = Path.of("/dev/fuse");

    /** The soname jnr-fuse loads on Linux (AbstractFuseFS tries "fuse", then "libfuse.so.2"). */
    static final String LIBFUSE2 = "libfuse.so.2";

    private Preflight() {
    }

    /**
     * Returns the mount point as an absolute real path, after checking that it exists, is a directory, is not a mount
     * point already and (unless {@code allowNonEmpty}) is empty.
     */
    static Path checkMountPoint(Path mountPoint, boolean allowNonEmpty, List<MountInfo.Entry> mounts) {
        Path abs = mountPoint.toAbsolutePath().normalize();
        // Look in the mount table before touching the directory: stat() on a dead FUSE mount fails with ENOTCONN.
        Optional<MountInfo.Entry> mounted = MountInfo.find(mounts, abs);
        if (mounted.isEmpty()) {
            Path real;
            try {
                real = abs.toRealPath();
            } catch (NoSuchFileException e) {
                throw new CliException("mount point " + abs + " does not exist; create it with: mkdir -p " + abs);
            } catch (FileSystemException e) {
                String reason = e.getReason() == null ? "cannot access" : e.getReason().toLowerCase(Locale.ROOT);
                throw new CliException("mount point " + abs + ": " + reason
                        + (reason.contains("not connected") ? "; a dead mount? try: fusermount -u " + abs : ""));
            } catch (IOException e) {
                throw new CliException("mount point " + abs + ": " + e.getMessage());
            }
            mounted = MountInfo.find(mounts, real);
            abs = real;
        }
        if (mounted.isPresent()) {
            throw new CliException("mount point " + abs + " is already a mount point (" + mounted.get().fsType()
                    + " " + mounted.get().source() + "); unmount it first: fusermount -u " + abs);
        }
        if (!Files.isDirectory(abs, LinkOption.NOFOLLOW_LINKS)) {
            throw new CliException("mount point " + abs + " is not a directory");
        }
        if (!allowNonEmpty) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(abs)) {
                if (ds.iterator().hasNext()) {
                    throw new CliException("mount point " + abs + " is not empty; use an empty directory (or -o nonempty)");
                }
            } catch (IOException e) {
                throw new CliException("mount point " + abs + ": cannot list: " + e.getMessage());
            }
        }
        return abs;
    }

    /** Checks that the FUSE device exists and that we may open it. */
    static void checkDevFuse(Path devFuse) {
        if (!Files.exists(devFuse)) {
            throw new CliException(devFuse + " not found; load the FUSE module: modprobe fuse"
                    + " (in a container, pass the device: --device /dev/fuse)");
        }
        if (!Files.isReadable(devFuse) || !Files.isWritable(devFuse)) {
            throw new CliException(devFuse + ": permission denied; it should be mode 0666 (chmod 666 " + devFuse + ")");
        }
    }

    /**
     * Checks that libfuse2 can be found, looking where the dynamic loader looks on Debian, Fedora and Arch. A file
     * search costs nothing, where loading the library through jnr-ffi costs a few hundred milliseconds of startup; the
     * mounting process loads it anyway and reports the same hint if that fails.
     */
    static void checkLibfuse2(List<Path> searchDirs) {
        if (findLibrary(searchDirs, LIBFUSE2).isEmpty()) {
            throw new CliException(LIBFUSE2 + " (libfuse2) not found; install it: apt-get install libfuse2"
                    + " (Fedora: dnf install fuse-libs)");
        }
    }

    static Optional<Path> findLibrary(List<Path> dirs, String soname) {
        for (Path dir : dirs) {
            Path p = dir.resolve(soname);
            if (Files.isReadable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** Returns the directories the dynamic loader searches: LD_LIBRARY_PATH, then the usual system directories. */
    static List<Path> librarySearchPath() {
        List<Path> dirs = new ArrayList<>();
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) {
            for (String d : ld.split(":")) {
                if (!d.isEmpty()) {
                    dirs.add(Path.of(d));
                }
            }
        }
        String multiarch = switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> "x86_64-linux-gnu";
            case "aarch64" -> "aarch64-linux-gnu";
            default -> System.getProperty("os.arch") + "-linux-gnu";
        };
        for (String d : new String[] {"/lib/" + multiarch, "/usr/lib/" + multiarch, "/lib64", "/usr/lib64", "/lib",
                "/usr/lib", "/usr/local/lib"}) {
            dirs.add(Path.of(d));
        }
        return dirs;
    }
}

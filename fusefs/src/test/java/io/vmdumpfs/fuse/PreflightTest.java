package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PreflightTest {

    @TempDir
    Path tmp;

    private Path check(Path mnt) {
        return Preflight.checkMountPoint(mnt, false, List.of());
    }

    @Test
    void checkMountPoint_emptyDir_returnsRealPath() throws IOException {
        Path d = Files.createDirectory(tmp.resolve("m"));
        assertEquals(d.toRealPath(), check(d));
    }

    @Test
    void checkMountPoint_relativeAndSymlink_resolved() throws IOException {
        Path d = Files.createDirectory(tmp.resolve("m"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), d);
        assertEquals(d.toRealPath(), check(link));
    }

    @Test
    void checkMountPoint_missing_error() {
        Path d = tmp.resolve("nope");
        CliException e = assertThrows(CliException.class, () -> check(d));
        assertEquals("mount point " + d + " does not exist; create it with: mkdir -p " + d, e.getMessage());
    }

    @Test
    void checkMountPoint_file_error() throws IOException {
        Path f = Files.writeString(tmp.resolve("f"), "x");
        CliException e = assertThrows(CliException.class, () -> check(f));
        assertEquals("mount point " + f.toRealPath() + " is not a directory", e.getMessage());
    }

    @Test
    void checkMountPoint_notEmpty_error() throws IOException {
        Path d = Files.createDirectory(tmp.resolve("m"));
        Files.writeString(d.resolve(".hidden"), "x");
        CliException e = assertThrows(CliException.class, () -> check(d));
        assertTrue(e.getMessage().endsWith("is not empty; use an empty directory (or -o nonempty)"), e.getMessage());
    }

    @Test
    void checkMountPoint_notEmptyButAllowed_ok() throws IOException {
        Path d = Files.createDirectory(tmp.resolve("m"));
        Files.writeString(d.resolve("f"), "x");
        assertEquals(d.toRealPath(), Preflight.checkMountPoint(d, true, List.of()));
    }

    @Test
    void checkMountPoint_alreadyMounted_error() throws IOException {
        Path d = Files.createDirectory(tmp.resolve("m")).toRealPath();
        List<MountInfo.Entry> mounts = List.of(new MountInfo.Entry("0:99", d.toString(), "fuse.vmdumpfs", "vmdumpfs:/c"));
        CliException e = assertThrows(CliException.class, () -> Preflight.checkMountPoint(d, false, mounts));
        assertEquals("mount point " + d + " is already a mount point (fuse.vmdumpfs vmdumpfs:/c); unmount it first:"
                + " fusermount -u " + d, e.getMessage());
    }

    @Test
    void checkMountPoint_deadMountNotStatable_reportedFromMountTable() {
        // A dead FUSE mount cannot be stat()ed (ENOTCONN); the mount table alone must catch it.
        Path d = tmp.resolve("dead");
        List<MountInfo.Entry> mounts = List.of(new MountInfo.Entry("0:99", d.toString(), "fuse.vmdumpfs", "vmdumpfs:/c"));
        CliException e = assertThrows(CliException.class, () -> Preflight.checkMountPoint(d, false, mounts));
        assertTrue(e.getMessage().contains("is already a mount point"), e.getMessage());
    }

    @Test
    void checkDevFuse_missing_hintsModprobe() {
        CliException e = assertThrows(CliException.class, () -> Preflight.checkDevFuse(tmp.resolve("fuse")));
        assertTrue(e.getMessage().contains("modprobe fuse"), e.getMessage());
    }

    @Test
    void checkLibfuse2_missing_hintsApt() {
        CliException e = assertThrows(CliException.class, () -> Preflight.checkLibfuse2(List.of(tmp)));
        assertEquals("libfuse.so.2 (libfuse2) not found; install it: apt-get install libfuse2"
                + " (Fedora: dnf install fuse-libs)", e.getMessage());
    }

    @Test
    void checkLibfuse2_presentInSomeDir_ok() throws IOException {
        Path lib = Files.createDirectory(tmp.resolve("lib"));
        Files.writeString(lib.resolve(Preflight.LIBFUSE2), "");
        Preflight.checkLibfuse2(List.of(tmp.resolve("none"), lib));
    }

    @Test
    void librarySearchPath_hasSystemDirs() {
        assertTrue(Preflight.librarySearchPath().contains(Path.of("/usr/lib")));
    }
}

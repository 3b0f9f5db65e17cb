package io.vmdumpfs.fuse;

import com.kenai.jffi.MemoryIO;
import io.vmdumpfs.core.LibC;
import io.vmdumpfs.core.format.View;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import jnr.constants.platform.OpenFlags;
import jnr.ffi.Pointer;
import jnr.ffi.types.mode_t;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

/**
 * The FUSE adapter: a read-only directory of {@link VirtualFile}s. No format logic lives here; every callback is a
 * few lines over {@link View#size()} and {@link View#read(long, ByteBuffer)} (reads through {@link ReadReply}), wrapped
 * in one try/catch that maps failures through {@link FuseErrors}.
 *
 * <p>Threads: jnr-fuse runs libfuse's multi-threaded loop (no {@code -s}), so callbacks run concurrently. That is
 * safe because views are thread-safe and this class keeps no mutable state besides the lazily opened views.
 */
final class VmdumpFs extends FuseStubFS {

    private static final Logger LOG = Logger.getLogger("io.vmdumpfs.fuse");

    /** st_blksize: cp(1) and most readers size their buffer from it; 128 KiB is libfuse2's largest read. */
    static final int BLOCK_SIZE = 128 * 1024;

    private static final int O_ACCMODE = OpenFlags.O_ACCMODE.intValue();
    private static final int O_RDONLY = OpenFlags.O_RDONLY.intValue();
    private static final int O_TRUNC = OpenFlags.O_TRUNC.intValue();

    /** Set by {@link #serve} before libfuse starts any thread, so callbacks never see null. */
    private volatile FsContent content;

    private final CountDownLatch initialized = new CountDownLatch(1);
    private final CountDownLatch stopped = new CountDownLatch(1);
    /** Guards the unmount so that the shutdown hook and a normal exit do not both run fusermount. */
    private final Object unmountLock = new Object();
    private volatile boolean serving;
    private volatile Path mountedAt;

    /**
     * Creates the file system and binds libfuse2 (a few hundred milliseconds of jnr-ffi code generation, which is why
     * the content comes later: the mount command binds while it opens the core).
     *
     * @throws LinkageError (from jnr-ffi) if libfuse2 cannot be loaded
     */
    VmdumpFs() {
    }

    /** Creates the file system with its content already set (tests call the callbacks without mounting). */
    VmdumpFs(FsContent content) {
        this.content = content;
    }

    // ---------------------------------------------------------------- lifecycle

    /**
     * Mounts at {@code mountPoint} and serves requests on this thread until the file system is unmounted (by
     * {@code fusermount -u}, {@link #umount()} or a signal), then returns.
     *
     * @param content  what to show
     * @param fuseArgs libfuse arguments after the mount point, e.g. {@code -o ro,...}
     * @throws ru.serce.jnrfuse.FuseException if libfuse cannot mount (it has printed why on stderr)
     */
    void serve(Path mountPoint, FsContent content, boolean debug, List<String> fuseArgs) {
        this.content = content;
        mountedAt = mountPoint;
        serving = true;
        try {
            // blocking=true runs fuse_main_real on this thread; jnr-fuse also registers a shutdown hook that calls
            // our umount(), which is how SIGINT/SIGTERM unmount cleanly.
            mount(mountPoint, true, debug, fuseArgs.toArray(String[]::new));
        } finally {
            serving = false;
            stopped.countDown();
        }
    }

    /** Returns once libfuse has answered the kernel's INIT, or false after {@code millis}. */
    boolean awaitInit(long millis) throws InterruptedException {
        return initialized.await(millis, TimeUnit.MILLISECONDS);
    }

    /** Returns true once {@link #serve} has returned. */
    boolean isStopped() {
        return stopped.getCount() == 0;
    }

    /**
     * Unmounts if still mounted and waits for {@link #serve} to return. Called by jnr-fuse's shutdown hook (SIGINT,
     * SIGTERM) and safe to call any number of times: once the loop has ended it does nothing.
     */
    @Override
    public void umount() {
        synchronized (unmountLock) {
            Path mnt = mountedAt;
            if (!serving || mnt == null) {
                return;
            }
            try {
                // A signal during startup: let the mount happen first, or it would outlive us as a dead mount.
                initialized.await(2, TimeUnit.SECONDS);
                String err = Fusermount.unmount(mnt, false);
                if (err != null) {
                    LOG.fine(() -> "unmount failed (" + err + "), detaching lazily");
                    String lazyErr = Fusermount.unmount(mnt, true);
                    if (lazyErr != null && !isStopped()) {
                        LOG.warning("cannot unmount " + mnt + ": " + lazyErr);
                    }
                }
                // The kernel ends the FUSE session on unmount; the loop then returns from fuse_main_real.
                stopped.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public Pointer init(Pointer conn) {
        initialized.countDown();
        return null;
    }

    // ---------------------------------------------------------------- lookups

    /**
     * Returns the file, opening its view on first use. Callbacks run on threads libfuse created, which jnr attaches
     * to the JVM without a context class loader; libraries that load resources through it (snappy-java) need one.
     */
    private VirtualFile file(int i) {
        Thread t = Thread.currentThread();
        if (t.getContextClassLoader() == null) {
            t.setContextClassLoader(VmdumpFs.class.getClassLoader());
        }
        return content.files().get(i);
    }

    private int indexOf(String path) {
        return content.indexOf(path);
    }

    private static boolean isRoot(String path) {
        return "/".equals(path);
    }

    // ---------------------------------------------------------------- read callbacks

    @Override
    public int getattr(String path, FileStat stat) {
        try {
            Ownership own = content.own();
            if (isRoot(path)) {
                stat.st_mode.set(FileStat.S_IFDIR | own.dirMode());
                stat.st_nlink.set(2);
                stat.st_size.set(0);
            } else {
                int i = indexOf(path);
                if (i < 0) {
                    return -FuseErrors.ENOENT;
                }
                long size = file(i).view().size();
                stat.st_mode.set(FileStat.S_IFREG | own.fileMode());
                stat.st_nlink.set(1);
                stat.st_size.set(size);
                stat.st_blocks.set((size + 511) / 512);
            }
            stat.st_uid.set(own.uid());
            stat.st_gid.set(own.gid());
            stat.st_blksize.set(BLOCK_SIZE);
            for (Timespec t : new Timespec[] {stat.st_atim, stat.st_mtim, stat.st_ctim}) {
                t.tv_sec.set(own.mtimeSec());
                t.tv_nsec.set(own.mtimeNsec());
            }
            return 0;
        } catch (Throwable t) {
            return FuseErrors.fail("getattr", path, t);
        }
    }

    @Override
    public int opendir(String path, FuseFileInfo fi) {
        if (isRoot(path)) {
            return 0;
        }
        return indexOf(path) >= 0 ? -FuseErrors.ENOTDIR : -FuseErrors.ENOENT;
    }

    @Override
    public int readdir(String path, Pointer buf, FuseFillDir filler, @off_t long offset, FuseFileInfo fi) {
        try {
            if (!isRoot(path)) {
                return indexOf(path) >= 0 ? -FuseErrors.ENOTDIR : -FuseErrors.ENOENT;
            }
            // Offset 0 for every entry: libfuse2 then collects the whole (tiny) listing in one call.
            fill(filler, buf, ".");
            fill(filler, buf, "..");
            for (VirtualFile f : content.files()) {
                filler.apply(buf, ByteBuffer.wrap(f.nameBytes()), null, 0);
            }
            return 0;
        } catch (Throwable t) {
            return FuseErrors.fail("readdir", path, t);
        }
    }

    private static void fill(FuseFillDir filler, Pointer buf, String name) {
        // FuseFillDir's String overload passes the name without a terminating NUL; pass a C string ourselves.
        filler.apply(buf, ByteBuffer.wrap((name + '\0').getBytes(java.nio.charset.StandardCharsets.UTF_8)), null, 0);
    }

    @Override
    public int open(String path, FuseFileInfo fi) {
        try {
            int i = indexOf(path);
            if (i < 0) {
                return isRoot(path) ? -FuseErrors.EISDIR : -FuseErrors.ENOENT;
            }
            int flags = fi.flags.get();
            if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0) {
                return -FuseErrors.EROFS;
            }
            if (file(i).changing()) {
                directIo(fi);
            } else {
                file(i).view();
            }
            // fh = index + 1, so read() finds the file without a map lookup; 0 stays "none".
            fi.fh.set(i + 1);
            return 0;
        } catch (Throwable t) {
            return FuseErrors.fail("open", path, t);
        }
    }

    /**
     * Sets fuse_file_info.direct_io, so the kernel neither caches this file's pages nor trusts its size. jnr-fuse maps
     * the C bitfields as bytes at the wrong places (it lacks {@code int writepage}); in libfuse2's struct the
     * bitfield word follows {@code int flags; unsigned long fh_old; int writepage;}, at byte 20 on LP64, with
     * direct_io in its lowest bit (x86_64 is little-endian).
     */
    private static void directIo(FuseFileInfo fi) {
        Pointer mem = jnr.ffi.Struct.getMemory(fi);
        mem.putByte(DIRECT_IO_BYTE, (byte) (mem.getByte(DIRECT_IO_BYTE) | 1));
    }

    /** Offset of fuse_file_info's bitfield word (direct_io: bit 0) in libfuse2 on LP64. */
    private static final int DIRECT_IO_BYTE = 20;

    /**
     * Reads: libfuse2 calls read_buf rather than read when a file system has it. The reply names where the bytes are
     * rather than holding them ({@link ReadReply}), so vmcore.elf's memory goes from the core's page cache to the
     * kernel by splice, never through user space; made bytes (headers, kdump files) are read into malloc'd buffers.
     */
    @Override
    public int read_buf(String path, Pointer bufp, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        try {
            long fh = fi.fh.get();
            int i = fh > 0 && fh <= content.files().size() ? (int) fh - 1 : indexOf(path);
            if (i < 0) {
                return -FuseErrors.ENOENT;
            }
            if (offset < 0) {
                return -FuseErrors.EINVAL;
            }
            View view = file(i).view();
            long fileSize = view.size();
            int n = offset >= fileSize || size <= 0 ? 0 : (int) Math.min(Math.min(size, fileSize - offset), Integer.MAX_VALUE);
            long vec = ReadReply.build(view, offset, n, content.core(), LibC.get());
            MemoryIO.getInstance().putAddress(bufp.address(), vec);
            return 0;
        } catch (Throwable t) {
            return FuseErrors.fail("read", path, t);
        }
    }

    @Override
    public int statfs(String path, Statvfs st) {
        try {
            st.f_bsize.set(BLOCK_SIZE);
            st.f_frsize.set(4096);
            st.f_blocks.set(content.coreBytes() / 4096);
            st.f_bfree.set(0);
            st.f_bavail.set(0);
            st.f_files.set(content.files().size() + 1);
            st.f_ffree.set(0);
            st.f_favail.set(0);
            st.f_flag.set(Statvfs.ST_RDONLY);
            st.f_namemax.set(255);
            return 0;
        } catch (Throwable t) {
            return FuseErrors.fail("statfs", path, t);
        }
    }

    // ---------------------------------------------------------------- everything that writes: EROFS
    // The kernel already refuses most of these on a read-only mount; answering them too keeps the contract when
    // a caller bypasses the VFS checks (e.g. root with default_permissions off).

    @Override
    public int create(String path, @mode_t long mode, FuseFileInfo fi) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int mknod(String path, @mode_t long mode, long rdev) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int truncate(String path, @off_t long size) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int ftruncate(String path, @off_t long size, FuseFileInfo fi) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int unlink(String path) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int mkdir(String path, @mode_t long mode) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int rmdir(String path) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int rename(String oldpath, String newpath) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int symlink(String oldpath, String newpath) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int link(String oldpath, String newpath) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int chmod(String path, @mode_t long mode) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int chown(String path, long uid, long gid) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int utimens(String path, Timespec[] timespec) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int setxattr(String path, String name, Pointer value, @size_t long size, int flags) {
        return -FuseErrors.EROFS;
    }

    @Override
    public int removexattr(String path, String name) {
        return -FuseErrors.EROFS;
    }
}

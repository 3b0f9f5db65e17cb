package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.LibC;
import io.vmdumpfs.core.format.BytesView;
import io.vmdumpfs.core.format.View;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import jnr.constants.platform.OpenFlags;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.Struct;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;

/** The FUSE callbacks called directly, with native structs allocated here: no mount needed, but libfuse2 must load. */
class VmdumpFsTest {

    private static final Runtime RT = Runtime.getSystemRuntime();
    private static final byte[] DATA = content(300_000);
    private static final Ownership OWN = new Ownership(1234, 567, 0400, 0500, 1_700_000_000L, 5);

    @BeforeAll
    static void libfuse2Loads() {
        Log.configure(java.util.logging.Level.OFF, false); // failures are the point of several tests
        Prerequisites.require("libfuse2", VmdumpFs::new);
    }

    private static byte[] content(int n) {
        byte[] b = new byte[n];
        long x = 42;
        for (int i = 0; i < n; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L;
            b[i] = (byte) (x >>> 56);
        }
        return b;
    }

    private static VmdumpFs fs(VirtualFile... files) {
        return new VmdumpFs(new FsContent(List.of(files), OWN, 1 << 30));
    }

    private static VmdumpFs fs() {
        return fs(new VirtualFile("data", () -> new BytesView(DATA)),
                new VirtualFile("bad", () -> {
                    throw new BadCoreException(Kind.UNSUPPORTED, Path.of("/c"), "no such format here");
                }));
    }

    private static FileStat stat() {
        return FileStat.of(Memory.allocateDirect(RT, Struct.size(new FileStat(RT)), true));
    }

    private static FuseFileInfo fileInfo(int flags) {
        // struct fuse_file_info is 40 bytes on x86_64 (libfuse2 fuse_common.h); jnr-fuse hides its constructor.
        FuseFileInfo fi = FuseFileInfo.of(Memory.allocateDirect(RT, 64, true));
        fi.flags.set(flags);
        return fi;
    }

    /** Calls read_buf as libfuse does; rc[0] = its result, or the reply's byte count when it succeeded. */
    private static byte[] read(VmdumpFs fs, String path, long offset, long size, int[] rc) {
        Pointer bufp = Memory.allocateDirect(RT, 8, true);
        rc[0] = fs.read_buf(path, bufp, size, offset, fileInfo(0));
        long vec = bufp.getLong(0);
        if (rc[0] != 0) {
            assertEquals(0, vec, "no reply on error");
            return new byte[0];
        }
        try {
            byte[] out = Replies.bytes(vec);
            rc[0] = out.length;
            return out;
        } finally {
            ReadReply.free(vec, Replies.buffers(vec).size(), LibC.get());
        }
    }

    @Test
    void getattr_root_dirOwnedReadOnly() {
        FileStat st = stat();
        assertEquals(0, fs().getattr("/", st));
        assertEquals(FileStat.S_IFDIR | 0500, st.st_mode.intValue());
        assertEquals(1234, st.st_uid.longValue());
        assertEquals(567, st.st_gid.longValue());
        assertEquals(2, st.st_nlink.intValue());
        assertEquals(1_700_000_000L, st.st_mtim.tv_sec.longValue());
    }

    @Test
    void getattr_file_exactSize() {
        FileStat st = stat();
        assertEquals(0, fs().getattr("/data", st));
        assertEquals(FileStat.S_IFREG | 0400, st.st_mode.intValue());
        assertEquals(DATA.length, st.st_size.longValue());
        assertEquals((DATA.length + 511) / 512, st.st_blocks.longValue());
        assertEquals(1, st.st_nlink.intValue());
        assertEquals(5, st.st_ctim.tv_nsec.longValue());
    }

    @Test
    void getattr_unknownPath_enoent() {
        assertEquals(-FuseErrors.ENOENT, fs().getattr("/nope", stat()));
        assertEquals(-FuseErrors.ENOENT, fs().getattr("/data/x", stat()));
    }

    @Test
    void getattr_viewFailsToOpen_mappedErrno() {
        assertEquals(-FuseErrors.EOPNOTSUPP, fs().getattr("/bad", stat()));
    }

    @Test
    void open_readOnly_ok() {
        assertEquals(0, fs().open("/data", fileInfo(OpenFlags.O_RDONLY.intValue())));
    }

    @Test
    void open_forWriting_erofs() {
        VmdumpFs fs = fs();
        assertEquals(-FuseErrors.EROFS, fs.open("/data", fileInfo(OpenFlags.O_WRONLY.intValue())));
        assertEquals(-FuseErrors.EROFS, fs.open("/data", fileInfo(OpenFlags.O_RDWR.intValue())));
        assertEquals(-FuseErrors.EROFS, fs.open("/data", fileInfo(OpenFlags.O_TRUNC.intValue())));
    }

    @Test
    void open_missing_enoent() {
        assertEquals(-FuseErrors.ENOENT, fs().open("/zzz", fileInfo(0)));
    }

    @Test
    void opendir_file_enotdir() {
        assertEquals(-FuseErrors.ENOTDIR, fs().opendir("/data", fileInfo(0)));
        assertEquals(0, fs().opendir("/", fileInfo(0)));
    }

    @Test
    void read_slices_matchContent() {
        VmdumpFs fs = fs();
        int[] rc = new int[1];
        for (long off : new long[] {0, 1, 4095, 131072, DATA.length - 131072}) {
            byte[] got = read(fs, "/data", off, 131072, rc);
            assertEquals(131072, rc[0]);
            assertArrayEquals(Arrays.copyOfRange(DATA, (int) off, (int) off + 131072), got, "offset " + off);
        }
    }

    @Test
    void read_acrossEof_clamped() {
        int[] rc = new int[1];
        byte[] got = read(fs(), "/data", DATA.length - 10, 4096, rc);
        assertEquals(10, rc[0]);
        assertArrayEquals(Arrays.copyOfRange(DATA, DATA.length - 10, DATA.length), got);
    }

    @Test
    void read_atAndPastEof_zero() {
        int[] rc = new int[1];
        read(fs(), "/data", DATA.length, 4096, rc);
        assertEquals(0, rc[0]);
        read(fs(), "/data", Long.MAX_VALUE, 4096, rc);
        assertEquals(0, rc[0]);
    }

    @Test
    void read_negativeOffset_einval() {
        int[] rc = new int[1];
        read(fs(), "/data", -1, 4096, rc);
        assertEquals(-FuseErrors.EINVAL, rc[0]);
    }

    @Test
    void read_viewThrows_mappedErrno() {
        View failing = new View() {
            @Override
            public long size() {
                return 1 << 20;
            }

            @Override
            public int read(long offset, ByteBuffer dst) {
                throw new BadCoreException(Kind.IO, Path.of("/c"), "read failed at offset 0x0: gone");
            }
        };
        int[] rc = new int[1];
        read(fs(new VirtualFile("f", () -> failing)), "/f", 0, 4096, rc);
        assertEquals(-FuseErrors.EIO, rc[0]);
    }

    @Test
    void read_shortViewReads_filledCompletely() {
        VmdumpFs fs = fs(new VirtualFile("s", () -> ViewsTest.stingy(DATA, 1000, true)));
        int[] rc = new int[1];
        byte[] got = read(fs, "/s", 5, 65536, rc);
        assertEquals(65536, rc[0]);
        assertArrayEquals(Arrays.copyOfRange(DATA, 5, 5 + 65536), got);
    }

    @Test
    void writes_allErofs() {
        VmdumpFs fs = fs();
        int erofs = -FuseErrors.EROFS;
        assertEquals(erofs, fs.write("/data", Memory.allocateDirect(RT, 1), 1, 0, fileInfo(0)));
        assertEquals(erofs, fs.create("/new", 0644, fileInfo(0)));
        assertEquals(erofs, fs.mknod("/new", 0644, 0));
        assertEquals(erofs, fs.truncate("/data", 0));
        assertEquals(erofs, fs.ftruncate("/data", 0, fileInfo(0)));
        assertEquals(erofs, fs.unlink("/data"));
        assertEquals(erofs, fs.mkdir("/d", 0755));
        assertEquals(erofs, fs.rmdir("/"));
        assertEquals(erofs, fs.rename("/data", "/x"));
        assertEquals(erofs, fs.symlink("/data", "/l"));
        assertEquals(erofs, fs.link("/data", "/l"));
        assertEquals(erofs, fs.chmod("/data", 0777));
        assertEquals(erofs, fs.chown("/data", 0, 0));
        assertEquals(erofs, fs.utimens("/data", null));
        assertEquals(erofs, fs.setxattr("/data", "user.x", null, 0, 0));
        assertEquals(erofs, fs.removexattr("/data", "user.x"));
    }

    @Test
    void statfs_readOnly() {
        Statvfs st = Statvfs.of(Memory.allocateDirect(RT, Struct.size(new Statvfs(RT)), true));
        assertEquals(0, fs().statfs("/", st));
        assertTrue((st.f_flag.longValue() & Statvfs.ST_RDONLY) != 0);
        assertEquals(0, st.f_bavail.longValue());
        assertEquals((1L << 30) / 4096, st.f_blocks.longValue());
    }

    @Test
    void view_openedOnceAcrossCallbacks() {
        AtomicInteger opens = new AtomicInteger();
        VirtualFile f = new VirtualFile("c", () -> {
            opens.incrementAndGet();
            return new BytesView(DATA);
        });
        VmdumpFs fs = fs(f);
        assertFalse(f.isOpen());
        fs.getattr("/c", stat());
        fs.open("/c", fileInfo(0));
        read(fs, "/c", 0, 10, new int[1]);
        assertEquals(1, opens.get());
    }

    @Test
    void umount_notMounted_noop() {
        fs().umount();
    }
}

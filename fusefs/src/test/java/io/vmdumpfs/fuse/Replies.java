package io.vmdumpfs.fuse;

import com.kenai.jffi.MemoryIO;
import io.vmdumpfs.core.LibC;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Reads a read_buf reply the way libfuse does (fuse_buf_copy): memory buffers as they are, descriptor buffers by
 * pread at their position; and a libc whose malloc/free are counted, so tests see leaks and double frees.
 */
final class Replies {

    private static final MemoryIO MEMORY = MemoryIO.getInstance();

    private Replies() {
    }

    /** One struct fuse_buf of a reply. */
    record Buf(long size, int flags, long mem, int fd, long pos) {
        boolean isFd() {
            return (flags & 2) != 0;
        }
    }

    /** Returns the buffers of the fuse_bufvec at {@code vec}. */
    static List<Buf> buffers(long vec) {
        long count = MEMORY.getLong(vec);
        if (MEMORY.getLong(vec + 8) != 0 || MEMORY.getLong(vec + 16) != 0) {
            throw new AssertionError("idx/off not 0");
        }
        List<Buf> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            long b = vec + ReadReply.VEC_HEAD + (long) ReadReply.BUF_SIZE * i;
            out.add(new Buf(MEMORY.getLong(b), MEMORY.getInt(b + 8), MEMORY.getLong(b + 16), MEMORY.getInt(b + 24),
                    MEMORY.getLong(b + 32)));
        }
        return out;
    }

    /** Returns the bytes the reply at {@code vec} stands for. */
    static byte[] bytes(long vec) {
        List<Buf> bufs = buffers(vec);
        long total = bufs.stream().mapToLong(Buf::size).sum();
        byte[] out = new byte[Math.toIntExact(total)];
        int at = 0;
        for (Buf b : bufs) {
            int n = (int) b.size();
            if (b.isFd()) {
                if (b.flags() != ReadReply.FD_FLAGS) {
                    throw new AssertionError("descriptor buffer without SEEK|RETRY: " + b);
                }
                try (FileChannel ch = FileChannel.open(Path.of("/proc/self/fd/" + b.fd()))) {
                    ByteBuffer dst = ByteBuffer.wrap(out, at, n);
                    long pos = b.pos();
                    while (dst.hasRemaining()) {
                        int got = ch.read(dst, pos);
                        if (got < 0) {
                            throw new AssertionError("descriptor " + b.fd() + " ends before " + (b.pos() + n));
                        }
                        pos += got;
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            } else if (n > 0) {
                MEMORY.getByteArray(b.mem(), out, at, n);
            }
            at += n;
        }
        return out;
    }

    /** libc with malloc/free counted; everything else goes to the real libc. */
    static final class CountingLibC {
        final Map<Long, Long> live = new ConcurrentHashMap<>();
        final LibC libc;

        CountingLibC() {
            LibC real = LibC.get();
            libc = (LibC) Proxy.newProxyInstance(LibC.class.getClassLoader(), new Class<?>[] {LibC.class},
                    (proxy, m, args) -> {
                        Object r;
                        try {
                            r = m.invoke(real, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                        if (m.getName().equals("malloc") && (long) r != 0) {
                            live.put((long) r, (long) args[0]);
                        } else if (m.getName().equals("free") && (long) args[0] != 0
                                && live.remove((long) args[0]) == null) {
                            throw new AssertionError("free of memory not malloc'd here: " + args[0]);
                        }
                        return r;
                    });
        }

        /** Frees a reply as libfuse's fuse_free_buf does: memory buffers, then the vector. */
        void freeReply(long vec) {
            ReadReply.free(vec, buffers(vec).size(), libc);
        }
    }
}

package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.format.BytesView;
import io.vmdumpfs.core.format.CoreSpan;
import io.vmdumpfs.core.format.View;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** read_buf replies built over a file-backed view, read back the way libfuse reads them. */
class ReadReplyTest {

    private static final int CORE_BYTES = 1 << 20;

    @TempDir
    Path tmp;

    private byte[] coreBytes;
    private CoreFile core;
    private final Replies.CountingLibC libc = new Replies.CountingLibC();

    @BeforeEach
    void writeCore() throws IOException {
        coreBytes = new byte[CORE_BYTES];
        new Random(3).nextBytes(coreBytes);
        Files.write(tmp.resolve("core"), coreBytes);
        core = CoreFile.open(tmp.resolve("core"));
        assertTrue(core.descriptor() >= 0, "the core has a descriptor to splice from");
    }

    @AfterEach
    void close() throws IOException {
        core.close();
        assertEquals(java.util.Map.of(), libc.live, "every malloc freed");
    }

    /**
     * A view of: 100 made bytes, core runs [4096, +50000), [200000, +30000), [230000, +10000) (contiguous with the
     * one before, in the core and in the view), [70000, +4096), then 20 made bytes.
     */
    private RunsView view() {
        return new RunsView(core, bytes(100, 1), new long[][] {{4096, 50_000}, {200_000, 30_000}, {230_000, 10_000},
            {70_000, 4096}}, bytes(20, 2));
    }

    @Test
    void build_mixedRuns_bytesEqualTheViewsRead() {
        RunsView v = view();
        byte[] whole = v.all();
        Random rnd = new Random(11);
        List<long[]> cases = new ArrayList<>();
        for (long edge : v.edges()) {
            for (long d : new long[] {-3, 0, 1}) {
                cases.add(new long[] {Math.max(0, edge + d), 131_072});
                cases.add(new long[] {Math.max(0, edge + d), 7});
            }
        }
        for (int i = 0; i < 300; i++) {
            cases.add(new long[] {rnd.nextInt(whole.length), 1 + rnd.nextInt(140_000)});
        }
        for (long[] c : cases) {
            long off = Math.min(c[0], whole.length - 1);
            int len = (int) Math.min(c[1], whole.length - off);
            long vec = ReadReply.build(v, off, len, core, libc.libc);
            try {
                assertArrayEquals(Arrays.copyOfRange(whole, (int) off, (int) off + len), Replies.bytes(vec),
                        "build(" + off + ", " + len + ")");
            } finally {
                libc.freeReply(vec);
            }
        }
    }

    @Test
    void build_wholeFile_oneBufferPerRun_contiguousCoreRunsMerged() {
        RunsView v = view();
        long vec = ReadReply.build(v, 0, (int) v.size(), core, libc.libc);
        try {
            List<Replies.Buf> b = Replies.buffers(vec);
            assertEquals(List.of(100L, 50_000L, 40_000L, 4096L, 20L), b.stream().map(Replies.Buf::size).toList());
            assertEquals(List.of(false, true, true, true, false), b.stream().map(Replies.Buf::isFd).toList());
            assertEquals(List.of(4096L, 200_000L, 70_000L), b.stream().filter(Replies.Buf::isFd)
                    .map(Replies.Buf::pos).toList());
            assertTrue(b.stream().filter(Replies.Buf::isFd).allMatch(x -> x.fd() == core.descriptor() && x.mem() == 0));
            assertTrue(b.stream().filter(x -> !x.isFd()).allMatch(x -> x.fd() == -1 && x.mem() != 0));
            assertEquals(3, libc.live.size(), "the vector and the two memory buffers");
        } finally {
            libc.freeReply(vec);
        }
    }

    @Test
    void build_noDescriptor_oneMemoryBuffer() {
        RunsView v = view();
        long vec = ReadReply.build(v, 50, 60_000, null, libc.libc);
        try {
            List<Replies.Buf> b = Replies.buffers(vec);
            assertEquals(1, b.size());
            assertFalse(b.get(0).isFd());
            assertArrayEquals(Arrays.copyOfRange(v.all(), 50, 60_050), Replies.bytes(vec));
        } finally {
            libc.freeReply(vec);
        }
    }

    @Test
    void build_madeView_oneMemoryBuffer() {
        byte[] data = bytes(300_000, 5);
        long vec = ReadReply.build(new BytesView(data), 1000, 131_072, core, libc.libc);
        try {
            assertEquals(1, Replies.buffers(vec).size());
            assertArrayEquals(Arrays.copyOfRange(data, 1000, 1000 + 131_072), Replies.bytes(vec));
        } finally {
            libc.freeReply(vec);
        }
    }

    @Test
    void build_endOfFile_oneEmptyMemoryBuffer() {
        long vec = ReadReply.build(view(), view().size(), 0, core, libc.libc);
        try {
            assertEquals(List.of(new Replies.Buf(0, 0, 0, -1, 0)), Replies.buffers(vec));
        } finally {
            libc.freeReply(vec);
        }
    }

    @Test
    void build_moreRunsThanBuffers_restAsOneMemoryBuffer() {
        long[][] runs = new long[40][];
        for (int i = 0; i < runs.length; i++) {
            runs[i] = new long[] {(long) (39 - i) * 10_000, 3000}; // descending: none contiguous
        }
        RunsView v = new RunsView(core, bytes(10, 3), runs, bytes(10, 4));
        long vec = ReadReply.build(v, 0, (int) v.size(), core, libc.libc);
        try {
            List<Replies.Buf> b = Replies.buffers(vec);
            assertEquals(ReadReply.MAX_BUFFERS, b.size());
            assertFalse(b.get(b.size() - 1).isFd());
            assertArrayEquals(v.all(), Replies.bytes(vec));
        } finally {
            libc.freeReply(vec);
        }
    }

    @Test
    void build_coreTruncatedSinceOpen_readThroughTheViewFails_nothingLeaks() throws IOException {
        RunsView v = view();
        byte[] whole = v.all();
        try (FileChannel ch = FileChannel.open(tmp.resolve("core"), StandardOpenOption.WRITE)) {
            ch.truncate(100_000);
        }
        // Bytes before the cut still serve (from the descriptor); a run past it fails rather than ending short.
        long vec = ReadReply.build(v, 100, 40_000, core, libc.libc);
        try {
            assertArrayEquals(Arrays.copyOfRange(whole, 100, 40_100), Replies.bytes(vec));
        } finally {
            libc.freeReply(vec);
        }
        assertThrows(BadCoreException.class, () -> ReadReply.build(v, 50_100, 5000, core, libc.libc));
    }

    @Test
    void build_viewFailsAfterCoreRuns_nothingLeaks() {
        RunsView v = view();
        View failingTail = new View() {
            @Override
            public long size() {
                return v.size();
            }

            @Override
            public int read(long offset, ByteBuffer dst) {
                if (offset + dst.remaining() > v.size() - 20) {
                    throw new IllegalStateException("tail unavailable");
                }
                return v.read(offset, dst);
            }

            @Override
            public CoreSpan spanAt(long offset, long max) {
                return v.spanAt(offset, max);
            }
        };
        assertThrows(IllegalStateException.class, () -> ReadReply.build(failingTail, 0, (int) v.size(), core, libc.libc));
    }

    private static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Made head, core runs, made tail; spanAt tells which is which. */
    record RunsView(CoreFile core, byte[] head, long[][] runs, byte[] tail) implements View {

        @Override
        public long size() {
            return head.length + Arrays.stream(runs).mapToLong(r -> r[1]).sum() + tail.length;
        }

        long[] edges() {
            List<Long> e = new ArrayList<>(List.of(0L, (long) head.length));
            long at = head.length;
            for (long[] r : runs) {
                at += r[1];
                e.add(at);
            }
            e.add(size());
            return e.stream().mapToLong(Long::longValue).toArray();
        }

        byte[] all() {
            ByteBuffer b = ByteBuffer.allocate((int) size());
            while (b.hasRemaining()) {
                read(b.position(), b);
            }
            return b.array();
        }

        @Override
        public int read(long offset, ByteBuffer dst) {
            CoreSpan s = spanAt(offset, dst.remaining());
            int n = (int) s.length();
            if (s.inCore()) {
                ByteBuffer part = dst.slice(dst.position(), n);
                core.readFully(s.coreOffset(), part);
                dst.position(dst.position() + n);
            } else if (offset < head.length) {
                dst.put(head, (int) offset, n);
            } else {
                dst.put(tail, (int) (offset - (size() - tail.length)), n);
            }
            return n;
        }

        @Override
        public CoreSpan spanAt(long offset, long max) {
            if (offset < head.length) {
                return CoreSpan.made(Math.min(max, head.length - offset));
            }
            long at = head.length;
            for (long[] r : runs) {
                if (offset < at + r[1]) {
                    return new CoreSpan(r[0] + offset - at, Math.min(max, at + r[1] - offset));
                }
                at += r[1];
            }
            return CoreSpan.made(Math.min(max, size() - offset));
        }
    }
}

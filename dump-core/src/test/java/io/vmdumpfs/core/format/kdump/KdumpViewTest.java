package io.vmdumpfs.core.format.kdump;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.luben.zstd.Zstd;
import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.DumpNotes;
import io.vmdumpfs.core.format.ElfLayout;
import io.vmdumpfs.core.format.ElfView;
import io.vmdumpfs.core.format.BuildProgress;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.IndexRepository;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.kernel.Utsname;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class KdumpViewTest {

    /** Holes, a page shared by two blocks (each covering part of it), and a block far up (a large bitmap). */
    static final String BLOCKS = """
            0         9f400    pc.ram    # ends inside page 0x9f
            9f800     800      odd       # the rest of page 0x9f, after 0x400 bytes outside every block
            100000    300000   pc.ram
            fffc0000  40000    pc.bios
            """;
    static final String VMCI = "OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\nNUMBER(phys_base)=16777216\n"
            + "KERNELOFFSET=1c000000\n";

    @TempDir
    Path tmp;

    private SyntheticGuest guest;
    private long mtime;

    @BeforeEach
    void setUp() throws Exception {
        guest = SyntheticGuest.builder(tmp).blocks(BLOCKS).vmcoreinfo(VMCI).vcpus(3).seed(7).build();
        mtime = Files.getLastModifiedTime(guest.corePath()).toMillis() / 1000;
    }

    @AfterEach
    void tearDown() throws Exception {
        guest.close();
    }

    private byte[] reference(KdumpCodec codec) {
        GuestDump d = guest.dump();
        return ReferenceKdumpWriter.write(d, codec, DumpNotes.kdump(d), mtime);
    }

    private static FormatContext ctx(ChunkCache cache, IndexRepository indexes, int threads) {
        return new FormatContext(cache, indexes, threads);
    }

    static byte[] readAll(View v, int step) {
        long size = v.size();
        byte[] out = new byte[(int) size];
        ByteBuffer dst = ByteBuffer.allocate(step);
        for (long pos = 0; pos < size; ) {
            dst.clear();
            int n = v.read(pos, dst);
            assertTrue(n > 0, "short read at " + pos);
            System.arraycopy(dst.array(), 0, out, (int) pos, n);
            pos += n;
        }
        return out;
    }

    /** A plain map as the chunk cache, counting computations. */
    static final class MapCache implements ChunkCache {
        final Map<Object, ByteBuffer> map = new ConcurrentHashMap<>();
        final AtomicInteger computed = new AtomicInteger();

        @Override
        public ByteBuffer get(Object key, Function<Object, ByteBuffer> compute) {
            return map.computeIfAbsent(key, k -> {
                computed.incrementAndGet();
                return compute.apply(k);
            });
        }
    }

    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void read_randomSlices_equalSequentialReference(KdumpCodec codec) {
        byte[] ref = reference(codec);
        KdumpView v = KdumpView.open(guest.dump(), ctx(ChunkCache.NONE, IndexRepository.NONE, 2), codec);
        assertEquals(ref.length, v.size());
        Random rnd = new Random(codec.ordinal());
        for (int i = 0; i < 200; i++) {
            long off = i < 20 ? ref.length - i : (long) (rnd.nextDouble() * ref.length);
            int len = rnd.nextInt(i % 3 == 0 ? 70_000 : 300) + 1;
            ByteBuffer dst = ByteBuffer.allocate(len);
            int n = v.read(off, dst);
            int want = (int) Math.max(0, Math.min(len, ref.length - off));
            assertEquals(want, n, "read(" + off + ", " + len + ")");
            for (int k = 0; k < n; k++) {
                if (dst.get(k) != ref[(int) off + k]) {
                    throw new AssertionError(codec + ": byte " + (off + k) + " differs from the reference");
                }
            }
        }
        assertArrayEquals(ref, readAll(v, 4096 * 30 + 17));
    }

    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void read_cached_equalsUncached(KdumpCodec codec) {
        MapCache cache = new MapCache();
        KdumpView cached = KdumpView.open(guest.dump(), ctx(cache, IndexRepository.NONE, 2), codec);
        KdumpView uncached = KdumpView.open(guest.dump(), ctx(ChunkCache.NONE, IndexRepository.NONE, 1), codec);
        byte[] a = readAll(cached, 128 * 1024);
        assertArrayEquals(readAll(uncached, 200_000), a);
        int chunks = KdumpIndex.chunkCount(new DumpedPages(guest.dump().memory(), 4096).pageCount());
        // the build filled the cache: the sequential read compressed nothing again
        assertEquals(chunks, cache.computed.get());
        assertArrayEquals(a, readAll(cached, 1000));
        assertEquals(chunks, cache.computed.get());
    }

    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void pages_decompressToGuestMemory(KdumpCodec codec) {
        KdumpView v = KdumpView.open(guest.dump(), FormatContext.uncached(), codec);
        KdumpReader r = new KdumpReader(readAll(v, 1 << 20));
        byte[] want = new byte[4096];
        int dumped = 0;
        int compressed = 0;
        int zero = 0;
        for (long pfn = 0; pfn < r.maxMapnr; pfn++) {
            long lo = pfn * 4096;
            boolean ram = guest.blocks().stream().anyMatch(
                    b -> b.guestPaddrStart() < lo + 4096 && b.guestPaddrEnd() > lo);
            assertEquals(ram, r.inBitmap1(pfn), "1st bitmap, pfn " + Long.toHexString(pfn));
            assertEquals(ram, r.inBitmap2(pfn), "2nd bitmap, pfn " + Long.toHexString(pfn));
            if (!ram) {
                continue;
            }
            PageDesc pd = r.desc(dumped++);
            ReferenceKdumpWriter.pageAt(guest.dump(), pfn * 4096, want);
            assertArrayEquals(want, r.page(pd), "pfn " + Long.toHexString(pfn));
            if (pd.flags() == codec.flag) {
                compressed++;
                assertTrue(pd.size() < 4096);
                if (codec == KdumpCodec.ZSTD) {
                    byte[] frame = new byte[pd.size()];
                    System.arraycopy(r.file, (int) pd.offset(), frame, 0, frame.length);
                    assertEquals(4096, Zstd.getFrameContentSize(frame), "zstd frame content size");
                }
            } else {
                assertEquals(0, pd.flags());
                assertEquals(4096, pd.size());
            }
            if (pd.offset() == r.descOffset + 24L * pageCountOf(r)) {
                zero++;
            }
            assertEquals(0, pd.pageFlags());
        }
        assertEquals(pageCountOf(r), dumped);
        assertTrue(compressed > dumped / 2, "most pattern pages compress: " + compressed + "/" + dumped);
        assertTrue(zero > 0, "zero pages share the zero page");
        // the 2nd bitmap's last page is followed directly by the descriptors
        assertEquals(r.bitmap2 + r.bitmapLen, r.descOffset);
    }

    private int pageCountOf(KdumpReader r) {
        return new DumpedPages(guest.dump().memory(), 4096).pageCount();
    }

    @Test
    void headers_fieldsAsCrashAndMakedumpfileReadThem() {
        KdumpView v = KdumpView.open(guest.dump(), FormatContext.uncached(), KdumpCodec.LZO);
        byte[] head = new byte[3 * 4096];
        v.read(0, ByteBuffer.wrap(head)); // headers never wait for the index
        assertEquals(BuildProgress.State.NOT_STARTED, v.progress().state());
        ByteBuffer b = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN);
        DiskDumpHeader h = DiskDumpHeader.parse(b);
        assertEquals(6, h.headerVersion());
        // the synthetic guest's kernel is not readable (no page tables): what VMCOREINFO says, the rest empty
        assertEquals(new Utsname("Linux", "", "6.1.0-synthetic", "", "x86_64", ""), h.utsname());
        assertEquals(0x2, h.status());
        assertEquals(4096, h.blockSize());
        assertEquals(1, h.subHdrSize());
        assertEquals(0x100000, h.maxMapnr());
        assertEquals(2 * (0x100000 / 8 / 4096), h.bitmapBlocks());
        assertEquals(3, h.nrCpus());
        assertEquals(mtime, h.timestampSec());

        KdumpSubHeader sh = KdumpSubHeader.parse(b.slice(4096, 104).order(ByteOrder.LITTLE_ENDIAN));
        assertEquals(16777216L, sh.physBase(), "NUMBER(phys_base) is decimal");
        assertEquals(0, sh.dumpLevel());
        assertEquals(4096 + 104, sh.offsetNote());
        byte[] notes = DumpNotes.kdump(guest.dump());
        assertEquals(notes.length, sh.sizeNote());
        byte[] noteBytes = new byte[notes.length];
        System.arraycopy(head, (int) sh.offsetNote(), noteBytes, 0, notes.length);
        assertArrayEquals(notes, noteBytes);
        String text = new String(head, (int) sh.offsetVmcoreinfo(), (int) sh.sizeVmcoreinfo(), StandardCharsets.UTF_8);
        assertEquals(VMCI, text);
        assertEquals(0x100000, sh.maxMapnr64());
    }

    @Test
    void headers_kernelContentMadeOnTheFirstReadOfTheHeaderBlocksOnly() {
        GuestDump d = guest.dump();
        byte[] notes = DumpNotes.kdump(d);
        AtomicInteger made = new AtomicInteger();
        KdumpGeometry g = KdumpGeometry.of(d, new DumpedPages(d.memory(), 4096), KdumpCodec.ZLIB, notes, () -> {
            made.incrementAndGet();
            return new KdumpGeometry.HeadContent(new Utsname("Linux", "guest", "6.1", "#1", "x86_64", ""), notes);
        }, mtime, DumpLevel.NONE);
        byte[] bitmap = new byte[4096];
        g.readMeta(g.offsetBitmap1(), bitmap, 0, bitmap.length, null);
        assertEquals(0, made.get(), "layout and bitmaps need no kernel");
        byte[] head = new byte[2 * 4096];
        g.readMeta(0, head, 0, head.length, null);
        g.readMeta(0, head, 0, head.length, null);
        assertEquals(1, made.get());
        assertEquals("guest", DiskDumpHeader.parse(ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN)).utsname()
                .nodename());
        byte[] noteBytes = java.util.Arrays.copyOfRange(head, 4096 + 104, 4096 + 104 + notes.length);
        assertArrayEquals(notes, noteBytes);
    }

    @Test
    void headers_notesOfAnotherLayoutThanLaidOut_refused() {
        GuestDump d = guest.dump();
        byte[] notes = DumpNotes.kdump(d);
        KdumpGeometry g = KdumpGeometry.of(d, new DumpedPages(d.memory(), 4096), KdumpCodec.ZLIB, notes,
                () -> new KdumpGeometry.HeadContent(new Utsname("", "", "", "", "", ""),
                        java.util.Arrays.copyOf(notes, notes.length + 4)), mtime, DumpLevel.NONE);
        assertThrows(IllegalStateException.class, () -> g.readMeta(0, new byte[64], 0, 64, null));
    }

    @Test
    void headers_noVmcoreinfo_zeroPhysBaseAndNoVmcoreinfoOffset() throws Exception {
        try (SyntheticGuest g = SyntheticGuest.builder(tmp).blocks("0 10000 pc.ram").build()) {
            KdumpView v = KdumpView.open(g.dump(), FormatContext.uncached(), KdumpCodec.ZLIB);
            byte[] head = new byte[2 * 4096];
            v.read(0, ByteBuffer.wrap(head));
            ByteBuffer b = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN);
            DiskDumpHeader h = DiskDumpHeader.parse(b);
            assertEquals("", h.utsname().sysname());
            assertEquals(1, h.nrCpus(), "crash warns about nr_cpus <= 0");
            KdumpSubHeader sh = KdumpSubHeader.parse(b.slice(4096, 104).order(ByteOrder.LITTLE_ENDIAN));
            assertEquals(0, sh.physBase());
            assertEquals(0, sh.offsetVmcoreinfo());
            assertEquals(0, sh.sizeVmcoreinfo());
            assertTrue(sh.sizeNote() > 0, "the placeholder note is still there");
            byte[] ref = ReferenceKdumpWriter.write(g.dump(), KdumpCodec.ZLIB,
                    ElfLayout.notes(Optional.empty(), ByteOrder.LITTLE_ENDIAN),
                    Files.getLastModifiedTime(g.corePath()).toMillis() / 1000);
            assertArrayEquals(ref, readAll(v, 10_000));
        }
    }

    @Test
    void size_waitsForTheBuild_thenProgressIsReady() {
        KdumpView v = KdumpView.open(guest.dump(), ctx(ChunkCache.NONE, IndexRepository.NONE, 2), KdumpCodec.ZSTD);
        assertEquals(BuildProgress.State.NOT_STARTED, v.progress().state());
        assertEquals(reference(KdumpCodec.ZSTD).length, v.size());
        BuildProgress p = v.progress();
        assertEquals(BuildProgress.State.READY, p.state());
        assertEquals(p.total(), p.done());
        assertTrue(p.line().startsWith("vmcore.kdump-zstd: ready 100% ("), p.line());
    }

    @Test
    void read_negativeOffset_throws() {
        KdumpView v = KdumpView.open(guest.dump(), FormatContext.uncached(), KdumpCodec.ZLIB);
        assertThrows(IllegalArgumentException.class, () -> v.read(-1, ByteBuffer.allocate(1)));
    }

    @Test
    void read_atAndPastEnd_returnsZero() {
        KdumpView v = KdumpView.open(guest.dump(), FormatContext.uncached(), KdumpCodec.ZLIB);
        assertEquals(0, v.read(v.size(), ByteBuffer.allocate(10)));
        assertEquals(0, v.read(v.size() + 12345, ByteBuffer.allocate(10)));
    }

    @Test
    void concurrentReaders_twoKdumpFilesAndElf_getCorrectBytes() throws Exception {
        byte[] refZlib = reference(KdumpCodec.ZLIB);
        byte[] refLzo = reference(KdumpCodec.LZO);
        MapCache cache = new MapCache();
        FormatContext c = ctx(cache, IndexRepository.NONE, 2);
        View zlib = DumpFormat.KDUMP_ZLIB.open(guest.dump(), c);
        View lzo = DumpFormat.KDUMP_LZO.open(guest.dump(), c);
        ElfView elf = new ElfView(guest.dump());
        byte[] refElf = readAll(elf, 1 << 20);
        List<View> views = List.of(zlib, lzo, elf);
        List<byte[]> refs = List.of(refZlib, refLzo, refElf);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int seed = t;
                fs.add(pool.submit(() -> {
                    Random rnd = new Random(seed);
                    for (int i = 0; i < 300; i++) {
                        int which = rnd.nextInt(3);
                        byte[] ref = refs.get(which);
                        long off = (long) (rnd.nextDouble() * ref.length);
                        ByteBuffer dst = ByteBuffer.allocate(rnd.nextInt(40_000) + 1);
                        int n = views.get(which).read(off, dst);
                        for (int k = 0; k < n; k++) {
                            if (dst.get(k) != ref[(int) off + k]) {
                                throw new AssertionError("view " + which + ": byte " + (off + k) + " differs");
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void dumpFormat_kdumpFiles_namedAndOpened() {
        assertEquals("vmcore.kdump-zlib", DumpFormat.KDUMP_ZLIB.fileName());
        assertEquals("vmcore.kdump-lzo", DumpFormat.KDUMP_LZO.fileName());
        assertEquals("vmcore.kdump-snappy", DumpFormat.KDUMP_SNAPPY.fileName());
        assertEquals("vmcore.kdump-zstd", DumpFormat.KDUMP_ZSTD.fileName());
        for (KdumpCodec c : KdumpCodec.values()) {
            assertEquals(c, KdumpCodec.ofFileName(c.fileName()));
            View v = DumpFormat.byFileName(c.fileName()).orElseThrow().open(guest.dump(), FormatContext.uncached());
            assertEquals(c, ((KdumpView) v).codec());
        }
        assertEquals(null, KdumpCodec.ofFileName("vmcore.kdump-raw-zlib"));
    }

    @Test
    void read_coreChangedAfterIndex_failsInsteadOfWrongBytes() throws Exception {
        KdumpView v = KdumpView.open(guest.dump(), ctx(ChunkCache.NONE, IndexRepository.NONE, 1), KdumpCodec.ZLIB);
        long size = v.size();
        // overwrite guest RAM in the core file (pc.ram at 1 MiB) with zeros: chunks now compress differently
        long fileOff = guest.blocks().get(2).fileOffset();
        try (FileChannel ch = FileChannel.open(guest.corePath(), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(1 << 20), fileOff);
        }
        BadCoreException e = assertThrows(BadCoreException.class, () -> readAll(v, 1 << 20));
        assertEquals(BadCoreException.Kind.CORRUPT, e.kind());
        assertTrue(e.getMessage().contains("modified"), e.getMessage());
        assertTrue(size > 0);
    }
}

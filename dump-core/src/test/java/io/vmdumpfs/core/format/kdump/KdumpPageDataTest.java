package io.vmdumpfs.core.format.kdump;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.ElfLayout;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.IndexRepository;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Page data of a kdump file served in two ways: raw pages straight from the core, compressed pages from the cached
 * packed chunks. The guest mixes the three page kinds of {@link SyntheticGuest} with runs of incompressible pages
 * written over it, placed where a raw read can go wrong.
 */
class KdumpPageDataTest {

    private static final int PAGE = 4096;

    /**
     * Dumped pages: pfn 0-0x9f (pages 0-159), 0x100-0x4ff (160-1183), 0xfffc0-0xfffff (1184-1247); chunk c starts at
     * pfn 0x60 + 0x100 * c for c = 1..4, the bios at page 1184 lies in chunk 4.
     */
    private static final String BLOCKS = """
            0         9f7f8    low     # ends 8 bytes before the end of page 0x9f
            9f800     800      odd     # the rest of page 0x9f: 8 bytes at 0x9f7f8 are in no block
            100008    ffff8    a       # starts 8 bytes into page 0x100
            200000    300000   b       # pfn-contiguous with a, but elsewhere in the core file
            fffc0000  40000    bios
            """;
    private static final int CHUNK_ALL_RAW_OR_ZERO = 2;
    private static final int CHUNK_ALL_ZERO = 3;

    @TempDir
    Path tmp;

    private SyntheticGuest guest;
    private long mtime;

    @BeforeEach
    void setUp() throws Exception {
        guest = SyntheticGuest.builder(tmp).blocks(BLOCKS).seed(11).build();
        Random rnd = new Random(5);
        // raw runs over the pfn gap after 0x9f, each end of it a page partly outside every block
        overwrite(0x9c000, 0xa0000, rnd);
        overwrite(0x100000, 0x104000, rnd);
        overwrite(0x150000, 0x170000, rnd);   // across the chunk 0/1 boundary (pfn 0x160)
        overwrite(0x1f0000, 0x210000, rnd);   // across blocks a and b
        // chunk 2 (pfn 0x260-0x35f): raw pages and every 7th page zero; chunk 3 (pfn 0x360-0x45f): all zero
        overwrite(0x260000, 0x360000, rnd);
        for (long pfn = 0x260; pfn < 0x360; pfn += 7) {
            write(pfn * PAGE, new byte[PAGE]);
        }
        write(0x360000, new byte[0x100000]);
        overwrite(0x4f0000, 0x500000, rnd);   // the last pages of b, then the pfn gap to the bios
        overwrite(0xfffc0000L, 0x100000000L, rnd); // the bios: the file's last pages
        mtime = Files.getLastModifiedTime(guest.corePath()).toMillis() / 1000;
    }

    @AfterEach
    void tearDown() throws Exception {
        guest.close();
    }

    private void overwrite(long from, long to, Random rnd) throws IOException {
        byte[] b = new byte[(int) (to - from)];
        rnd.nextBytes(b);
        write(from, b);
    }

    /** Writes {@code data} over guest-physical {@code paddr} on, in the core file; bytes in no block are skipped. */
    private void write(long paddr, byte[] data) throws IOException {
        try (FileChannel ch = FileChannel.open(guest.corePath(), StandardOpenOption.WRITE)) {
            for (GuestPhysBlock b : guest.blocks()) {
                long lo = Math.max(paddr, b.guestPaddrStart());
                long hi = Math.min(paddr + data.length, b.guestPaddrEnd());
                if (lo < hi) {
                    ch.write(ByteBuffer.wrap(data, (int) (lo - paddr), (int) (hi - lo)),
                            b.fileOffset() + (lo - b.guestPaddrStart()));
                }
            }
        }
    }

    private byte[] reference(KdumpCodec codec) {
        GuestDump d = guest.dump();
        return ReferenceKdumpWriter.write(d, codec, ElfLayout.notes(d.vmcoreinfo(), ByteOrder.LITTLE_ENDIAN), mtime);
    }

    private KdumpView open(ChunkCache cache, KdumpCodec codec) {
        return KdumpView.open(guest.dump(), new FormatContext(cache, IndexRepository.NONE, 2), codec);
    }

    private DumpedPages pages() {
        return new DumpedPages(guest.dump().memory(), PAGE);
    }

    /** Records every chunk asked for, and optionally keeps them (weighed like CaffeineChunkCache: capacity). */
    static final class RecordingCache implements ChunkCache {
        final boolean keep;
        final Map<Object, ByteBuffer> kept = new ConcurrentHashMap<>();
        final Set<Integer> asked = ConcurrentHashMap.newKeySet();
        final Set<Integer> computed = ConcurrentHashMap.newKeySet();
        final Set<Integer> invalidated = ConcurrentHashMap.newKeySet();
        final Map<Object, Integer> deliveredBytes = new ConcurrentHashMap<>();

        RecordingCache(boolean keep) {
            this.keep = keep;
        }

        @Override
        public ByteBuffer get(Object key, Function<Object, ByteBuffer> compute) {
            int chunk = ((KdumpView.ChunkKey) key).chunk();
            asked.add(chunk);
            Function<Object, ByteBuffer> counted = k -> {
                computed.add(chunk);
                return compute.apply(k);
            };
            return keep ? kept.computeIfAbsent(key, counted) : counted.apply(key);
        }

        /** As CaffeineChunkCache: a chunk delivered in full is dropped. */
        @Override
        public void delivered(Object key, int bytes) {
            int total = deliveredBytes.merge(key, bytes, Integer::sum);
            ByteBuffer b = kept.get(key);
            if (b != null && total >= b.remaining()) {
                deliveredBytes.remove(key);
                invalidate(key);
            }
        }

        @Override
        public void invalidate(Object key) {
            invalidated.add(((KdumpView.ChunkKey) key).chunk());
            kept.remove(key);
        }

        long weight() {
            return kept.values().stream().mapToLong(ByteBuffer::capacity).sum();
        }
    }

    /** Facts about the reference file: where each dumped page's data is, how it is stored. */
    private record PageData(long[] start, int[] size, int[] flags, long dataStart, long dataEnd) {
        static PageData of(byte[] ref, int pageCount) {
            KdumpReader r = new KdumpReader(ref);
            long dataStart = r.descOffset + (long) PageDesc.SIZE * pageCount + r.blockSize;
            long[] start = new long[pageCount];
            int[] size = new int[pageCount];
            int[] flags = new int[pageCount];
            for (int i = 0; i < pageCount; i++) {
                PageDesc pd = r.desc(i);
                start[i] = pd.offset();
                size[i] = pd.offset() < dataStart ? 0 : pd.size(); // zero pages point at the shared zero page
                flags[i] = pd.flags();
            }
            return new PageData(start, size, flags, dataStart, ref.length);
        }

        long compressedBytes() {
            long n = 0;
            for (int i = 0; i < size.length; i++) {
                n += flags[i] != 0 ? size[i] : 0;
            }
            return n;
        }

        /** Returns the file offset where chunk {@code c}'s data starts (its first non-zero page), or -1. */
        long chunkDataStart(int c) {
            for (int i = c * KdumpIndex.CHUNK_PAGES; i < Math.min(size.length, (c + 1) * KdumpIndex.CHUNK_PAGES); i++) {
                if (size[i] > 0) {
                    return start[i];
                }
            }
            return -1;
        }
    }

    private static void assertRead(KdumpView v, byte[] ref, long off, int len, boolean direct) {
        // a heap buffer with an array offset, or a direct one: zeros of partial pages are put both ways
        ByteBuffer dst = direct ? ByteBuffer.allocateDirect(len) : ByteBuffer.allocate(len + 3).position(3).slice();
        int n = v.read(off, dst);
        int want = (int) Math.max(0, Math.min(len, ref.length - off));
        assertEquals(want, n, "read(" + off + ", " + len + ")");
        assertEquals(n, dst.position(), "position after read(" + off + ", " + len + ")");
        byte[] got = new byte[n];
        dst.get(0, got);
        int at = Arrays.mismatch(got, 0, n, ref, (int) off, (int) off + n);
        if (at >= 0) {
            throw new AssertionError("read(" + off + ", " + len + "): byte " + (off + at) + " differs");
        }
    }

    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void fixture_hasRawRunsPartialRawPagesAndTheTwoSpecialChunks(KdumpCodec codec) {
        byte[] ref = reference(codec);
        DumpedPages pages = pages();
        PageData d = PageData.of(ref, pages.pageCount());
        assertEquals(1248, pages.pageCount());
        for (int page : new int[] {0x9f, 0xa0, 0xa0 + 0x50, 0xa0 + 0xff, 0xa0 + 0x100, 1183, 1184, 1247}) {
            assertEquals(PAGE, d.size[page], "page " + page + " is raw");
            assertEquals(0, d.flags[page], "page " + page + " is raw");
        }
        for (int i = CHUNK_ALL_RAW_OR_ZERO * 256; i < (CHUNK_ALL_ZERO + 1) * 256; i++) {
            assertTrue(d.size[i] == 0 || d.flags[i] == 0, "page " + i + " is raw or zero");
        }
        assertTrue(d.compressedBytes() > 0);
    }

    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void read_oddOffsetsAcrossPageAndChunkBoundaries_equalReference(KdumpCodec codec) {
        byte[] ref = reference(codec);
        PageData d = PageData.of(ref, pages().pageCount());
        KdumpView v = open(new RecordingCache(true), codec);
        // uncached: every read of a compressed page compresses its chunk again and checks it against the index
        KdumpView uncached = open(ChunkCache.NONE, codec);
        assertEquals(ref.length, v.size());
        assertEquals(ref.length, uncached.size());
        Random rnd = new Random(codec.ordinal());
        for (int i = 0; i < d.start.length; i++) {
            if (d.size[i] == 0) {
                continue;
            }
            long b = d.start[i];
            assertRead(v, ref, b - 3, 7, i % 2 == 0);
            assertRead(v, ref, b + 1, 2 * rnd.nextInt(PAGE) + 1, i % 3 == 0);
            assertRead(v, ref, b + d.size[i] - 1, 1, false);
        }
        for (int c = 0; c < KdumpIndex.chunkCount(d.start.length); c++) {
            long b = d.chunkDataStart(c);
            if (b < 0) {
                continue;
            }
            for (long delta : new long[] {-4097, -1, 0, 1, 4097}) {
                for (int len : new int[] {3, 4097, 131071}) {
                    assertRead(v, ref, b + delta, len, len == 4097);
                    assertRead(uncached, ref, b + delta, len, len == 3);
                }
            }
        }
        assertRead(v, ref, d.dataStart - 1, 3, false);
        assertRead(v, ref, d.dataEnd - 4097, 4097, true);
        assertRead(v, ref, d.dataEnd - 5, 11, false);
        for (int step : new int[] {4093, 131071}) {
            for (long off = 0; off < ref.length; off += step) {
                assertRead(v, ref, off, step, step == 4093);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void cache_holdsOnlyTheCompressedPagesBytes(KdumpCodec codec) {
        byte[] ref = reference(codec);
        PageData d = PageData.of(ref, pages().pageCount());
        RecordingCache cache = new RecordingCache(true);
        KdumpView v = open(cache, codec);
        v.size(); // the build
        long compressed = d.compressedBytes();
        assertEquals(compressed, cache.weight(), "the cache holds exactly the compressed pages");
        assertTrue(cache.weight() < d.dataEnd - d.dataStart, "raw pages are not cached");
        for (ByteBuffer b : cache.kept.values()) {
            assertEquals(b.capacity(), b.remaining(), "no slack weighed");
        }
        Set<Integer> built = Set.copyOf(cache.kept.keySet().stream().map(k -> ((KdumpView.ChunkKey) k).chunk()).toList());
        KdumpViewTest.readAll(v, 128 * 1024);
        assertFalse(cache.asked.contains(CHUNK_ALL_RAW_OR_ZERO));
        assertFalse(cache.asked.contains(CHUNK_ALL_ZERO));
        assertEquals(cache.asked, cache.computed, "the build filled the cache; reads computed nothing again");
        assertEquals(built, cache.invalidated, "every chunk is dropped once all its bytes were read");
        assertEquals(0, cache.weight());
    }

    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void read_partOfAChunk_keepsItCached(KdumpCodec codec) {
        byte[] ref = reference(codec);
        PageData d = PageData.of(ref, pages().pageCount());
        RecordingCache cache = new RecordingCache(true);
        KdumpView v = open(cache, codec);
        v.size();
        // chunk 0's packed bytes but the last one, in odd pieces: not all of it went out yet
        int last = KdumpIndex.CHUNK_PAGES - 1;
        while (last >= 0 && d.flags[last] == 0) {
            last--;
        }
        assertTrue(last >= 0, "chunk 0 has a compressed page");
        long from = d.chunkDataStart(0);
        long lastByte = d.start[last] + d.size[last] - 1;
        for (long off = from; off < lastByte; off += 5000) {
            assertRead(v, ref, off, (int) Math.min(5000, lastByte - off), false);
        }
        assertEquals(Set.of(), cache.invalidated);
        assertRead(v, ref, lastByte, 1, true);
        assertEquals(Set.of(0), cache.invalidated, "dropped once its last packed byte went out");
        assertFalse(cache.kept.keySet().stream().anyMatch(k -> ((KdumpView.ChunkKey) k).chunk() == 0));
    }

    @Test
    void read_chunkOfRawAndZeroPagesOnly_neverComputed() {
        KdumpCodec codec = KdumpCodec.LZO;
        byte[] ref = reference(codec);
        PageData d = PageData.of(ref, pages().pageCount());
        RecordingCache cache = new RecordingCache(false);
        KdumpView v = open(cache, codec);
        v.size();
        cache.asked.clear();
        cache.computed.clear();
        long from = d.chunkDataStart(CHUNK_ALL_RAW_OR_ZERO);
        long to = d.chunkDataStart(CHUNK_ALL_ZERO + 1);
        for (long off = from; off < to; off += 65537) {
            assertRead(v, ref, off, (int) Math.min(65537, to - off), false);
        }
        assertEquals(Set.of(), cache.asked, "no chunk fetched for raw and zero pages");

        // a read from a compressed page in chunk 1 into the raw chunk fetches chunk 1 once, not chunk 2
        int lastCompressed = CHUNK_ALL_RAW_OR_ZERO * 256 - 1;
        while (d.flags[lastCompressed] == 0) {
            lastCompressed--;
        }
        assertRead(v, ref, d.start[lastCompressed] + 1, (int) (from + 3 * PAGE - d.start[lastCompressed]), false);
        assertEquals(Set.of(1), cache.asked);
        assertEquals(Set.of(1), cache.computed);
    }

    @Test
    void read_rawPagesOnly_fetchNoChunk() {
        KdumpCodec codec = KdumpCodec.ZSTD;
        byte[] ref = reference(codec);
        PageData d = PageData.of(ref, pages().pageCount());
        RecordingCache cache = new RecordingCache(false);
        KdumpView v = open(cache, codec);
        v.size();
        cache.asked.clear();
        // pages 0x9c..0xa3 (pfn 0x9c-0x9f, 0x100-0x103) are raw and adjacent in the file, across the pfn gap
        long from = d.start[0x9c] + 5;
        assertRead(v, ref, from, (int) (d.start[0xa3] + PAGE - 5 - from), false);
        assertRead(v, ref, d.start[0x9f] + 0x7e0, 0x40, true); // the 8 bytes outside every block read as zeros
        assertEquals(Set.of(), cache.asked);
    }

    @Test
    void read_pagesSwappedInCore_sameChunkLengthStillCorrupt() throws Exception {
        KdumpCodec codec = KdumpCodec.ZLIB;
        byte[] ref = reference(codec);
        PageData d = PageData.of(ref, pages().pageCount());
        KdumpView v = open(ChunkCache.NONE, codec);
        v.size();
        // in chunk 1, swap a compressed page with a raw one: the chunk packs as many bytes, but not the same pages
        DumpedPages pages = pages();
        int compressed = -1;
        int raw = -1;
        for (int i = 256; i < 512 && (compressed < 0 || raw < 0); i++) {
            if (d.size[i] > 0 && d.flags[i] != 0 && compressed < 0) {
                compressed = i;
            } else if (d.size[i] == PAGE && raw < 0) {
                raw = i;
            }
        }
        byte[] a = new byte[PAGE];
        pages.readPages(compressed, 1, a);
        byte[] b = new byte[PAGE];
        pages.readPages(raw, 1, b);
        write(pages.pfnOf(compressed) * PAGE, b);
        write(pages.pfnOf(raw) * PAGE, a);
        int at = compressed;
        BadCoreException e = assertThrows(BadCoreException.class,
                () -> v.read(d.start[at], ByteBuffer.allocate(10)));
        assertEquals(BadCoreException.Kind.CORRUPT, e.kind());
        assertTrue(e.getMessage().contains("page " + compressed) || e.getMessage().contains("page " + raw),
                e.getMessage());
        assertTrue(e.getMessage().contains("modified"), e.getMessage());
    }

    @Test
    void dumpedPagesRead_anyOffsetAndLength_equalsConcatenatedPages() {
        DumpedPages pages = pages();
        int count = pages.pageCount();
        byte[] all = new byte[count * PAGE];
        pages.readPages(0, count, all);
        // a page partly outside every block reads zeros there, not the core's filler
        assertEquals(0, all[0x9f * PAGE + 0x7f8]);
        assertEquals(0, all[0xa0 * PAGE + 0x7]);
        assertTrue(all[0x9f * PAGE + 0x7f7] != 0 || all[0x9f * PAGE + 0x800] != 0, "random bytes around the hole");
        Random rnd = new Random(3);
        List<long[]> cases = new ArrayList<>();
        for (int page : new int[] {0, 0x9e, 0x9f, 0xa0, 0xa0 + 0xff, 0xa0 + 0x100, 1183, 1184, count - 1}) {
            for (int off : new int[] {0, 1, 7, 0x7f7, 0x7f9, PAGE - 1}) {
                for (int len : new int[] {0, 1, 15, PAGE - off, PAGE + 1, 5 * PAGE + 7}) {
                    cases.add(new long[] {page, off, len});
                }
            }
        }
        for (int i = 0; i < 500; i++) {
            cases.add(new long[] {rnd.nextInt(count), rnd.nextInt(PAGE), rnd.nextInt(3 * PAGE)});
        }
        for (long[] k : cases) {
            long start = k[0] * PAGE + k[1];
            int len = (int) Math.min(k[2], (long) count * PAGE - start);
            ByteBuffer dst = ByteBuffer.allocateDirect(len + 2);
            dst.put((byte) 7);
            pages.read(k[0], (int) k[1], dst, len);
            assertEquals(1 + len, dst.position());
            assertEquals(len + 2, dst.limit(), "limit restored");
            for (int j = 0; j < len; j++) {
                if (dst.get(1 + j) != all[(int) start + j]) {
                    throw new AssertionError("read(" + k[0] + ", " + k[1] + ", " + len + "): byte " + j + " differs");
                }
            }
        }
        assertThrows(IllegalArgumentException.class,
                () -> pages.read(count - 1, 1, ByteBuffer.allocate(PAGE), PAGE));
    }

    @Test
    void packedLength_sumsTheCompressedSizesOnly() {
        char[] sizes = new char[KdumpIndex.CHUNK_PAGES + 3];
        sizes[0] = 100;
        sizes[1] = PAGE;    // raw
        sizes[2] = 0;       // zero
        sizes[3] = 4095;
        sizes[KdumpIndex.CHUNK_PAGES] = PAGE;
        sizes[KdumpIndex.CHUNK_PAGES + 2] = 1;
        KdumpIndex idx = KdumpIndex.ofPageSizes(PAGE, sizes);
        assertEquals(4195, idx.packedLength(0));
        assertEquals(1, idx.packedLength(1));
        assertTrue(idx.isCompressed(4095));
        assertFalse(idx.isCompressed(PAGE));
        assertFalse(idx.isCompressed(0));
    }
}

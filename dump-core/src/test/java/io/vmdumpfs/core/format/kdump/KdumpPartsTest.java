package io.vmdumpfs.core.format.kdump;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.IndexRepository;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.guest.Vcpus;
import io.vmdumpfs.core.kernel.Utsname;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import java.util.Random;
import java.util.zip.Inflater;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The pieces of the kdump writer: codecs, the page map and bitmaps, the index and its file, the header records. */
class KdumpPartsTest {

    @TempDir
    Path tmp;

    private static byte[] textPage() {
        byte[] p = new byte[4096];
        byte[] line = "VMDUMPFS-PATTERN-0123456789abcdef-00000001-..........\n".getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < p.length; i++) {
            p[i] = line[i % line.length];
        }
        return p;
    }

    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void compress_textPage_smallerThanPage(KdumpCodec codec) {
        try (KdumpCodec.PageCompressor c = codec.newCompressor(4096)) {
            byte[] out = new byte[c.outSize()];
            int n = c.compress(textPage(), 0, out);
            assertTrue(n > 0 && n < 1000, codec + ": " + n);
            // deterministic: the persisted index relies on it
            byte[] again = new byte[c.outSize()];
            assertEquals(n, c.compress(textPage(), 0, again));
            assertArrayEquals(Arrays.copyOf(out, n), Arrays.copyOf(again, n));
        }
    }

    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void compress_randomPage_notSmaller(KdumpCodec codec) {
        byte[] page = new byte[4096];
        new Random(1).nextBytes(page);
        try (KdumpCodec.PageCompressor c = codec.newCompressor(4096)) {
            assertEquals(-1, c.compress(page, 0, new byte[c.outSize()]));
        }
    }

    @Test
    void compress_zlib_hasZlibWrapperAsCompress2() throws Exception {
        try (KdumpCodec.PageCompressor c = KdumpCodec.ZLIB.newCompressor(4096)) {
            byte[] out = new byte[c.outSize()];
            int n = c.compress(textPage(), 0, out);
            assertEquals(0x78, out[0] & 0xff, "CMF: deflate, 32 KiB window");
            assertEquals(0, ((out[0] & 0xff) * 256 + (out[1] & 0xff)) % 31, "FCHECK");
            Inflater inf = new Inflater(false); // uncompress() expects the wrapper and its adler32
            inf.setInput(out, 0, n);
            byte[] back = new byte[4096];
            assertEquals(4096, inf.inflate(back));
            assertTrue(inf.finished());
            assertArrayEquals(textPage(), back);
        }
    }

    /** A page like kernel data: short runs of random bytes between repeated structure; compresses to about half. */
    private static byte[] kernelLikePage(long seed) {
        byte[] p = new byte[4096];
        Random r = new Random(seed);
        for (int i = 0; i < p.length; i++) {
            p[i] = (byte) (i % 16 < 6 ? r.nextInt(256) : i % 16 == 6 ? 0xff : (i % 7) * 9);
        }
        return p;
    }

    private static byte[] inflate(byte[] z, int n) throws Exception {
        Inflater inf = new Inflater(false);
        inf.setInput(z, 0, n);
        byte[] back = new byte[4096];
        assertEquals(4096, inf.inflate(back));
        assertTrue(inf.finished());
        return back;
    }

    @Test
    void compressNext_zlib_effortFollowsThePageBeforeInTheChunk() throws Exception {
        byte[] kernel = kernelLikePage(1);
        byte[] random = new byte[4096];
        new Random(2).nextBytes(random);
        try (KdumpCodec.PageCompressor c = KdumpCodec.ZLIB.newCompressor(4096)) {
            byte[] first = new byte[4096];
            int n1 = c.compress(kernel, 0, first);
            assertTrue(n1 > 1024 && n1 < 4096, "kernel-like: compresses, to more than a quarter: " + n1);
            assertArrayEquals(kernel, inflate(first, n1));

            byte[] out = new byte[4096];
            c.startChunk();
            assertEquals(n1, c.compressNext(kernel, 0, out), "a chunk's first page: as compress()");
            assertArrayEquals(Arrays.copyOf(first, n1), Arrays.copyOf(out, n1));
            assertEquals(-1, c.compressNext(random, 0, out));
            int afterRandom = c.compressNext(kernel, 0, out);
            byte[] second = Arrays.copyOf(out, afterRandom);
            assertArrayEquals(kernel, inflate(second, afterRandom), "whatever the effort, the same page");
            if (c.toString().startsWith("libdeflate")) {
                assertTrue(afterRandom > n1, "after a random page the faster level: " + afterRandom + " vs " + n1);
            }
            // deterministic: the same pages in the same order give the same bytes
            c.startChunk();
            c.compressNext(kernel, 0, out);
            c.compressNext(random, 0, out);
            assertEquals(afterRandom, c.compressNext(kernel, 0, out));
            assertArrayEquals(second, Arrays.copyOf(out, afterRandom));
        }
    }

    @Test
    void fingerprint_stableAndDistinctPerCodec() {
        assertEquals(KdumpCodec.ZLIB.fingerprint(), KdumpCodec.ZLIB.fingerprint());
        assertEquals(4, Arrays.stream(KdumpCodec.values()).map(KdumpCodec::fingerprint).distinct().count());
    }

    @Test
    void fillBitmap_runsAcrossByteBoundaries_setExactlyTheirBits() throws Exception {
        try (SyntheticGuest g = SyntheticGuest.builder(tmp).blocks("3000 5000 a\n10000 13000 b\n 40000 1000 c").build()) {
            DumpedPages p = new DumpedPages(g.dump().memory(), 4096);
            assertEquals(5 + 0x13 + 1, p.pageCount());
            assertEquals(0x41, p.maxMapnr());
            byte[] all = new byte[16];
            p.fillBitmap(0, all, 0, 16);
            for (int pfn = 0; pfn < 128; pfn++) {
                boolean want = pfn >= 3 && pfn < 8 || pfn >= 0x10 && pfn < 0x23 || pfn == 0x40;
                assertEquals(want, (all[pfn >> 3] & (1 << (pfn & 7))) != 0, "pfn " + pfn);
            }
            for (int off = 0; off < 16; off++) {
                for (int len = 1; off + len <= 16; len++) {
                    byte[] part = new byte[len + 2];
                    Arrays.fill(part, (byte) 0x5a);
                    p.fillBitmap(off, part, 1, len);
                    assertArrayEquals(Arrays.copyOfRange(all, off, off + len), Arrays.copyOfRange(part, 1, len + 1));
                    assertEquals(0x5a, part[0]);
                    assertEquals(0x5a, part[len + 1]);
                }
            }
            assertEquals(0x40, p.pfnOf(p.pageCount() - 1));
            assertEquals(0x10, p.pfnOf(5));
        }
    }

    @Test
    void of_noPages_missing() throws Exception {
        try (SyntheticGuest g = SyntheticGuest.builder(tmp).blocks("0 1000 a").build()) {
            GuestDump empty = new GuestDump(new GuestMemory(g.dump().core(), List.of()), g.dump().platform(),
                    Optional.empty(), Optional.empty(), Vcpus.none("none"), "empty");
            BadCoreException e = assertThrows(BadCoreException.class,
                    () -> KdumpView.open(empty, FormatContext.uncached(), KdumpCodec.ZLIB));
            assertEquals(BadCoreException.Kind.MISSING, e.kind());
        }
    }

    @Test
    void chunkAt_emptyChunksBetween_findsTheChunkHoldingTheOffset() {
        char[] sizes = new char[5 * KdumpIndex.CHUNK_PAGES + 3];
        sizes[0] = 100;                                 // chunk 0: 100 bytes
        sizes[3 * KdumpIndex.CHUNK_PAGES + 1] = 4096;   // chunks 1, 2 empty; chunk 3: 4096
        sizes[5 * KdumpIndex.CHUNK_PAGES + 2] = 7;      // chunk 4 empty; chunk 5: 7
        KdumpIndex idx = KdumpIndex.ofPageSizes(4096, sizes);
        assertEquals(6, idx.chunkCount());
        assertEquals(0, idx.chunkAt(0));
        assertEquals(0, idx.chunkAt(99));
        assertEquals(3, idx.chunkAt(100));
        assertEquals(3, idx.chunkAt(4195));
        assertEquals(5, idx.chunkAt(4196));
        assertEquals(5, idx.chunkAt(4202));
        assertEquals(4203, idx.totalData());
        assertEquals(100, idx.dataOffset(3 * KdumpIndex.CHUNK_PAGES + 1));
        assertEquals(4196, idx.dataOffset(5 * KdumpIndex.CHUNK_PAGES + 2));
    }

    @Test
    void index_sizeAbovePageSize_rejected() {
        char[] sizes = {4097};
        assertThrows(IllegalArgumentException.class, () -> KdumpIndex.ofPageSizes(4096, sizes));
    }

    private static KdumpIndex sampleIndex() {
        char[] sizes = new char[1000];
        for (int i = 0; i < sizes.length; i++) {
            sizes[i] = (char) (i % 7 == 0 ? 0 : i % 5 == 0 ? 4096 : 100 + i);
        }
        return KdumpIndex.ofPageSizes(4096, sizes);
    }

    private static byte[] bytesOf(KdumpIndex idx) throws Exception {
        java.io.ByteArrayOutputStream bos = new java.io.ByteArrayOutputStream();
        idx.writeTo(java.nio.channels.Channels.newChannel(bos));
        return bos.toByteArray();
    }

    private static KdumpIndex read(byte[] b, int pageSize, int pageCount) throws Exception {
        return KdumpIndex.readFrom(java.nio.channels.Channels.newChannel(new java.io.ByteArrayInputStream(b)),
                pageSize, pageCount);
    }

    @Test
    void indexContent_roundTrip() throws Exception {
        KdumpIndex idx = sampleIndex();
        KdumpIndex back = read(bytesOf(idx), 4096, 1000);
        assertEquals(idx.stored(), back.stored());
        assertEquals(idx.totalData(), back.totalData());
        for (int p = 0; p < 1000; p++) {
            assertEquals(idx.storedSize(p), back.storedSize(p), "page " + p);
        }
        // 2 bytes per stored page, plus 40 per chunk with stored pages and a small head: zero pages cost nothing
        assertEquals(16 + 4 + 4 + 4 * 36 + 2 * idx.stored().count(), bytesOf(idx).length);
    }

    @Test
    void indexContent_otherPageCount_corrupt() throws Exception {
        byte[] b = bytesOf(sampleIndex());
        assertThrows(IndexRepository.CorruptIndexException.class, () -> read(b, 4096, 999));
        assertThrows(IndexRepository.CorruptIndexException.class, () -> read(b, 8192, 1000));
    }

    @Test
    void indexContent_sizeAbovePage_corrupt() throws Exception {
        byte[] b = bytesOf(sampleIndex());
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putChar(b.length - 2, (char) 5000);
        IndexRepository.CorruptIndexException e = assertThrows(IndexRepository.CorruptIndexException.class,
                () -> read(b, 4096, 1000));
        assertTrue(e.getMessage().contains("5000"), e.getMessage());
    }

    @Test
    void indexContent_setOutOfOrder_corrupt() throws Exception {
        byte[] b = bytesOf(sampleIndex());
        // the stored set's chunk numbers follow the head (16), the dumped set (4: every page) and its count (4)
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(24, 3);
        assertThrows(IndexRepository.CorruptIndexException.class, () -> read(b, 4096, 1000));
    }

    @Test
    void indexContent_truncated_eof() throws Exception {
        byte[] b = bytesOf(sampleIndex());
        assertThrows(java.io.EOFException.class, () -> read(Arrays.copyOf(b, b.length - 1), 4096, 1000));
    }

    @Test
    void key_dependsOnCodecAndBlocks() throws Exception {
        try (SyntheticGuest a = SyntheticGuest.builder(tmp).blocks("0 10000 a").build();
                SyntheticGuest b = SyntheticGuest.builder(tmp).blocks("0 11000 a").build()) {
            assertArrayEquals(KdumpView.digest(a.dump(), KdumpCodec.ZLIB), KdumpView.digest(a.dump(), KdumpCodec.ZLIB));
            assertNotEquals(ByteBuffer.wrap(KdumpView.digest(a.dump(), KdumpCodec.ZLIB)),
                    ByteBuffer.wrap(KdumpView.digest(a.dump(), KdumpCodec.LZO)));
            assertNotEquals(ByteBuffer.wrap(KdumpView.digest(a.dump(), KdumpCodec.ZLIB)),
                    ByteBuffer.wrap(KdumpView.digest(b.dump(), KdumpCodec.ZLIB)));
        }
    }

    @Test
    void diskDumpHeader_roundTripAndBadSignature() {
        Utsname uts = new Utsname("Linux", "guest", "6.1.0", "#1 SMP", "x86_64", "(none)");
        DiskDumpHeader h = new DiskDumpHeader(6, uts, 1234, 0x20, 4096, 1, 64, 0x100000, 2);
        byte[] b = h.toBytes(ByteOrder.LITTLE_ENDIAN);
        assertEquals(DiskDumpHeader.SIZE, b.length);
        assertEquals(h, DiskDumpHeader.parse(ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN)));
        // offsets from makedumpfile's struct: status at 424 (after the 6-byte pad and the 16-byte timeval)
        assertEquals(0x20, ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt(424));
        assertEquals(2, ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt(460));
        // utsname: six char[65] from offset 12 (new_utsname), in struct order
        assertEquals("guest", new String(b, 12 + 65, 5, java.nio.charset.StandardCharsets.US_ASCII), "nodename");
        assertEquals("#1 SMP", new String(b, 12 + 3 * 65, 6, java.nio.charset.StandardCharsets.US_ASCII), "version");
        assertEquals("(none)", new String(b, 12 + 5 * 65, 6, java.nio.charset.StandardCharsets.US_ASCII));
        b[0] = 'D';
        assertThrows(IllegalArgumentException.class,
                () -> DiskDumpHeader.parse(ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN)));
    }

    @Test
    void findVmcoreinfoDesc_skipsOtherNotesAndStopsAtMalformed() {
        byte[] other = SyntheticGuest.vmcoreinfoNote("x");
        other[12] = 'W'; // "WMCOREINFO"
        byte[] vmci = SyntheticGuest.vmcoreinfoNote("OSRELEASE=1\n");
        byte[] both = new byte[other.length + vmci.length];
        System.arraycopy(other, 0, both, 0, other.length);
        System.arraycopy(vmci, 0, both, other.length, vmci.length);
        long[] d = KdumpGeometry.findVmcoreinfoDesc(both, ByteOrder.LITTLE_ENDIAN);
        assertEquals(other.length + 12 + 12, d[0]);
        assertEquals(12, d[1]);
        ByteBuffer.wrap(both).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 1 << 20); // descsz past the end
        assertEquals(null, KdumpGeometry.findVmcoreinfoDesc(both, ByteOrder.LITTLE_ENDIAN));
    }
}

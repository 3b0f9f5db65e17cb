package io.vmdumpfs.core.format.kdump;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.DumpNotes;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.IndexRepository;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.guest.Vcpus;
import io.vmdumpfs.core.testing.MemoryIndexRepository;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.zip.Inflater;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cores with holes (as the kernel's core dumper writes them, and as decompressed copies are): pages in holes are
 * zero pages without being read; the first index build reads the rest once and the other codecs read only the pages
 * with data; the index costs nothing for runs of zero pages, so a 1 TiB guest holding a few MiB has a tiny index. And
 * the page model's third class, present but not dumped, which filtered files will use.
 */
class KdumpSparseTest {

    static final long KiB = 1024;
    static final long MiB = 1024 * KiB;
    static final long GiB = 1024 * MiB;
    static final int PAGE = 4096;

    @TempDir
    Path tmp;

    /** A sparse core file of {@code size} bytes; {@link #write} puts data into it, the rest stays holes. */
    private static final class SparseCore {
        final Path path;
        final List<GuestPhysBlock> blocks = new ArrayList<>();

        SparseCore(Path path, long size) throws IOException {
            this.path = path;
            try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
                f.setLength(size);
            }
        }

        SparseCore block(long guestPaddr, long size, long fileOffset, String name) {
            blocks.add(new GuestPhysBlock(guestPaddr, guestPaddr + size, 0x7f00_0000_0000L + fileOffset, fileOffset,
                    name));
            return this;
        }

        /** Writes {@code data} at guest-physical {@code paddr} (inside one block). */
        SparseCore write(long paddr, byte[] data) throws IOException {
            for (GuestPhysBlock b : blocks) {
                if (b.contains(paddr)) {
                    try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
                        f.seek(b.fileOffset() + (paddr - b.guestPaddrStart()));
                        f.write(data);
                    }
                    return this;
                }
            }
            throw new IllegalArgumentException("no block at " + Long.toHexString(paddr));
        }

        GuestDump dump() {
            return new GuestDump(new GuestMemory(CoreFile.open(path), blocks), GuestPlatform.X86_64, Optional.empty(),
                    Optional.empty(), Vcpus.none("none"), "sparse test core");
        }
    }

    /** Compressible, non-zero bytes that differ per page. */
    static byte[] text(int len, long seed) {
        byte[] b = new byte[len];
        byte[] line = ("VMDUMPFS-SPARSE-" + seed + "-0123456789abcdef\n").getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < len; i++) {
            b[i] = line[(i + (int) (i / PAGE * seed)) % line.length];
        }
        return b;
    }

    /** Returns the bytes this process has read so far (Linux /proc/self/io rchar), or -1 without it. */
    static long bytesRead() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/io"))) {
                if (l.startsWith("rchar:")) {
                    return Long.parseLong(l.substring(6).strip());
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
    }

    static byte[] readAll(KdumpView v) {
        return KdumpViewTest.readAll(v, 1 << 20);
    }

    @Test
    void build_sparseCore_readsHolesNeverAndZeroPagesOnce() throws Exception {
        // 224 MiB of guest RAM: 32 MiB written zeros, 3 MiB + 16 pages of data, the rest holes
        SparseCore core = new SparseCore(tmp.resolve("core"), 256 * MiB)
                .block(0, 128 * MiB, MiB, "pc.ram")
                .block(4 * GiB, 96 * MiB, 130 * MiB, "pc.ram@4G");
        core.write(MiB, text((int) MiB, 1));
        core.write(16 * MiB, new byte[(int) (32 * MiB)]);           // data on disk, but zero pages
        for (int k = 0; k < 16; k++) {
            core.write(100 * MiB + k * 8 * KiB, text(PAGE, 100 + k)); // scattered single pages
        }
        core.write(4 * GiB + 94 * MiB, text((int) (2 * MiB), 2));   // the last 2 MiB
        try (GuestDump dump = core.dump()) {
            assertTrue(dump.memory().isHole(50 * MiB, 40 * MiB), "the file system keeps holes");
            FormatContext ctx = new FormatContext(ChunkCache.NONE, IndexRepository.NONE, 2);
            KdumpView zlib = (KdumpView) DumpFormat.KDUMP_ZLIB.open(dump, ctx);
            KdumpView lzo = (KdumpView) DumpFormat.KDUMP_LZO.open(dump, ctx);
            long r0 = bytesRead();
            zlib.size();
            long r1 = bytesRead();
            lzo.size();
            long r2 = bytesRead();
            if (r0 >= 0) {
                long data = 3 * MiB + 16 * PAGE;
                assertTrue(r1 - r0 >= 32 * MiB + data, "the first build reads the written zeros: " + (r1 - r0));
                assertTrue(r1 - r0 < 32 * MiB + data + 4 * MiB, "but not the 189 MiB of holes: " + (r1 - r0));
                assertTrue(r2 - r1 < data + MiB, "the second reads only the pages with data: " + (r2 - r1));
            }
            PageSet stored = zlib.layout().index().stored();
            assertEquals(3 * 256 + 16, stored.count(), "pages with data");
            assertEquals(stored, lzo.layout().index().stored(), "one classification for both");
            assertEquals(1 + 1 + 2, stored.slots(), "chunks with data: the 1 MiB, the 16 pages, the 2 MiB");
            byte[] notes = DumpNotes.kdump(dump);
            long ts = Files.getLastModifiedTime(core.path).toMillis() / 1000;
            assertArrayEquals(ReferenceKdumpWriter.write(dump, KdumpCodec.ZLIB, notes, ts), readAll(zlib));
            assertArrayEquals(ReferenceKdumpWriter.write(dump, KdumpCodec.LZO, notes, ts), readAll(lzo));
        }
    }

    @Test
    void load_persistedIndex_teachesTheOtherCodecsWhichPagesHoldData() throws Exception {
        SparseCore core = new SparseCore(tmp.resolve("core"), 64 * MiB).block(0, 60 * MiB, MiB, "pc.ram");
        core.write(0, new byte[(int) (40 * MiB)]);
        core.write(50 * MiB, text((int) MiB, 5));
        MemoryIndexRepository indexes = new MemoryIndexRepository();
        try (GuestDump dump = core.dump()) {
            DumpFormat.KDUMP_ZSTD.open(dump, new FormatContext(ChunkCache.NONE, indexes, 2)).size();
        }
        try (GuestDump dump = core.dump()) { // a remount: a new context, the zstd index persisted
            FormatContext ctx = new FormatContext(ChunkCache.NONE, indexes, 2);
            DumpFormat.KDUMP_ZSTD.open(dump, ctx).size();
            assertEquals(1, indexes.hits.get(), "loaded");
            long r0 = bytesRead();
            KdumpView snappy = (KdumpView) DumpFormat.KDUMP_SNAPPY.open(dump, ctx);
            snappy.size();
            long r1 = bytesRead();
            if (r0 >= 0) {
                assertTrue(r1 - r0 < 2 * MiB, "the 40 MiB of zeros are not read again: " + (r1 - r0));
            }
            byte[] notes = DumpNotes.kdump(dump);
            long ts = Files.getLastModifiedTime(core.path).toMillis() / 1000;
            assertArrayEquals(ReferenceKdumpWriter.write(dump, KdumpCodec.SNAPPY, notes, ts), readAll(snappy));
        }
    }

    @Test
    void size_oneTebibyteGuestHoldingFewMebibytes_tinyIndexes() throws Exception {
        // 1 TiB of guest RAM (below 3 GiB and from 4 GiB on, as q35 lays it out) in a 1 TiB sparse core
        long low = 3 * GiB;
        long high = (1L << 40) - low;
        SparseCore core = new SparseCore(tmp.resolve("core"), (1L << 40) + 2 * MiB)
                .block(0, low, MiB, "pc.ram")
                .block(4 * GiB, high, MiB + low, "pc.ram@4G");
        byte[] a = text((int) MiB, 7);
        byte[] b = text(PAGE, 8);
        long bAt = 4 * GiB + 500 * GiB + 12 * PAGE;
        core.write(MiB, a);
        core.write(bAt, b);
        core.write(4 * GiB + high - PAGE, text(PAGE, 9)); // the very last page
        try (GuestDump dump = core.dump()) {
            FormatContext ctx = new FormatContext(ChunkCache.NONE, IndexRepository.NONE, 2);
            List<KdumpView> views = new ArrayList<>();
            for (DumpFormat f : List.of(DumpFormat.KDUMP_ZLIB, DumpFormat.KDUMP_LZO, DumpFormat.KDUMP_SNAPPY,
                    DumpFormat.KDUMP_ZSTD)) {
                KdumpView v = (KdumpView) f.open(dump, ctx);
                views.add(v);
                KdumpIndex idx = v.layout().index();
                assertEquals(1 << 28, idx.pageCount(), "every page of 1 TiB is present");
                assertEquals(256 + 2, idx.stored().count());
                assertTrue(idx.heapBytes() < 4096, f.fileName() + " index: " + idx.heapBytes() + " bytes");
                // descriptors of 2^28 pages and the stored pages' data
                assertTrue(v.size() > 24L << 28, "size " + v.size());
            }
            // the page at bAt, through its descriptor, decompresses to what was written
            KdumpView zlib = views.get(0);
            KdumpLayout l = zlib.layout();
            long page = l.geometry().pages().pageOf(bAt / PAGE);
            ByteBuffer d = ByteBuffer.allocate(PageDesc.SIZE).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(PageDesc.SIZE, zlib.read(l.geometry().offsetDesc() + PageDesc.SIZE * page, d));
            PageDesc pd = PageDesc.parse(d, 0);
            assertEquals(KdumpCodec.ZLIB.flag, pd.flags());
            byte[] stored = new byte[pd.size()];
            zlib.read(pd.offset(), ByteBuffer.wrap(stored));
            Inflater inf = new Inflater();
            inf.setInput(stored);
            byte[] back = new byte[PAGE];
            assertEquals(PAGE, inf.inflate(back));
            assertArrayEquals(b, back);
            // a page in a hole: the shared zero page
            d.clear();
            zlib.read(l.geometry().offsetDesc() + PageDesc.SIZE * (page + 1), d);
            assertEquals(l.offsetZeroPage(), PageDesc.parse(d, 0).offset());
            // the first bitmap has every pfn below 3 GiB
            byte[] bm = new byte[16];
            zlib.read(l.geometry().offsetBitmap1(), ByteBuffer.wrap(bm));
            assertArrayEquals(filled(16), bm);
        }
    }

    private static byte[] filled(int n) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) 0xff);
        return b;
    }

    /**
     * Filtered files (makedumpfile's dump_level) will leave present pages out of the dump: their bit in the second
     * bitmap is clear and they have no descriptor. The layout already follows the index's dumped set; this index
     * leaves out every third page.
     */
    @Test
    void layout_pagesPresentButNotDumped_clearInBitmap2AndWithoutDescriptor() throws Exception {
        try (SyntheticGuest g = SyntheticGuest.builder(tmp).blocks(KdumpViewTest.BLOCKS).seed(3).build()) {
            KdumpView v = KdumpView.open(g.dump(), FormatContext.uncached(), KdumpCodec.ZSTD);
            KdumpLayout full = v.layout();
            KdumpIndex idx = full.index();
            DumpedPages present = full.geometry().pages();
            int n = idx.pageCount();
            // dumped: every page but each third; stored: those of the stored that are dumped, same sizes
            java.util.BitSet dumpedBits = new java.util.BitSet();
            java.util.BitSet storedBits = new java.util.BitSet();
            List<Character> sizes = new ArrayList<>();
            for (int p = 0; p < n; p++) {
                if (p % 3 == 2) {
                    continue;
                }
                dumpedBits.set(p);
                if (idx.stored().contains(p)) {
                    storedBits.set(p);
                    sizes.add((char) idx.storedSize(p));
                }
            }
            char[] s = new char[sizes.size()];
            for (int i = 0; i < s.length; i++) {
                s[i] = sizes.get(i);
            }
            KdumpIndex filtered = new KdumpIndex(PAGE, PageSetTest.of(dumpedBits, n), PageSetTest.of(storedBits, n), s);
            KdumpLayout l = new KdumpLayout(full.geometry(), filtered, c -> {
                try (ChunkCompressor cc = new ChunkCompressor(present, KdumpCodec.ZSTD)) {
                    long[] mask = new long[PageSet.WORDS];
                    filtered.stored().chunkMask(c, mask);
                    return ByteBuffer.wrap(cc.compress(c, mask, false));
                }
            });
            byte[] file = new byte[(int) l.size()];
            ByteBuffer dst = ByteBuffer.wrap(file);
            for (long pos = 0; dst.hasRemaining(); ) {
                ByteBuffer part = dst.slice(dst.position(), Math.min(dst.remaining(), 100_000));
                int k = l.read(pos, part);
                dst.position(dst.position() + k);
                pos += k;
            }
            KdumpReader r = new KdumpReader(file);
            int descriptor = 0;
            byte[] want = new byte[PAGE];
            for (int p = 0; p < n; p++) {
                long pfn = present.pfnOf(p);
                assertTrue(r.inBitmap1(pfn), "present: pfn " + pfn);
                assertEquals(p % 3 != 2, r.inBitmap2(pfn), "dumped: pfn " + pfn);
                if (p % 3 == 2) {
                    continue;
                }
                ReferenceKdumpWriter.pageAt(g.dump(), pfn * PAGE, want);
                assertArrayEquals(want, r.page(r.desc(descriptor++)), "pfn " + pfn);
            }
            assertEquals(r.descOffset + (long) PageDesc.SIZE * descriptor + PAGE, l.offsetPageData(),
                    "one descriptor per dumped page, then the zero page");
            assertFalse(dumpedBits.cardinality() == n);
        }
    }
}

package io.vmdumpfs.core.format.kdump;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.IndexRepository;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.kernel.PageClass;
import io.vmdumpfs.core.kernel.PageFlags;
import io.vmdumpfs.core.testing.SyntheticFlatMem;
import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticMemMap;
import io.vmdumpfs.core.testing.SyntheticMemMap.Layout;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Filtered kdump files of a synthetic guest whose struct pages hold one page of each class makedumpfile tells apart:
 * the sub-header's dump_level, the first bitmap (every page present, as unfiltered), the second (exactly the pages
 * the level keeps), each dumped page's bytes, the per-class counts of {@code info --dump-level}, and the refusal of a
 * level whose VMCOREINFO entry is missing.
 */
class FilteredKdumpTest {

    static final long LRU = 1L << 4;
    static final long PRIVATE = 1L << 13;
    static final long HEAD = 1L << 16;
    static final long FILE_MAPPING = 0xffff_9e00_0123_4560L;
    static final long ANON_MAPPING = 0xffff_9e00_0765_4321L;
    static final long RAM_PAGES = SyntheticMemMap.RAM / 4096;
    static final long BIOS_PFN = SyntheticMemMap.BIOS / 4096;

    /** The pages the guest's struct pages put in each class. */
    static final Map<PageClass, long[][]> CLASSES = Map.of(
            PageClass.FREE, new long[][] {{0x100, 0x108}, {0x140, 0x141}},
            PageClass.CACHE, new long[][] {{0x200, 0x201}, {0x600, 0x604}},
            PageClass.CACHE_PRIVATE, new long[][] {{0x201, 0x202}},
            PageClass.USER, new long[][] {{0x202, 0x203}, {0x400, 0x404}, {0x500, 0x504}},
            PageClass.NO_MEM_MAP, new long[][] {{BIOS_PFN, BIOS_PFN + 64}});

    @TempDir
    Path tmp;

    private SyntheticGuest guest;

    @AfterEach
    void tearDown() throws Exception {
        if (guest != null) {
            guest.close();
        }
    }

    private static void page(ByteBuffer b, long pfn, long flags, long mapping) {
        b.putLong((int) pfn * 64, flags);
        b.putLong((int) pfn * 64 + 24, mapping);
    }

    private static void compound(ByteBuffer b, long head, int order, long flags, long mapping, int dtor) {
        page(b, head, flags | HEAD, mapping);
        for (long t = head + 1; t < head + (1L << order); t++) {
            b.putLong((int) t * 64 + 8, SyntheticMemMap.structPage(head) | 1);
        }
        b.put((int) (head + 1) * 64 + 16, (byte) dtor);
        b.put((int) (head + 1) * 64 + 17, (byte) order);
    }

    private SyntheticGuest build(String extraVmcoreinfo) {
        SyntheticMemMap m = new SyntheticMemMap(tmp, Layout.EXTREME, true, true, true, true);
        ByteBuffer b = m.pages();
        b.putInt(0x100 * 64 + 48, -129); // a free block of order 3
        b.putLong(0x100 * 64 + 40, 3);
        b.putInt(0x140 * 64 + 48, -129); // and one of order 0
        page(b, 0x200, LRU, FILE_MAPPING);
        page(b, 0x201, LRU | PRIVATE, FILE_MAPPING);
        page(b, 0x202, LRU, ANON_MAPPING);
        compound(b, 0x400, 2, LRU, ANON_MAPPING, 3); // a transparent huge page
        compound(b, 0x500, 2, 0, FILE_MAPPING, 2); // a hugetlbfs page
        compound(b, 0x600, 2, LRU, FILE_MAPPING, 1); // a large folio of a file
        guest = m.build(extraVmcoreinfo);
        return guest;
    }

    private static FormatContext ctx(int level) {
        return new FormatContext(ChunkCache.NONE, IndexRepository.NONE, 2, new DumpLevel(level));
    }

    /** Returns the pfns {@code level} leaves out by {@link #CLASSES}. */
    private static BitSet excluded(int level) {
        BitSet out = new BitSet();
        CLASSES.forEach((c, ranges) -> {
            if (c == PageClass.NO_MEM_MAP ? level != 0 : (level & c.dumpLevelBit()) != 0) {
                for (long[] r : ranges) {
                    out.set((int) r[0], (int) r[1]);
                }
            }
        });
        if ((level & PageFlags.DL_EXCLUDE_CACHE_PRI) != 0) { // bit 4 leaves out every cache page
            for (long[] r : CLASSES.get(PageClass.CACHE)) {
                out.set((int) r[0], (int) r[1]);
            }
        }
        return out;
    }

    private static boolean present(long pfn) {
        return pfn < RAM_PAGES || pfn >= BIOS_PFN && pfn < BIOS_PFN + 64;
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 4, 8, 16, 31})
    void kdumpFile_dumpLevel_headerAndBitmapsSayWhatIsLeftOut(int level) {
        build("");
        byte[] file = KdumpViewTest.readAll(KdumpView.open(guest.dump(), ctx(level), KdumpCodec.ZLIB), 1 << 20);
        KdumpReader r = new KdumpReader(file);
        assertEquals(level, r.sub.dumpLevel(), "the sub-header's dump_level");
        BitSet out = excluded(level);
        List<String> wrong = new ArrayList<>();
        int desc = 0;
        ByteBuffer want = ByteBuffer.allocate(4096);
        for (long pfn = 0; pfn < r.maxMapnr; pfn++) {
            if (r.inBitmap1(pfn) != present(pfn)) {
                wrong.add("bitmap 1, pfn 0x" + Long.toHexString(pfn));
            }
            boolean dumped = present(pfn) && !out.get((int) pfn);
            if (r.inBitmap2(pfn) != dumped) {
                wrong.add("bitmap 2, pfn 0x" + Long.toHexString(pfn));
            }
            if (r.inBitmap2(pfn)) {
                guest.dump().memory().read(pfn * 4096, want.clear());
                if (!java.util.Arrays.equals(want.array(), r.page(r.desc(desc)))) {
                    wrong.add("bytes of pfn 0x" + Long.toHexString(pfn));
                }
                desc++;
            }
        }
        assertEquals(List.of(), wrong.subList(0, Math.min(20, wrong.size())), "dump level " + level);
        assertEquals(BIOS_PFN + 64, r.maxMapnr, "max_mapnr stays the unfiltered file's");
    }

    @Test
    void kdumpFile_zeroPagesAtLevel1_keptInBitmap2AsTheSharedZeroPage() {
        build("");
        byte[] file = KdumpViewTest.readAll(KdumpView.open(guest.dump(), ctx(1), KdumpCodec.ZLIB), 1 << 20);
        KdumpReader r = new KdumpReader(file);
        int desc = 0;
        int zero = 0;
        long zeroOffset = -1;
        for (long pfn = 0; pfn < RAM_PAGES; pfn++) {
            assertTrue(r.inBitmap2(pfn));
            if (guest.pageKind(pfn) == SyntheticGuest.PageKind.ZERO && pfn >= 0x2000 / 4096 && pfn < 0x800) {
                PageDesc pd = r.desc(desc);
                assertTrue(zeroOffset < 0 || zeroOffset == pd.offset(), "one shared zero page");
                zeroOffset = pd.offset();
                assertArrayEquals(new byte[4096], r.page(pd));
                zero++;
            }
            desc++;
        }
        assertTrue(zero > 100, zero + " zero pages");
    }

    @Test
    void describeDumpLevel_countsPerClass() {
        build("");
        Map<String, String> m = KdumpView.describeDumpLevel(guest.dump(), ctx(31));
        assertEquals("31 (zero pages, non-private cache, private cache, user data, free pages)", m.get("dump level"));
        assertEquals("9 (0.0 MiB)", m.get("  free pages"));
        assertEquals("5 (0.0 MiB)", m.get("  non-private cache"));
        assertEquals("1 (0.0 MiB)", m.get("  private cache"));
        assertEquals("9 (0.0 MiB)", m.get("  user data"));
        assertEquals("64 (0.3 MiB)", m.get("  above the kernel's memory map"));
        assertEquals("0 (0.0 MiB)", m.get("  hwpoison"));
        assertEquals((9 + 5 + 1 + 9 + 64) + " (0.3 MiB)", m.get("pages left out"));
        assertTrue(m.get("memory map").startsWith("SPARSEMEM_EXTREME"), m.toString());

        Map<String, String> m8 = KdumpView.describeDumpLevel(guest.dump(), ctx(8));
        assertEquals("0 (0.0 MiB)", m8.get("  free pages"));
        assertEquals("9 (0.0 MiB)", m8.get("  user data"));
    }

    @Test
    void open_levelWithoutItsVmcoreinfoEntry_refusedNamingIt() {
        // a kernel without PG_lru in VMCOREINFO: cache pages cannot be told, user data and free pages can
        guest = new SyntheticMemMap(tmp, Layout.EXTREME, true, true, true, true).omit("NUMBER(PG_lru)=4").build("");
        SyntheticGuest g = guest;
        BadCoreException e = assertThrows(BadCoreException.class,
                () -> KdumpView.open(g.dump(), ctx(2), KdumpCodec.ZLIB));
        assertTrue(e.getMessage().contains("dump_level 2"), e.getMessage());
        assertTrue(e.getMessage().contains("VMCOREINFO has no NUMBER(PG_lru)"), e.getMessage());
        assertEquals(BadCoreException.Kind.UNSUPPORTED, e.kind());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        KdumpView.open(g.dump(), ctx(8 | 16), KdumpCodec.ZLIB); // these levels need no PG_lru
    }

    @Test
    void parse_dumpLevels() {
        assertEquals(new DumpLevel(31), DumpLevel.parse("31"));
        assertEquals(new DumpLevel(0), DumpLevel.parse(" 0 "));
        assertEquals(new DumpLevel(17), DumpLevel.parse("17"));
        for (String bad : new String[] {"32", "-1", "", "0x1f", "1.5", "abc", "100"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DumpLevel.parse(bad));
            assertTrue(e.getMessage().contains("not a number from 0 to 31"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new DumpLevel(32));
        assertTrue(new DumpLevel(6).excludes(PageClass.CACHE_PRIVATE));
        assertFalse(new DumpLevel(6).excludes(PageClass.USER));
        assertFalse(new DumpLevel(31).excludes(PageClass.HWPOISON), "no bit chooses hwpoison: always");
        assertEquals("0 (none)", DumpLevel.NONE.describe());
        assertEquals("17 (zero pages, free pages)", new DumpLevel(17).describe());
    }

    // ------------------------------------------------------------------ i386: FLATMEM, 4-byte words

    /** An i386 FLATMEM guest with a page of each class (4-byte words in 40-byte struct pages). */
    private SyntheticGuest buildFlat() {
        SyntheticFlatMem m = new SyntheticFlatMem(tmp);
        ByteBuffer b = m.pages();
        int size = SyntheticFlatMem.STRUCT_PAGE;
        b.putInt(0x100 * size + 24, -129); // a free block of order 3
        b.putInt(0x100 * size + 20, 3);
        b.putInt(0x200 * size, (int) LRU); // page cache
        b.putInt(0x200 * size + 12, 0xc1234560);
        b.putInt(0x201 * size, (int) (LRU | PRIVATE)); // with buffer heads
        b.putInt(0x201 * size + 12, 0xc1234560);
        b.putInt(0x202 * size, (int) LRU); // anonymous
        b.putInt(0x202 * size + 12, 0xc7654321);
        b.putInt(0x400 * size, (int) (LRU | HEAD)); // an anonymous compound page of order 2
        b.putInt(0x400 * size + 12, 0xc7654321);
        for (long t = 0x401; t < 0x404; t++) {
            b.putInt((int) t * size + 4, (int) (SyntheticFlatMem.structPage(0x400) | 1));
        }
        b.put(0x401 * size + 9, (byte) 2);
        // pfn 0 (before node 0's span) looks free: its struct page is not judged
        b.putInt(24, -129);
        guest = m.build("");
        return guest;
    }

    @Test
    void describeDumpLevel_i386Flatmem_countsPerClass() {
        buildFlat();
        Map<String, String> m = KdumpView.describeDumpLevel(guest.dump(), ctx(31));
        assertTrue(m.get("memory map").startsWith("FLATMEM through SYMBOL(mem_map)"), m.toString());
        assertEquals("8 (0.0 MiB)", m.get("  free pages"));
        assertEquals("1 (0.0 MiB)", m.get("  non-private cache"));
        assertEquals("1 (0.0 MiB)", m.get("  private cache"));
        assertEquals("5 (0.0 MiB)", m.get("  user data"));
        assertEquals("0 (0.0 MiB)", m.get("  above the kernel's memory map"), "FLATMEM: the BIOS ROM is kept");
        assertEquals("15 (0.1 MiB)", m.get("pages left out"));
    }

    @Test
    void kdumpFile_i386Flatmem_bitmap2LeavesOutTheClasses() {
        buildFlat();
        byte[] file = KdumpViewTest.readAll(KdumpView.open(guest.dump(), ctx(31), KdumpCodec.ZLIB), 1 << 20);
        KdumpReader r = new KdumpReader(file);
        assertEquals(31, r.sub.dumpLevel());
        BitSet out = new BitSet();
        out.set(0x100, 0x108);
        out.set(0x200, 0x203);
        out.set(0x400, 0x404);
        List<String> wrong = new ArrayList<>();
        for (long pfn = 0; pfn < r.maxMapnr; pfn++) {
            boolean present = pfn < RAM_PAGES || pfn >= BIOS_PFN && pfn < BIOS_PFN + 64;
            if (r.inBitmap2(pfn) != (present && !out.get((int) pfn))) {
                wrong.add("bitmap 2, pfn 0x" + Long.toHexString(pfn));
            }
        }
        assertEquals(List.of(), wrong.subList(0, Math.min(20, wrong.size())));
    }
}

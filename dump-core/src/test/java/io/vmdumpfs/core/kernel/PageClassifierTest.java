package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.testing.SyntheticFlatMem;
import io.vmdumpfs.core.testing.SyntheticMemMap;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.Test;

/**
 * makedumpfile's page rules on synthetic {@code struct page} arrays laid out as Debian's 6.1 x86_64 kernel describes
 * them in its VMCOREINFO (SIZE(page) 64; flags at 0, compound_head 8, compound_dtor 16, compound_order 17, mapping 24,
 * private 40, _mapcount 48): one rule per test, each at the levels that take the page and at a level that does not.
 */
class PageClassifierTest {

    /**
     * What Debian's 6.1.0-57-cloud-amd64 puts into VMCOREINFO about struct page (copied from a fixture): the
     * synthetic memory map's entries, with the kernel's release, page size and list_head.
     */
    static final String VMCI_6_1 = """
            OSRELEASE=6.1.0-57-cloud-amd64
            PAGESIZE=4096
            OFFSET(list_head.next)=0
            OFFSET(list_head.prev)=8
            """ + SyntheticMemMap.STRUCT_PAGE_INFO;

    static final long LRU = 1L << 4;
    static final long PRIVATE = 1L << 13;
    static final long SWAPCACHE = 1L << 10;
    static final long SWAPBACKED = 1L << 19;
    static final long SLAB = 1L << 9;
    static final long HEAD = 1L << 16;
    static final long HWPOISON = 1L << 22;
    /** An address_space (even) and an anon_vma (bit 0 set). */
    static final long FILE_MAPPING = 0xffff_8880_0123_4560L;
    static final long ANON_MAPPING = 0xffff_8880_0765_4321L;
    static final long VMEMMAP = 0xffff_ea00_0000_0000L;
    static final int SIZE = 64;

    /** A struct page array of {@code pfns} zeroed pages (plain kernel pages: never left out). */
    static final class Pages {
        final ByteBuffer b;

        Pages(int pfns) {
            b = ByteBuffer.allocate(pfns * SIZE).order(ByteOrder.LITTLE_ENDIAN);
        }

        Pages page(long pfn, long flags, long mapping) {
            b.putLong((int) pfn * SIZE, flags);
            b.putLong((int) pfn * SIZE + 24, mapping);
            return this;
        }

        Pages mapcount(long pfn, int v) {
            b.putInt((int) pfn * SIZE + 48, v);
            return this;
        }

        Pages privateField(long pfn, long v) {
            b.putLong((int) pfn * SIZE + 40, v);
            return this;
        }

        /** Makes {@code [head, head + 2^order)} a compound page: the head's flags, tails pointing at it. */
        Pages compound(long head, int order, long flags, long mapping, int dtor) {
            page(head, flags | HEAD, mapping);
            for (long t = head + 1; t < head + (1L << order); t++) {
                b.putLong((int) t * SIZE + 8, (VMEMMAP + head * SIZE) | 1);
                b.putLong((int) t * SIZE + 24, 0x400); // TAIL_MAPPING: poison, never an anon_vma
            }
            b.put((int) (head + 1) * SIZE + 16, (byte) dtor);
            b.put((int) (head + 1) * SIZE + 17, (byte) order);
            return this;
        }

        PageClassifier.StructPages source() {
            return (first, count, dst) -> dst.put(b.slice((int) first * SIZE, count * SIZE));
        }
    }

    record Excluded(long start, long end, PageClass why) {
        @Override
        public String toString() {
            return "[" + start + ", " + end + ") " + why;
        }
    }

    static PageFlags flags(String extra) {
        return PageFlags.of(VmcoreInfoTable.parse(VMCI_6_1 + extra), 8);
    }

    static List<Excluded> classify(Pages p, int level) {
        return classify(flags(""), p, level, pfn -> true);
    }

    static List<Excluded> classify(PageFlags f, Pages p, int level, LongPredicate inDump) {
        List<Excluded> out = new ArrayList<>();
        int pfns = p.b.capacity() / SIZE;
        new PageClassifier(f, level, ByteOrder.LITTLE_ENDIAN).classify(0, pfns, inDump, p.source(),
                (s, e, why) -> out.add(new Excluded(s, e, why)));
        return out;
    }

    static List<Excluded> one(long start, long end, PageClass why) {
        return List.of(new Excluded(start, end, why));
    }

    @Test
    void classify_kernelPages_keptAtEveryLevel() {
        Pages p = new Pages(64).page(3, 0, 0).page(4, SLAB, 0).page(5, 1L << 2 /* PG_referenced */, FILE_MAPPING);
        assertEquals(List.of(), classify(p, 31));
    }

    @Test
    void classify_lruFilePage_cacheAtLevels2And4_notAt8Or16() {
        Pages p = new Pages(64).page(7, LRU, FILE_MAPPING);
        assertEquals(one(7, 8, PageClass.CACHE), classify(p, 2));
        assertEquals(one(7, 8, PageClass.CACHE), classify(p, 4), "bit 4 leaves out all cache, counted as non-private");
        assertEquals(List.of(), classify(p, 8 | 16 | 1));
    }

    @Test
    void classify_privateCachePage_onlyAtLevel4_asPrivateCache() {
        Pages p = new Pages(64).page(9, LRU | PRIVATE, FILE_MAPPING);
        assertEquals(List.of(), classify(p, 2), "buffer heads: bit 2 keeps them");
        assertEquals(one(9, 10, PageClass.CACHE_PRIVATE), classify(p, 4));
        assertEquals(one(9, 10, PageClass.CACHE_PRIVATE), classify(p, 31));
    }

    @Test
    void classify_anonymousPage_userAtLevel8_neverCache() {
        Pages p = new Pages(64).page(11, LRU | SWAPBACKED, ANON_MAPPING);
        assertEquals(List.of(), classify(p, 2 | 4 | 16));
        assertEquals(one(11, 12, PageClass.USER), classify(p, 8));
    }

    @Test
    void classify_tmpfsPage_isCache() {
        // shmem: on an LRU list, swap-backed, its mapping the file's address_space
        Pages p = new Pages(64).page(12, LRU | SWAPBACKED, FILE_MAPPING);
        assertEquals(one(12, 13, PageClass.CACHE), classify(p, 2));
        assertEquals(List.of(), classify(p, 8));
    }

    @Test
    void classify_swapCache_cacheOnlyWhenSwapBacked() {
        Pages p = new Pages(64).page(13, SWAPCACHE | SWAPBACKED, FILE_MAPPING).page(14, SWAPCACHE, FILE_MAPPING);
        // PG_swapcache is PG_owner_priv_1, which file systems use for other things: it counts with PG_swapbacked
        assertEquals(one(13, 14, PageClass.CACHE), classify(p, 2));
        // an anonymous page in the swap cache is the user's, not cache
        p.page(13, SWAPCACHE | SWAPBACKED, ANON_MAPPING);
        assertEquals(List.of(), classify(p, 2 | 4));
        assertEquals(one(13, 14, PageClass.USER), classify(p, 8));
    }

    @Test
    void classify_buddyPage_freeWithItsWholeBlock() {
        Pages p = new Pages(64).mapcount(8, -129).privateField(8, 3)
                .page(9, LRU, ANON_MAPPING); // stale struct page inside the block: not judged again
        assertEquals(one(8, 16, PageClass.FREE), classify(p, 16));
        assertEquals(one(8, 16, PageClass.FREE), classify(p, 31));
        assertEquals(one(9, 10, PageClass.USER), classify(p, 8), "without bit 16 the block's pages are judged");
    }

    @Test
    void classify_buddyOrderBeyondFreeArea_keptAsMakedumpfileWarns() {
        Pages p = new Pages(64).mapcount(0, -129).privateField(0, 11).mapcount(32, -129).privateField(32, 10);
        List<Excluded> got = classify(p, 16);
        assertEquals(1, got.size(), got.toString());
        assertEquals(new Excluded(32, 32 + 1024, PageClass.FREE), got.get(0), "order 10 is valid, 11 is not");
    }

    @Test
    void classify_slabPageWithOddMapping_notUser_notFree() {
        // a slab page's mapping word may have bit 0 set (not an anon_vma), and its _mapcount word is slab data
        Pages p = new Pages(64).page(20, SLAB, ANON_MAPPING).page(21, SLAB, 0).mapcount(21, -129);
        assertEquals(List.of(), classify(flags("NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)=-513\n"), p, 31, pfn -> true)
                .stream().filter(e -> e.start() == 21).toList(), "PG_slab: never a buddy page");
        // makedumpfile 1.7 takes PG_slab into isAnon() only through isSlab(): the page is kept
        assertFalse(classify(p, 8).contains(new Excluded(20, 21, PageClass.USER)));
        // since 6.10 a slab page is a _mapcount type
        Pages typed = new Pages(64).page(22, 0, ANON_MAPPING).mapcount(22, -513);
        assertEquals(List.of(), classify(flags("NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)=-513\n"), typed, 8, pfn -> true));
        assertEquals(one(22, 23, PageClass.USER), classify(typed, 8), "without the type it looks anonymous");
    }

    @Test
    void classify_transparentHugePage_userWithItsTails() {
        Pages p = new Pages(64).compound(32, 3, LRU | SWAPBACKED, ANON_MAPPING, 3 /* TRANSHUGE_PAGE_DTOR */);
        assertEquals(one(32, 40, PageClass.USER), classify(p, 8));
        assertEquals(List.of(), classify(p, 2 | 4 | 16));
    }

    @Test
    void classify_fileHugePage_cacheWithItsTails() {
        Pages p = new Pages(64).compound(16, 2, LRU, FILE_MAPPING, 1 /* COMPOUND_PAGE_DTOR */);
        assertEquals(one(16, 20, PageClass.CACHE), classify(p, 2));
    }

    @Test
    void classify_hugetlbfsPage_userByItsDestructor() {
        // a hugetlbfs page is on no LRU list and its mapping is the file's: only the destructor tells
        Pages p = new Pages(64).compound(8, 3, 0, FILE_MAPPING, 2 /* HUGETLB_PAGE_DTOR */)
                .compound(16, 3, 0, FILE_MAPPING, 1);
        assertEquals(one(8, 16, PageClass.USER), classify(p, 8));
        assertEquals(List.of(), classify(p, 2 | 4 | 16));
    }

    @Test
    void classify_hugetlbFolio69_userByItsMapcountType() {
        // 6.9 and later: the order is the first tail's flags' low byte, a hugetlb folio has a _mapcount type
        String v69 = "NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)=-1025\n";
        Pages p = new Pages(64).compound(8, 2, 0, FILE_MAPPING, 0).mapcount(8, -1025);
        p.b.putLong(9 * SIZE, 2); // folio._flags_1: order 2
        PageFlags f = PageFlags.of(VmcoreInfoTable.parse(VMCI_6_1.replace("6.1.0-57", "6.9.0-1") + v69), 8);
        assertEquals(one(8, 12, PageClass.USER), classify(f, p, 8, pfn -> true));
    }

    @Test
    void classify_tailWithoutItsHead_neverJudgedAlone() {
        Pages p = new Pages(64).compound(8, 2, 0, 0, 1); // a kernel compound page: kept
        p.page(9, LRU, ANON_MAPPING); // a tail that looks anonymous: it goes with its head
        p.b.putLong(9 * SIZE + 8, (VMEMMAP + 8 * SIZE) | 1);
        assertEquals(List.of(), classify(p, 31));
    }

    @Test
    void classify_headNotAlignedToItsOrder_takenAsOnePage() {
        Pages p = new Pages(64).compound(17, 2, LRU, ANON_MAPPING, 3);
        assertEquals(one(17, 18, PageClass.USER), classify(p, 8));
    }

    @Test
    void classify_hwpoisonAndOffline_leftOutAtEveryLevel() {
        PageFlags f = flags("NUMBER(PG_hwpoison)=22\n");
        Pages p = new Pages(64).page(5, HWPOISON, 0).page(6, 0, 0).mapcount(6, -257);
        assertTrue(f.scans(1), "with PG_hwpoison makedumpfile reads the struct pages at level 1 too");
        assertFalse(flags("").scans(1));
        assertEquals(List.of(new Excluded(5, 6, PageClass.HWPOISON), new Excluded(6, 7, PageClass.OFFLINE)),
                classify(f, p, 1, pfn -> true));
        // a free page's rule comes first: a hwpoisoned anonymous page is the user's at level 8
        p.page(5, HWPOISON, ANON_MAPPING);
        assertEquals(new Excluded(5, 6, PageClass.USER), classify(f, p, 8, pfn -> true).get(0));
    }

    @Test
    void classify_pagesNotInTheDump_skipped() {
        Pages p = new Pages(64).page(3, LRU, FILE_MAPPING).page(4, LRU, FILE_MAPPING);
        assertEquals(one(4, 5, PageClass.CACHE), classify(flags(""), p, 2, pfn -> pfn != 3));
    }

    @Test
    void classify_acrossReadWindows_readsEachStructPageOnce() {
        Pages p = new Pages(1300).page(511, LRU, FILE_MAPPING).page(512, LRU, FILE_MAPPING)
                .page(1299, LRU, FILE_MAPPING);
        List<long[]> reads = new ArrayList<>();
        List<Excluded> out = new ArrayList<>();
        PageClassifier.StructPages src = p.source();
        new PageClassifier(flags(""), 2, ByteOrder.LITTLE_ENDIAN).classify(0, 1300, pfn -> true, (f, n, dst) -> {
            reads.add(new long[] {f, n});
            src.read(f, n, dst);
        }, (s, e, why) -> out.add(new Excluded(s, e, why)));
        assertEquals(List.of(new Excluded(511, 512, PageClass.CACHE), new Excluded(512, 513, PageClass.CACHE),
                new Excluded(1299, 1300, PageClass.CACHE)), out);
        assertEquals(List.of("0+512", "512+512", "1024+276"),
                reads.stream().map(r -> r[0] + "+" + r[1]).toList(), "windows of 512 pfns, aligned");
    }

    @Test
    void testBit_makedumpfileIntMask_wrapsAt32() {
        assertTrue(PageFlags.testBit(4, 1L << 4));
        assertTrue(PageFlags.testBit(36, 1L << 4), "makedumpfile's 1 << (nr & 31)");
        assertFalse(PageFlags.testBit(4, 1L << 36));
    }

    @Test
    void kernelVersion_readsThreeNumbersLikeMakedumpfile() {
        assertEquals(PageFlags.version(6, 1, 0), PageFlags.kernelVersion("6.1.0-57-cloud-amd64"));
        assertEquals(PageFlags.version(4, 16, 3), PageFlags.kernelVersion("4.16.3"));
        assertEquals(PageFlags.version(6, 9, 0), PageFlags.kernelVersion("6.9-rc1"));
        assertEquals(0, PageFlags.kernelVersion("linux"));
        assertTrue(PageFlags.kernelVersion("4.15.18") < PageFlags.version(4, 16, 0));
    }

    @Test
    void require_namesTheMissingEntry_perLevel() {
        String noLru = VMCI_6_1.replace("NUMBER(PG_lru)=4\n", "");
        PageFlags f = PageFlags.of(VmcoreInfoTable.parse(noLru), 8);
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class, () -> f.require(2));
        assertEquals("VMCOREINFO has no NUMBER(PG_lru)", e.getMessage());
        f.require(8 | 16); // user data and free pages need no PG_lru
        assertThrows(KernelUnavailableException.class, () -> new PageClassifier(f, 31, ByteOrder.LITTLE_ENDIAN));

        PageFlags noBuddy = PageFlags.of(VmcoreInfoTable.parse(
                VMCI_6_1.replace("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n", "")), 8);
        noBuddy.require(15);
        assertEquals("VMCOREINFO has no NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)",
                assertThrows(KernelUnavailableException.class, () -> noBuddy.require(16)).getMessage());

        PageFlags noHead = PageFlags.of(VmcoreInfoTable.parse(VMCI_6_1.replace("NUMBER(PG_head_mask)=65536\n", "")), 8);
        assertEquals("VMCOREINFO has no NUMBER(PG_head_mask)",
                assertThrows(KernelUnavailableException.class, () -> noHead.require(8)).getMessage());

        PageFlags noPage = PageFlags.of(VmcoreInfoTable.parse("OSRELEASE=6.1.0\n"), 8);
        assertEquals("VMCOREINFO has no SIZE(page)",
                assertThrows(KernelUnavailableException.class, () -> noPage.require(1)).getMessage());
    }

    // ------------------------------------------------------------------ 32-bit kernels (i386 686-pae)

    /**
     * A struct page array in Debian 6.1 686-pae's layout (SIZE(page) 40; flags 0, compound_head 4, compound_dtor 8,
     * compound_order 9, mapping 12, private 20, _mapcount 24): 4-byte words.
     */
    static final class Pages32 {
        static final int SIZE32 = 40;
        static final long MEM_MAP = 0xcfc4_6000L;
        final ByteBuffer b;

        Pages32(int pfns) {
            b = ByteBuffer.allocate(pfns * SIZE32).order(ByteOrder.LITTLE_ENDIAN);
        }

        Pages32 page(long pfn, long flags, long mapping) {
            b.putInt((int) pfn * SIZE32, (int) flags);
            b.putInt((int) pfn * SIZE32 + 12, (int) mapping);
            return this;
        }

        /** A free block of {@code 2^order} pages: PAGE_BUDDY_MAPCOUNT_VALUE in _mapcount, the order in private. */
        Pages32 buddy(long pfn, int order) {
            b.putInt((int) pfn * SIZE32 + 24, -129);
            b.putInt((int) pfn * SIZE32 + 20, order);
            return this;
        }

        Pages32 compound(long head, int order, long flags, long mapping, int dtor) {
            page(head, flags | HEAD, mapping);
            for (long t = head + 1; t < head + (1L << order); t++) {
                b.putInt((int) t * SIZE32 + 4, (int) ((MEM_MAP + head * SIZE32) | 1));
                b.putInt((int) t * SIZE32 + 12, 0x400);
            }
            b.put((int) (head + 1) * SIZE32 + 8, (byte) dtor);
            b.put((int) (head + 1) * SIZE32 + 9, (byte) order);
            return this;
        }

        List<Excluded> classify(PageFlags f, int level) {
            List<Excluded> out = new ArrayList<>();
            new PageClassifier(f, level, ByteOrder.LITTLE_ENDIAN).classify(0, b.capacity() / SIZE32, pfn -> true,
                    (first, count, dst) -> dst.put(b.slice((int) first * SIZE32, count * SIZE32)),
                    (st, e, why) -> out.add(new Excluded(st, e, why)));
            return out;
        }
    }

    static PageFlags flags32() {
        return PageFlags.of(VmcoreInfoTable.parse("OSRELEASE=6.1.0-57-686-pae\nPAGESIZE=4096\n"
                + SyntheticFlatMem.STRUCT_PAGE_INFO), 4);
    }

    /** The i386 fixture's kind of pages, one of each class, in 4-byte words. */
    static Pages32 everyClass32() {
        return new Pages32(128)
                .buddy(8, 3) // free: 8 to 15
                .page(16, LRU, 0xc1234560L) // page cache
                .page(17, LRU | PRIVATE, 0xc1234560L) // page cache with buffer heads
                .page(18, LRU | SWAPBACKED, 0xc7654321L) // anonymous
                .page(19, SLAB, 0xc7654321L) // slab, its mapping word odd: kept
                .compound(32, 2, LRU | SWAPBACKED, 0xc7654321L, 3) // an anonymous compound page: 32 to 35
                .compound(40, 3, 0, 0xc1234560L, 2) // hugetlbfs: 40 to 47
                .page(50, 1L << 23, 0) // hwpoison (PG_hwpoison 23 on 686-pae)
                .page(51, 0, 0).buddy(64, 6); // free: 64 to 127
    }

    @Test
    void classify_32BitStructPages_eachClassAsOn64Bit() {
        PageFlags f = flags32();
        Pages32 p = everyClass32();
        p.b.putInt(51 * Pages32.SIZE32 + 24, -257); // offline
        assertEquals(List.of(new Excluded(8, 16, PageClass.FREE), new Excluded(16, 17, PageClass.CACHE),
                new Excluded(17, 18, PageClass.CACHE_PRIVATE), new Excluded(18, 19, PageClass.USER),
                new Excluded(32, 36, PageClass.USER), new Excluded(40, 48, PageClass.USER),
                new Excluded(50, 51, PageClass.HWPOISON), new Excluded(51, 52, PageClass.OFFLINE),
                new Excluded(64, 128, PageClass.FREE)), p.classify(f, 31));
        assertEquals(List.of(new Excluded(16, 17, PageClass.CACHE), new Excluded(50, 51, PageClass.HWPOISON),
                new Excluded(51, 52, PageClass.OFFLINE)), p.classify(f, 2));
        assertEquals(List.of(new Excluded(8, 16, PageClass.FREE), new Excluded(50, 51, PageClass.HWPOISON),
                new Excluded(51, 52, PageClass.OFFLINE), new Excluded(64, 128, PageClass.FREE)), p.classify(f, 16));
    }

    @Test
    void classify_32BitWordsReadAs64_wouldKeepFreePages() {
        // why the word size matters: read as 8 bytes, private (at 20) takes _mapcount (at 24) into its high half,
        // and a free page's order becomes invalid, so makedumpfile's rule keeps it
        Pages32 p = new Pages32(64).buddy(8, 3);
        assertEquals(List.of(new Excluded(8, 16, PageClass.FREE)), p.classify(flags32(), 16));
        PageFlags wrong = PageFlags.of(VmcoreInfoTable.parse("OSRELEASE=6.1.0-57-686-pae\nPAGESIZE=4096\n"
                + SyntheticFlatMem.STRUCT_PAGE_INFO), 8);
        assertEquals(List.of(), p.classify(wrong, 16));
    }

    @Test
    void require_32BitLayout_fieldsWithinSizePage() {
        flags32().require(31);
        PageFlags tooSmall = PageFlags.of(VmcoreInfoTable.parse("OSRELEASE=6.1.0-57-686-pae\nPAGESIZE=4096\n"
                + SyntheticFlatMem.STRUCT_PAGE_INFO.replace("OFFSET(page.private)=20", "OFFSET(page.private)=38")), 4);
        assertThrows(KernelUnavailableException.class, () -> tooSmall.require(16));
        assertThrows(IllegalArgumentException.class, () -> PageFlags.of(VmcoreInfoTable.parse(""), 2));
    }
}

package io.vmdumpfs.core.kernel;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * What VMCOREINFO says about the guest kernel's {@code struct page}: its size, where its fields are, which bit of
 * {@code page->flags} means what, and the {@code _mapcount} values that mark a page's type. With it a
 * {@code struct page} read from the guest (through {@link MemMap}) answers the questions makedumpfile's filtering
 * asks: is it on an LRU list, private, anonymous, a compound head, a free buddy page, and so on. Each predicate here
 * is the rule of makedumpfile (makedumpfile.h {@code isLRU}, {@code isPrivate}, {@code isAnon}, …; makedumpfile.c
 * {@code page_is_buddy_v3}, {@code isOffline}, {@code isSlab}, {@code isHugetlb}, {@code is_cache_page}), including
 * its quirks, since a filtered file must leave out exactly the pages makedumpfile leaves out.
 *
 * <p>Entries a kernel may lack are optional here, as they are in makedumpfile (a missing NUMBER(PG_hwpoison) means
 * "no page is hwpoison"); {@link #require} names what a dump level cannot do without. Field reads take one struct
 * page's bytes at a buffer position; the byte order is the buffer's. The {@code unsigned long} and pointer fields
 * (flags, mapping, private, compound_head) are as wide as the guest kernel's word: 4 bytes on i386 (read
 * zero-extended, as the 32-bit makedumpfile holds them in its 32-bit {@code unsigned long}), 8 on 64-bit kernels.
 * Immutable and thread-safe.
 */
public final class PageFlags {

    /** makedumpfile's PAGE_MAPPING_ANON: bit 0 of {@code page->mapping} marks an anon_vma, not an address_space. */
    static final long PAGE_MAPPING_ANON = 1;
    /** makedumpfile's IS_HUGETLB: the dtor it records for a hugetlb folio of 6.6 and later, which have no dtor. */
    static final long IS_HUGETLB = -1L;

    private final VmcoreInfoTable info;
    /** The guest kernel's {@code sizeof(unsigned long)}: 4 or 8. */
    final int wordBytes;
    final int kernelVersion;
    final int sizePage;
    final int offFlags;
    final int offMapping;
    final OptionalLong offMapcount;
    final OptionalLong offPrivate;
    final OptionalLong offCompoundHead;
    /** Where the next (first tail) page holds the compound order and destructor; 0 when unknown (makedumpfile). */
    final int compoundOrderOffset;
    final int compoundDtorOffset;
    final OptionalLong pgLru;
    final OptionalLong pgPrivate;
    final OptionalLong pgSwapcache;
    final OptionalLong pgSwapbacked;
    final OptionalLong pgSlab;
    final OptionalLong pgHeadMask;
    final OptionalLong pgHwpoison;
    final OptionalLong pgHugetlb;
    final OptionalLong buddyMapcount;
    final OptionalLong offlineMapcount;
    final OptionalLong slabMapcount;
    final OptionalLong hugetlbMapcount;
    final OptionalLong unacceptedMapcount;
    final OptionalLong hugetlbDtor;
    final OptionalLong freeHugePage;
    final OptionalLong freeAreaLength;

    private PageFlags(VmcoreInfoTable info, int wordBytes) {
        if (wordBytes != 4 && wordBytes != 8) {
            throw new IllegalArgumentException("word size " + wordBytes);
        }
        this.info = info;
        this.wordBytes = wordBytes;
        this.kernelVersion = kernelVersion(info.osRelease().orElse(""));
        this.sizePage = (int) info.size("page").orElse(0);
        this.offFlags = (int) info.offset("page.flags").orElse(-1);
        this.offMapping = (int) info.offset("page.mapping").orElse(-1);
        this.offMapcount = info.offset("page._mapcount");
        this.offPrivate = info.offset("page.private");
        this.offCompoundHead = info.offset("page.compound_head");
        // makedumpfile init_compound_offset(): the order and destructor live in the first tail page; since 6.3 as
        // folio fields (their offset in struct folio counts from the head page, hence minus SIZE(page))
        OptionalLong folioOrder = info.offset("folio._folio_order");
        OptionalLong folioDtor = info.offset("folio._folio_dtor");
        this.compoundOrderOffset = (int) (folioOrder.isPresent() ? folioOrder.getAsLong() - sizePage
                : info.offset("page.compound_order").orElse(kernelVersion < version(4, 4, 0)
                        ? info.offset("page.lru").orElse(0) + info.offset("list_head.prev").orElse(0) : 0));
        this.compoundDtorOffset = (int) (folioDtor.isPresent() ? folioDtor.getAsLong() - sizePage
                : info.offset("page.compound_dtor").orElse(kernelVersion < version(4, 4, 0)
                        ? info.offset("page.lru").orElse(0) + info.offset("list_head.next").orElse(0) : 0));
        this.pgLru = info.number("PG_lru");
        this.pgPrivate = info.number("PG_private");
        this.pgSwapcache = info.number("PG_swapcache");
        this.pgSwapbacked = info.number("PG_swapbacked");
        this.pgSlab = info.number("PG_slab");
        this.pgHeadMask = info.number("PG_head_mask");
        this.pgHwpoison = info.number("PG_hwpoison");
        this.pgHugetlb = info.number("PG_hugetlb");
        this.buddyMapcount = info.number("PAGE_BUDDY_MAPCOUNT_VALUE");
        this.offlineMapcount = info.number("PAGE_OFFLINE_MAPCOUNT_VALUE");
        this.slabMapcount = info.number("PAGE_SLAB_MAPCOUNT_VALUE");
        this.hugetlbMapcount = info.number("PAGE_HUGETLB_MAPCOUNT_VALUE");
        this.unacceptedMapcount = info.number("PAGE_UNACCEPTED_MAPCOUNT_VALUE");
        this.hugetlbDtor = info.number("HUGETLB_PAGE_DTOR");
        this.freeHugePage = info.symbol("free_huge_page");
        this.freeAreaLength = info.length("zone.free_area");
    }

    /**
     * Returns the layout VMCOREINFO describes for a kernel whose {@code unsigned long} is {@code wordBytes} bytes
     * ({@code GuestPlatform.wordBytes()}); nothing is required yet (see {@link #require}).
     */
    public static PageFlags of(VmcoreInfoTable info, int wordBytes) {
        return new PageFlags(info, wordBytes);
    }

    /** makedumpfile's KERNEL_VERSION(): one int that orders releases. */
    static int version(int major, int minor, int release) {
        return (major << 16) + (minor << 8) + release;
    }

    /**
     * Returns the version of an OSRELEASE such as "6.1.0-57-cloud-amd64" as makedumpfile's get_kernel_version() reads
     * it (three numbers, each ended by any character); 0 when it does not start with one.
     */
    static int kernelVersion(String release) {
        int[] v = new int[3];
        int i = 0;
        for (int part = 0; part < 3; part++) {
            int start = i;
            long n = 0;
            while (i < release.length() && Character.isDigit(release.charAt(i)) && n < 1 << 16) {
                n = n * 10 + (release.charAt(i++) - '0');
            }
            if (i == start) {
                if (part == 0) {
                    return 0;
                }
                break;
            }
            v[part] = (int) Math.min(n, 255);
            i++; // the separator, whatever it is
        }
        return version(Math.min(v[0], 32767), v[1], v[2]);
    }

    /** The makedumpfile dump-level bits ({@code -d}). */
    public static final int DL_EXCLUDE_ZERO = 1;
    public static final int DL_EXCLUDE_CACHE = 2;
    public static final int DL_EXCLUDE_CACHE_PRI = 4;
    public static final int DL_EXCLUDE_USER_DATA = 8;
    public static final int DL_EXCLUDE_FREE = 16;

    /**
     * Returns whether makedumpfile reads the {@code struct page} array at {@code dumpLevel} (create_2nd_bitmap()):
     * for cache, private cache and user pages, for free pages (recognised by their {@code _mapcount}), and always
     * when the kernel has PG_hwpoison (hwpoisoned and offline pages are then left out at every level).
     */
    public boolean scans(int dumpLevel) {
        return (dumpLevel & (DL_EXCLUDE_CACHE | DL_EXCLUDE_CACHE_PRI | DL_EXCLUDE_USER_DATA)) != 0
                || pgHwpoison.isPresent() || (dumpLevel & DL_EXCLUDE_FREE) != 0 && buddyIdentifiable();
    }

    /**
     * Throws unless VMCOREINFO has what {@code dumpLevel} needs, naming the first entry missing. Where makedumpfile
     * has a fallback that needs more than VMCOREINFO (free pages from the zones' free lists, read with vmlinux's
     * types) the level is refused instead.
     *
     * @throws KernelUnavailableException naming the missing entry
     */
    public void require(int dumpLevel) {
        List<String> need = new ArrayList<>(List.of("OSRELEASE", "SIZE(page)", "OFFSET(page.flags)",
                "OFFSET(page._refcount)", "OFFSET(page.mapping)"));
        if (scans(dumpLevel) || (dumpLevel & DL_EXCLUDE_FREE) != 0) {
            // what the walk needs for every page: a compound page's tails are recognised by compound_head, its head
            // by PG_head_mask (without it makedumpfile would take every page with a flag for a head)
            need.addAll(List.of("OFFSET(page.compound_head)", "NUMBER(PG_head_mask)"));
        }
        if ((dumpLevel & (DL_EXCLUDE_CACHE | DL_EXCLUDE_CACHE_PRI)) != 0) {
            need.addAll(List.of("NUMBER(PG_lru)", "NUMBER(PG_private)", "NUMBER(PG_swapcache)"));
        }
        if ((dumpLevel & DL_EXCLUDE_FREE) != 0) {
            need.addAll(List.of("OFFSET(page.private)", "OFFSET(page._mapcount)", "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)"));
        }
        for (String key : need) {
            if (!has(key)) {
                throw new KernelUnavailableException("VMCOREINFO has no " + key);
            }
        }
        if (sizePage <= 0 || sizePage > 1024 || offFlags + wordBytes > sizePage || offMapping + wordBytes > sizePage
                || fieldBeyond(offMapcount, 4) || fieldBeyond(offPrivate, wordBytes)
                || fieldBeyond(offCompoundHead, wordBytes)) {
            throw new KernelUnavailableException("VMCOREINFO's SIZE(page) " + sizePage + " and OFFSET(page.flags) "
                    + offFlags + ", OFFSET(page.mapping) " + offMapping + " do not describe a struct page");
        }
    }

    /** Whether a field of {@code width} bytes at {@code offset} would not lie within a struct page. */
    private boolean fieldBeyond(OptionalLong offset, int width) {
        return offset.isPresent() && (offset.getAsLong() < 0 || offset.getAsLong() + width > sizePage);
    }

    private boolean has(String key) {
        if (key.equals("OSRELEASE")) {
            return info.osRelease().isPresent() && kernelVersion != 0;
        }
        String name = key.substring(key.indexOf('(') + 1, key.length() - 1);
        return switch (key.substring(0, key.indexOf('('))) {
            case "SIZE" -> info.size(name).isPresent();
            case "OFFSET" -> info.offset(name).isPresent();
            case "NUMBER" -> info.number(name).isPresent();
            default -> throw new IllegalArgumentException(key);
        };
    }

    /** Returns SIZE(page). */
    public int structPageSize() {
        return sizePage;
    }

    /**
     * Returns whether free pages can be told by their struct page (makedumpfile setup_page_is_buddy(), v3: 2.6.38
     * and later); otherwise makedumpfile walks the zones' free lists, which needs vmlinux's types.
     */
    boolean buddyIdentifiable() {
        return offPrivate.isPresent() && buddyMapcount.isPresent() && offMapcount.isPresent();
    }

    // ------------------------------------------------------------------ fields of one struct page at buffer index i

    /** Returns the {@code unsigned long} (or pointer) at {@code at}: the guest's word, zero-extended. */
    long word(ByteBuffer b, int at) {
        return wordBytes == 8 ? b.getLong(at) : Integer.toUnsignedLong(b.getInt(at));
    }

    long flags(ByteBuffer b, int i) {
        return word(b, i + offFlags);
    }

    long mapping(ByteBuffer b, int i) {
        return word(b, i + offMapping);
    }

    /** Returns {@code _mapcount} as makedumpfile keeps it (an unsigned int compared with (int) values); 0 if absent. */
    int mapcount(ByteBuffer b, int i) {
        return offMapcount.isPresent() ? b.getInt(i + (int) offMapcount.getAsLong()) : 0;
    }

    long privateField(ByteBuffer b, int i) {
        return offPrivate.isPresent() ? word(b, i + (int) offPrivate.getAsLong()) : 0;
    }

    long compoundHead(ByteBuffer b, int i) {
        return offCompoundHead.isPresent() ? word(b, i + (int) offCompoundHead.getAsLong()) : 0;
    }

    // ------------------------------------------------------------------ makedumpfile's predicates

    /**
     * makedumpfile's {@code test_bit(nr, flags)}: an int mask {@code 1 << (nr & 31)}, widened with its sign, so bit
     * numbers wrap at 32 and bit 31 tests bits 31 to 63. Kept as it is: the kernel's PG_ numbers are all below 31.
     */
    static boolean testBit(long nr, long flags) {
        long mask = 1 << (int) (nr & 0x1f);
        return (mask & flags) != 0;
    }

    private static boolean testBit(OptionalLong nr, long flags) {
        return nr.isPresent() && testBit(nr.getAsLong(), flags);
    }

    boolean isLru(long flags) {
        return testBit(pgLru, flags);
    }

    boolean isPrivate(long flags) {
        return testBit(pgPrivate, flags);
    }

    boolean isCompoundHead(long flags) {
        return pgHeadMask.isPresent() && (flags & pgHeadMask.getAsLong()) != 0;
    }

    boolean isHwpoison(long flags) {
        return testBit(pgHwpoison, flags);
    }

    /**
     * makedumpfile's isSlab(): PAGE_SLAB_MAPCOUNT_VALUE since 6.10, else PG_slab, as a full 64-bit bit test (unlike
     * {@link #testBit}). makedumpfile 1.7.2 tests only PG_slab; kernels that have both agree.
     */
    boolean isSlab(long flags, int mapcount) {
        if (slabMapcount.isPresent() && mapcount == (int) slabMapcount.getAsLong()) {
            return true;
        }
        // makedumpfile shifts by NUMBER(PG_slab) even when it is missing (-1); a kernel without it has no such flag
        return pgSlab.isPresent() && pgSlab.getAsLong() >= 0 && pgSlab.getAsLong() < 64
                && (flags & (1L << pgSlab.getAsLong())) != 0;
    }

    /**
     * makedumpfile's isAnon(): bit 0 of {@code mapping}, unless the page is a slab page (whose {@code mapping} word
     * is a slab field since 6.10; makedumpfile 1.7.2 does not ask, and on older kernels that word is a pointer).
     */
    boolean isAnon(long mapping, long flags, int mapcount) {
        return (mapping & PAGE_MAPPING_ANON) != 0 && !isSlab(flags, mapcount);
    }

    /** makedumpfile's is_cache_page(): on an LRU list, or in the swap cache (PG_swapcache counts only with PG_swapbacked). */
    boolean isCachePage(long flags) {
        if (isLru(flags)) {
            return true;
        }
        return (pgSwapbacked.isEmpty() || testBit(pgSwapbacked, flags)) && testBit(pgSwapcache, flags);
    }

    /** makedumpfile's page_is_buddy_v3(): a free page's {@code _mapcount} is PAGE_BUDDY_MAPCOUNT_VALUE (not a slab page). */
    boolean isBuddy(long flags, int mapcount) {
        return !isSlab(flags, mapcount) && buddyMapcount.isPresent() && mapcount == (int) buddyMapcount.getAsLong();
    }

    /** makedumpfile's isOffline(): a page taken offline (balloon, hot-unplug) by its {@code _mapcount}. */
    boolean isOffline(long flags, int mapcount) {
        return offlineMapcount.isPresent() && !isSlab(flags, mapcount)
                && mapcount == (int) offlineMapcount.getAsLong();
    }

    /** makedumpfile's isUnaccepted(): a free page of a confidential guest not yet accepted (6.5 and later). */
    boolean isUnaccepted(int mapcount) {
        return unacceptedMapcount.isPresent() && mapcount == (int) unacceptedMapcount.getAsLong();
    }

    /** makedumpfile's isHugetlb(): the compound destructor is hugetlb's. */
    boolean isHugetlb(long dtor) {
        return dtor == IS_HUGETLB || hugetlbDtor.isPresent() && hugetlbDtor.getAsLong() == dtor
                || freeHugePage.isPresent() && freeHugePage.getAsLong() == dtor;
    }

    /**
     * Returns the largest buddy order + 1 (LENGTH(zone.free_area)), above which a free page's order is invalid, or
     * empty when VMCOREINFO does not say (makedumpfile then does not check).
     */
    OptionalLong freeAreaOrders() {
        return freeAreaLength;
    }
}

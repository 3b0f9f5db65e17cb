package io.vmdumpfs.core.kernel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.LongPredicate;

/**
 * Decides, from the guest's {@code struct page} array alone, which pages a dump of a given makedumpfile dump level
 * leaves out: the walk of makedumpfile's {@code __exclude_unnecessary_pages()} over one memory section, rule for
 * rule, in its order (a page is counted in the first class that takes it):
 * <ol>
 *   <li>a compound page's tail ({@code compound_head & 1}) is never judged by itself: it goes with its head;</li>
 *   <li>free (bit 16): a buddy page ({@link PageFlags#isBuddy}) with its whole block of {@code 1 << private}
 *       pages; an order at or above LENGTH(zone.free_area) is a warning and the page is kept; also unaccepted
 *       pages (6.5 and later), a block of the largest order;</li>
 *   <li>page cache without private data (bit 2, and bit 4): {@link PageFlags#isCachePage}, not PG_private, not
 *       anonymous. A shmem/tmpfs page is page cache too (on an LRU list, its mapping an address_space);</li>
 *   <li>page cache with private data (bit 4), e.g. buffer heads;</li>
 *   <li>user data (bit 8): anonymous ({@code mapping & 1}), or a hugetlbfs page (the compound destructor, or since
 *       6.6 PG_hugetlb, since 6.9 a {@code _mapcount} type, all read from the head's first tail page);</li>
 *   <li>hwpoison and offline pages, whatever the level.</li>
 * </ol>
 * A head page that is left out takes its {@code 1 << order} pages with it, order read from the next struct page
 * (one byte since 4.16; an order the head's pfn is not aligned to counts as 0), and the walk resumes after them. A
 * free block's pages after the first are not judged either. What a section's walk leaves out may reach into the
 * next section (a 1 GiB hugetlb page): the range is reported whole.
 *
 * <p>Two quirks kept from makedumpfile: struct pages are read in windows of {@link #WINDOW} pfns aligned to
 * {@link #WINDOW}, and a head in a window's last slot is taken as order 0 without looking at the next struct page
 * (never a real head: orders are aligned); flag bits are tested with makedumpfile's 32-bit mask
 * ({@link PageFlags#testBit}). Where makedumpfile would read a stale buffer (a head on the last pfn of a memory map
 * that ends off a window boundary), the head is taken as order 0.
 *
 * <p>Reads only struct pages, never the pages. Not thread-safe (it owns a buffer): one per thread.
 */
public final class PageClassifier {

    /** makedumpfile's PGMM_CACHED: struct pages read at once, and the alignment of those windows. */
    static final int WINDOW = 512;

    /** Reads struct pages. */
    @FunctionalInterface
    public interface StructPages {
        /**
         * Fills {@code dst} from its position on with the {@code count} struct pages of pfns
         * {@code [firstPfn, firstPfn + count)}.
         *
         * @throws KernelAddressException when they cannot be read
         */
        void read(long firstPfn, int count, ByteBuffer dst);
    }

    /** Receives what the walk leaves out, in pfn order. */
    @FunctionalInterface
    public interface Sink {
        /** Pfns {@code [startPfn, endPfn)} are left out because of {@code why}. */
        void exclude(long startPfn, long endPfn, PageClass why);
    }

    private final PageFlags layout;
    private final int dumpLevel;
    private final boolean buddy;
    private final int size;
    private final ByteBuffer window;

    /**
     * @throws KernelUnavailableException naming what VMCOREINFO lacks for {@code dumpLevel}
     */
    public PageClassifier(PageFlags layout, int dumpLevel, ByteOrder order) {
        layout.require(dumpLevel);
        this.layout = layout;
        this.dumpLevel = dumpLevel;
        // makedumpfile sets up page_is_buddy only for dump levels that exclude free pages
        this.buddy = (dumpLevel & PageFlags.DL_EXCLUDE_FREE) != 0 && layout.buddyIdentifiable();
        this.size = layout.structPageSize();
        this.window = ByteBuffer.allocate(size * WINDOW).order(order);
    }

    /**
     * Walks the memory map of pfns {@code [pfnStart, pfnEnd)} (one memory section, or its part below max_mapnr) and
     * reports what {@code dumpLevel} leaves out. Pfns not {@code inDump} (not in the dump's memory) are skipped, as
     * makedumpfile skips pfns outside the vmcore's PT_LOADs, though their struct pages may be read with a window.
     *
     * @throws KernelAddressException when a struct page cannot be read (makedumpfile gives up then too)
     */
    public void classify(long pfnStart, long pfnEnd, LongPredicate inDump, StructPages src, Sink sink) {
        long readStart = Long.MAX_VALUE;
        long readEnd = -1; // inclusive, as makedumpfile's pfn_read_end
        for (long pfn = pfnStart; pfn < pfnEnd; pfn++) {
            if (!inDump.test(pfn)) {
                continue;
            }
            int slot = (int) (pfn % WINDOW);
            if (pfn < readStart || readEnd < pfn) {
                long windowEnd = (pfn + 1 + WINDOW - 1) / WINDOW * WINDOW;
                int count = (int) (windowEnd < pfnEnd ? WINDOW - slot : pfnEnd - pfn);
                window.clear().position(slot * size).limit((slot + count) * size);
                src.read(pfn, count, window);
                readStart = pfn;
                readEnd = pfn + count - 1;
            }
            int at = slot * size;
            long flags = layout.flags(window, at);
            long mapping = layout.mapping(window, at);
            int mapcount = layout.mapcount(window, at);
            long priv = layout.privateField(window, at);
            long compoundHead = layout.compoundHead(window, at);
            int order = 0;
            long dtor = 0;
            if (slot < WINDOW - 1 && layout.isCompoundHead(flags) && pfn + 1 <= readEnd) {
                int next = at + size;
                boolean folioFlags = false;
                if (layout.hugetlbMapcount.isPresent()) {
                    // 6.9 and later: the order is the low byte of the first tail's flags (folio._flags_1), and a
                    // hugetlb folio is marked by the head's _mapcount
                    order = (int) (layout.flags(window, next) & 0xff);
                    if (mapcount == (int) layout.hugetlbMapcount.getAsLong()) {
                        dtor = PageFlags.IS_HUGETLB;
                    }
                    folioFlags = true;
                } else if (layout.pgHugetlb.isPresent()) {
                    // 6.6 to 6.8: the same order, and PG_hugetlb in the first tail's flags
                    long flags1 = layout.flags(window, next);
                    order = (int) (flags1 & 0xff);
                    long bit = layout.pgHugetlb.getAsLong();
                    if (bit >= 0 && bit < 64 && (flags1 & (1L << bit)) != 0) {
                        dtor = PageFlags.IS_HUGETLB;
                    }
                    folioFlags = true;
                }
                if (!folioFlags) {
                    boolean byteFields = layout.kernelVersion >= PageFlags.version(4, 16, 0);
                    if (layout.compoundOrderOffset != 0) {
                        int o = next + layout.compoundOrderOffset;
                        order = byteFields ? Byte.toUnsignedInt(window.get(o)) : Short.toUnsignedInt(window.getShort(o));
                    }
                    if (layout.compoundDtorOffset != 0) {
                        int o = next + layout.compoundDtorOffset;
                        dtor = byteFields ? Byte.toUnsignedInt(window.get(o))
                                : layout.kernelVersion >= PageFlags.version(4, 4, 0)
                                        ? Short.toUnsignedInt(window.getShort(o)) : layout.word(window, o);
                    }
                }
                if (order >= 64 || (pfn & ((1L << order) - 1)) != 0) {
                    order = 0; // invalid: makedumpfile keeps the destructor, though
                }
            }
            if ((compoundHead & 1) != 0) {
                continue; // a tail: excluded with its head, if at all
            }
            long pages = 1L << order;
            PageClass why;
            if (buddy && layout.isBuddy(flags, mapcount)) {
                if (layout.freeAreaOrders().isPresent()
                        && Long.compareUnsigned(priv, layout.freeAreaOrders().getAsLong()) >= 0 || priv >= 63
                        || priv < 0) {
                    continue; // makedumpfile: "WARNING: Invalid free page order", and the page is kept
                }
                pages = 1L << priv;
                why = PageClass.FREE;
            } else if ((dumpLevel & PageFlags.DL_EXCLUDE_FREE) != 0 && layout.isUnaccepted(mapcount)) {
                long orders = layout.freeAreaOrders().orElse(1);
                pages = 1L << Math.max(0, Math.min(62, orders - 1));
                why = PageClass.FREE;
            } else if ((dumpLevel & PageFlags.DL_EXCLUDE_CACHE) != 0 && layout.isCachePage(flags)
                    && !layout.isPrivate(flags) && !layout.isAnon(mapping, flags, mapcount)) {
                why = PageClass.CACHE;
            } else if ((dumpLevel & PageFlags.DL_EXCLUDE_CACHE_PRI) != 0 && layout.isCachePage(flags)
                    && !layout.isAnon(mapping, flags, mapcount)) {
                why = layout.isPrivate(flags) ? PageClass.CACHE_PRIVATE : PageClass.CACHE;
            } else if ((dumpLevel & PageFlags.DL_EXCLUDE_USER_DATA) != 0
                    && (layout.isAnon(mapping, flags, mapcount) || layout.isHugetlb(dtor))) {
                why = PageClass.USER;
            } else if (layout.isHwpoison(flags)) {
                why = PageClass.HWPOISON;
            } else if (layout.isOffline(flags, mapcount)) {
                why = PageClass.OFFLINE;
            } else {
                continue;
            }
            sink.exclude(pfn, pfn + pages, why);
            pfn += pages - 1;
        }
    }
}

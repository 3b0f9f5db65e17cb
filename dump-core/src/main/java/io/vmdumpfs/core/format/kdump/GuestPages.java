package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.kernel.GuestKernel;
import java.util.Arrays;
import java.util.function.Function;

/**
 * The guest's pages as all kdump files of one dump see them, shared through {@link FormatContext#shared}: which are
 * present ({@link DumpedPages}), which lie in holes of the core (zero without reading them), and, once the first
 * index build has read the rest, which of those are zero and which hold data ({@link #stored()}).
 *
 * <p>Classifying a page costs reading it; compressing it costs several times more. The first build (whichever codec
 * is asked for first) reads every page that is not in a hole, learns which are zero, and publishes that here; the
 * other codecs' builds then read only the pages with data. So no page is read twice to learn that it is zero, and
 * each codec's index is built only when a reader asks for its file.
 *
 * <p>Thread-safe: the stored set is published once through a volatile field (two builds racing to publish learnt the
 * same thing from the same core; the first wins).
 */
final class GuestPages {

    private final GuestDump dump;
    private final DumpedPages present;
    private final DumpLevel level;
    private final int threads;
    /** Opens the guest kernel the filter reads (the context's shared one); may throw KernelUnavailableException. */
    private final Function<GuestDump, GuestKernel> kernel;
    private volatile PageSet stored;
    /** The pages dumped (bitmap 2) at {@link #level}, once decided or learnt; all pages at level 0. */
    private volatile PageSet dumped;
    /** What this mount's filter run found (per class), or null before one ran (or when a load made it needless). */
    private volatile PageFilter.Result filtered;
    /** The filter, opened on first use (guarded by this); or why it cannot be. */
    private PageFilter filter;
    private BadCoreException refused;
    /** Chunks with at least one page not in a hole; computed on first use. */
    private volatile int[] candidateChunks;
    /** Whether the core has holes at all (without, every page is a candidate); found on first use. */
    private volatile Boolean coreHasHoles;

    GuestPages(GuestDump dump) {
        this(dump, DumpLevel.NONE, 1, GuestKernel::open);
    }

    /**
     * @param threads how many threads deciding the dumped pages may use
     * @param kernel  opens the guest kernel whose struct pages the filter reads
     */
    GuestPages(GuestDump dump, DumpLevel level, int threads, Function<GuestDump, GuestKernel> kernel) {
        this.dump = dump;
        this.kernel = kernel;
        this.present = new DumpedPages(dump.memory(), dump.platform().pageSize());
        this.level = level;
        this.threads = threads;
        if (!level.filters()) {
            this.dumped = PageSet.all(present.pageCount());
        }
    }

    /** Returns the pages shared by the kdump files of {@code dump} in {@code ctx}, at the context's dump level. */
    static GuestPages of(GuestDump dump, FormatContext ctx) {
        return ctx.shared(dump, GuestPages.class,
                d -> new GuestPages(d, ctx.dumpLevel(), ctx.threads(), ctx::kernel));
    }

    DumpLevel level() {
        return level;
    }

    /**
     * Returns the filter of this dump level, opened once: the check that the guest kernel and its VMCOREINFO can
     * honour the level, and where its memory map is. Cheap (no struct page is read).
     *
     * @throws BadCoreException (UNSUPPORTED) naming what is missing, every time once refused
     */
    synchronized PageFilter filter() {
        if (refused != null) {
            throw new BadCoreException(refused.kind(), refused.file(), stripFile(refused), refused);
        }
        if (filter == null) {
            try {
                filter = PageFilter.open(dump, present, level, kernel);
            } catch (BadCoreException e) {
                refused = e;
                throw e;
            }
        }
        return filter;
    }

    private static String stripFile(BadCoreException e) {
        String prefix = e.file() == null ? "" : e.file() + ": ";
        return e.getMessage().startsWith(prefix) ? e.getMessage().substring(prefix.length()) : e.getMessage();
    }

    /**
     * Returns the pages dumped at this level (bitmap 2): every present page at level 0; otherwise decided from the
     * guest kernel's struct pages on first use (threads in parallel; seconds for terabytes) or learnt from a
     * persisted index. Waits while another thread decides them.
     *
     * @throws BadCoreException if the level cannot be honoured or the struct pages cannot be read
     */
    PageSet dumped() {
        PageSet d = dumped;
        if (d != null) {
            return d;
        }
        synchronized (this) {
            if (dumped == null) {
                PageFilter.Result r = filter().run(threads);
                filtered = r;
                dumped = r.dumped();
            }
            return dumped;
        }
    }

    /** Returns the dumped pages if they are known yet, without deciding them. */
    PageSet dumpedIfKnown() {
        return dumped;
    }

    /** Returns what this process's filter run left out, per class, or null when none ran. */
    PageFilter.Result filtered() {
        return filtered;
    }

    /** Records the dumped pages a persisted index holds, so no filter needs to run. */
    void learnDumped(PageSet dumpedPages) {
        if (dumpedPages.size() != present.pageCount()) {
            throw new IllegalArgumentException("a set over " + dumpedPages.size() + " pages for "
                    + present.pageCount() + " present");
        }
        synchronized (this) {
            if (dumped == null) {
                dumped = dumpedPages;
            }
        }
    }

    GuestDump dump() {
        return dump;
    }

    /** Returns the pages present (bitmap 1). */
    DumpedPages present() {
        return present;
    }

    /** Returns the pages known to hold data (not zero, not in a hole), or null until a build or a load learnt it. */
    PageSet stored() {
        return stored;
    }

    /** Records what a build or a persisted index learnt: which present pages hold data. */
    void learn(PageSet storedPages) {
        if (storedPages.size() != present.pageCount()) {
            throw new IllegalArgumentException("a set over " + storedPages.size() + " pages for "
                    + present.pageCount() + " present");
        }
        if (stored == null) {
            stored = storedPages;
        }
    }

    /**
     * Returns the chunks (of {@link KdumpIndex#CHUNK_PAGES} present pages) with at least one page whose bytes are
     * not all in holes of the core, ascending. The others hold only zero pages, known without reading them. Found
     * from the core's runs of data (a few lseek calls on the first use), not from the pages.
     */
    int[] candidateChunks() {
        int[] c = candidateChunks;
        if (c == null) {
            c = findCandidateChunks();
            candidateChunks = c;
        }
        return c;
    }

    private int[] findCandidateChunks() {
        int shift = Integer.numberOfTrailingZeros(present.pageSize());
        int[] out = new int[16];
        int n = 0;
        for (GuestMemory.Range r : dump.memory().dataRuns()) {
            long firstPfn = r.guestPaddrStart() >>> shift;
            long lastPfn = (r.guestPaddrEnd() - 1) >>> shift;
            long firstPage = present.pageOf(firstPfn);
            long lastPage = present.pageOf(lastPfn);
            if (firstPage < 0 || lastPage < 0) {
                throw new IllegalStateException("guest RAM at 0x" + Long.toHexString(r.guestPaddrStart())
                        + " holds data but is in no present page");
            }
            // present pfns of one range are consecutive pages: the range lies in blocks, whose pages are present
            for (long chunk = firstPage / KdumpIndex.CHUNK_PAGES; chunk <= lastPage / KdumpIndex.CHUNK_PAGES; chunk++) {
                if (n > 0 && out[n - 1] >= chunk) {
                    continue; // ranges are sorted: a chunk repeats only right after itself
                }
                if (n == out.length) {
                    out = Arrays.copyOf(out, 2 * n);
                }
                out[n++] = (int) chunk;
            }
        }
        return Arrays.copyOf(out, n);
    }

    /**
     * Fills {@code mask} ({@link PageSet#WORDS} words) with the pages of chunk {@code chunk} whose bytes are not all
     * in holes of the core: the pages a build must read to classify them.
     */
    void candidateMask(int chunk, long[] mask) {
        Arrays.fill(mask, 0);
        int first = chunk * KdumpIndex.CHUNK_PAGES;
        int end = Math.min(present.pageCount(), first + KdumpIndex.CHUNK_PAGES);
        int pageSize = present.pageSize();
        Boolean holes = coreHasHoles;
        if (holes == null) {
            // the lseek scan happens here, on the first build, not when a mount lists its files
            holes = dump.memory().core().dataRuns().dataBytes() < dump.memory().core().size();
            coreHasHoles = holes;
        }
        for (int p = first; p < end; p++) {
            if (!holes || !dump.memory().isHole(present.pfnOf(p) * pageSize, pageSize)) {
                int bit = p - first;
                mask[bit >>> 6] |= 1L << bit;
            }
        }
    }
}

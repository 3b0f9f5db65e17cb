package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.kernel.GuestKernel;
import io.vmdumpfs.core.kernel.KernelAddressException;
import io.vmdumpfs.core.kernel.KernelMemory;
import io.vmdumpfs.core.kernel.KernelUnavailableException;
import io.vmdumpfs.core.kernel.MemMap;
import io.vmdumpfs.core.kernel.PageClass;
import io.vmdumpfs.core.kernel.PageClassifier;
import io.vmdumpfs.core.kernel.PageFlags;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.LongPredicate;

/**
 * Which present pages a kdump file of a {@link DumpLevel} dumps (its second bitmap), decided as makedumpfile decides
 * it from VMCOREINFO alone: the guest kernel's memory map ({@link MemMap}) read through its page tables, each
 * section's {@code struct page}s walked by a {@link PageClassifier}, sections shared among threads. Only struct pages
 * are read (about 1.6% of guest RAM), never the pages; zero pages are a matter of the index build, which reads the
 * dumped pages anyway.
 *
 * <p>Opening checks that the guest kernel can be read and that VMCOREINFO has what the level needs, and reads the
 * memory map's location: cheap, so a mount or {@code convert} refuses a level it cannot honour before it starts.
 *
 * <p>Memory while running: one bit per present page, shared; per thread a window of 512 struct pages.
 */
final class PageFilter {

    /**
     * What a run found.
     *
     * @param dumped   the present pages dumped (bitmap 2)
     * @param excluded present pages left out, per {@link PageClass} ordinal (ZERO stays 0: zero pages are dumped)
     */
    record Result(PageSet dumped, long[] excluded) {

        /** Returns the pages left out because of {@code c}. */
        long excluded(PageClass c) {
            return excluded[c.ordinal()];
        }

        /** Returns the pages left out in all. */
        long excludedTotal() {
            return Arrays.stream(excluded).sum();
        }
    }

    private final GuestDump dump;
    private final DumpedPages present;
    private final DumpLevel level;
    private final GuestKernel kernel;
    private final PageFlags flags;
    private final MemMap memMap;

    private PageFilter(GuestDump dump, DumpedPages present, DumpLevel level, GuestKernel kernel, PageFlags flags,
            MemMap memMap) {
        this.dump = dump;
        this.present = present;
        this.level = level;
        this.kernel = kernel;
        this.flags = flags;
        this.memMap = memMap;
    }

    /**
     * Returns the filter of {@code level} (above 0) for {@code dump}.
     *
     * @throws BadCoreException (UNSUPPORTED) naming what the guest or its VMCOREINFO lacks for the level
     */
    static PageFilter open(GuestDump dump, DumpedPages present, DumpLevel level,
            Function<GuestDump, GuestKernel> kernelOf) {
        if (!level.filters()) {
            throw new IllegalArgumentException("dump level 0 filters nothing");
        }
        try {
            GuestKernel kernel = kernelOf.apply(dump);
            int wordBytes = kernel.platform().wordBytes();
            PageFlags flags = PageFlags.of(kernel.vmcoreinfo(), wordBytes);
            flags.require(level.bits());
            boolean l5 = kernel.vmcoreinfo().number("pgtable_l5_enabled").orElse(0) == 1;
            MemMap map = MemMap.open(kernel.vmcoreinfo(), kernel.memory().bulk(), present.pageSize(),
                    present.maxMapnr(), l5, wordBytes);
            if (map.structPageSize() != flags.structPageSize()) {
                throw new KernelUnavailableException("SIZE(page) changed");
            }
            return new PageFilter(dump, present, level, kernel, flags, map);
        } catch (KernelUnavailableException e) {
            throw new BadCoreException(Kind.UNSUPPORTED, dump.core().path(), "dump_level " + level.bits()
                    + " needs the guest kernel's struct pages: " + e.getMessage());
        } catch (KernelAddressException e) {
            throw new BadCoreException(Kind.CORRUPT, dump.core().path(), "dump_level " + level.bits()
                    + ": the guest kernel's memory map cannot be read: " + e.getMessage());
        }
    }

    /** Returns the memory map found, for reports. */
    MemMap memMap() {
        return memMap;
    }

    /**
     * Decides the dumped pages on {@code threads} threads (the caller's included).
     *
     * @throws BadCoreException (CORRUPT) when a struct page cannot be read
     */
    Result run(int threads) {
        int pageCount = present.pageCount();
        AtomicLongArray dumped = new AtomicLongArray((pageCount + 63) / 64);
        for (int w = 0; w < dumped.length(); w++) {
            int left = pageCount - 64 * w;
            dumped.set(w, left >= 64 ? -1L : (1L << left) - 1);
        }
        long[] excluded = new long[PageClass.values().length];
        // pages past the last section with a memory map: not in makedumpfile's dump at all
        if (memMap.maxPfn() < present.maxMapnr()) {
            excluded[PageClass.NO_MEM_MAP.ordinal()] += clear(dumped, memMap.maxPfn(), present.maxMapnr());
        }
        if (flags.scans(level.bits())) {
            scan(dumped, excluded, threads);
        }
        return new Result(toPageSet(dumped, pageCount), excluded);
    }

    /** Walks every section with a memory map and present pages, threads taking sections in turn. */
    private void scan(AtomicLongArray dumped, long[] excluded, int threads) {
        List<Integer> work = new ArrayList<>();
        for (int s = 0; s < memMap.sections(); s++) {
            long[] pfns = memMap.sectionPfns(s);
            if (memMap.memMap(s).isPresent() && hasPresent(pfns[0], pfns[1])) {
                work.add(s);
            }
        }
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        long[][] counts = new long[Math.max(1, Math.min(threads, work.size()))][];
        Runnable[] workers = new Runnable[counts.length];
        for (int t = 0; t < counts.length; t++) {
            long[] mine = new long[PageClass.values().length];
            counts[t] = mine;
            workers[t] = () -> {
                try {
                    KernelMemory reader = kernel.memory().bulk();
                    PageClassifier classifier = new PageClassifier(flags, level.bits(), reader.order());
                    LongPredicate inDump = present.presence();
                    PageClassifier.StructPages src = (firstPfn, count, dst) -> reader.read(
                            memMap.structPage(firstPfn).orElseThrow(), dst);
                    for (int k; failure.get() == null && (k = next.getAndIncrement()) < work.size(); ) {
                        long[] pfns = memMap.sectionPfns(work.get(k));
                        classifier.classify(pfns[0], pfns[1], inDump, src,
                                (start, end, why) -> mine[why.ordinal()] += clear(dumped, start, end));
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            };
        }
        Parallel.run(workers, "vmdumpfs-filter");
        for (long[] c : counts) {
            for (int i = 0; i < c.length; i++) {
                excluded[i] += c[i];
            }
        }
        Throwable t = failure.get();
        if (t instanceof KernelAddressException e) {
            throw new BadCoreException(Kind.CORRUPT, dump.core().path(), "dump_level " + level.bits()
                    + ": a struct page cannot be read: " + e.getMessage(), e);
        }
        if (t instanceof RuntimeException re) {
            throw re;
        }
        if (t instanceof Error e) {
            throw e;
        }
    }

    private boolean hasPresent(long startPfn, long endPfn) {
        boolean[] any = {false};
        present.forEachPageRun(startPfn, endPfn, (a, b) -> any[0] |= b > a);
        return any[0];
    }

    /** Clears the present pages of pfns {@code [startPfn, endPfn)} and returns how many were still set. */
    private long clear(AtomicLongArray dumped, long startPfn, long endPfn) {
        long[] n = {0};
        present.forEachPageRun(startPfn, endPfn, (first, end) -> {
            for (int p = first; p < end; ) {
                int w = p >>> 6;
                int to = Math.min(end, (w + 1) << 6);
                long mask = (to - p == 64 ? -1L : ((1L << (to - p)) - 1)) << (p & 63);
                long old = dumped.getAndAccumulate(w, mask, (a, m) -> a & ~m);
                n[0] += Long.bitCount(old & mask);
                p = to;
            }
        });
        return n[0];
    }

    private static PageSet toPageSet(AtomicLongArray bits, int pageCount) {
        int chunkCount = PageSet.chunkCount(pageCount);
        int[] chunks = new int[chunkCount];
        long[] masks = new long[chunkCount * PageSet.WORDS];
        int slots = 0;
        boolean all = true;
        for (int c = 0; c < chunkCount; c++) {
            long any = 0;
            for (int w = 0; w < PageSet.WORDS; w++) {
                int word = c * PageSet.WORDS + w;
                long m = word < bits.length() ? bits.get(word) : 0;
                masks[slots * PageSet.WORDS + w] = m;
                any |= m;
                int left = pageCount - 64 * word;
                long full = left >= 64 ? -1L : left <= 0 ? 0 : (1L << left) - 1;
                all &= m == full;
            }
            if (any != 0) {
                chunks[slots++] = c;
            }
        }
        if (all) {
            return PageSet.all(pageCount);
        }
        return PageSet.of(pageCount, Arrays.copyOf(chunks, slots), Arrays.copyOf(masks, slots * PageSet.WORDS));
    }
}

package io.vmdumpfs.core.kernel;

/**
 * Why makedumpfile leaves a page out of a filtered dump, one constant per counter of its report ("Pages filled with
 * zero", "Non-private cache pages", …). The dump-level bit that excludes each class is {@link #dumpLevelBit()}; 0 for
 * the classes left out at every level at which makedumpfile reads the struct page array.
 */
public enum PageClass {
    /** All zero (bit 1). makedumpfile's kdump files keep these as one shared zero page: not left out of bitmap 2. */
    ZERO(PageFlags.DL_EXCLUDE_ZERO, "zero pages"),
    /** Page cache without private data (bit 2, and bit 4 excludes them too). */
    CACHE(PageFlags.DL_EXCLUDE_CACHE, "non-private cache"),
    /** Page cache with private data, e.g. buffer heads (bit 4). */
    CACHE_PRIVATE(PageFlags.DL_EXCLUDE_CACHE_PRI, "private cache"),
    /** User process data: anonymous pages and hugetlbfs pages (bit 8). */
    USER(PageFlags.DL_EXCLUDE_USER_DATA, "user data"),
    /** Free pages of the buddy allocator, whole blocks (bit 16). */
    FREE(PageFlags.DL_EXCLUDE_FREE, "free pages"),
    /** Pages the kernel marked hardware-poisoned. */
    HWPOISON(0, "hwpoison"),
    /** Pages taken offline (a balloon driver's, memory hot-unplug). */
    OFFLINE(0, "offline"),
    /**
     * Pages above the kernel's memory map (no struct page: firmware ROM such as pc.bios at 4 GiB − 256 KiB, memory
     * beyond {@code mem=}): makedumpfile's max_mapnr ends with the last memory section that has one.
     */
    NO_MEM_MAP(0, "above the kernel's memory map");

    private final int dumpLevelBit;
    private final String label;

    PageClass(int dumpLevelBit, String label) {
        this.dumpLevelBit = dumpLevelBit;
        this.label = label;
    }

    /** Returns the makedumpfile {@code -d} bit that leaves this class out, or 0 when no bit chooses it. */
    public int dumpLevelBit() {
        return dumpLevelBit;
    }

    /** Returns a short name for reports ("free pages"). */
    public String label() {
        return label;
    }
}

package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.kernel.PageClass;
import java.util.ArrayList;
import java.util.List;

/**
 * makedumpfile's dump level ({@code -d N}, 0 to 31): which kinds of pages a kdump file leaves out, one bit each —
 * 1 zero, 2 cache without private data, 4 cache with private data, 8 user process data, 16 free pages. At every
 * level above 0 makedumpfile also leaves out what no struct page describes past the kernel's last memory section,
 * and, when it reads the struct page array, hwpoisoned and offline pages.
 *
 * <p>Level 0 is vmdumpfs's unfiltered file, which keeps every page present (zero pages share one zero page, as
 * makedumpfile's level 1 and QEMU's files do). At level 1 and above, zero pages keep their bit in the second bitmap
 * and point at the shared zero page, as in makedumpfile's kdump files: "excluded" zero pages cost a descriptor and
 * no data.
 *
 * @param bits the level, 0 to 31
 */
public record DumpLevel(int bits) {

    /** No filtering: every page present is dumped. */
    public static final DumpLevel NONE = new DumpLevel(0);
    /** The largest level: everything makedumpfile can leave out. */
    public static final int MAX = 31;

    public DumpLevel {
        if (bits < 0 || bits > MAX) {
            throw new IllegalArgumentException("dump level " + bits + " is not in 0.." + MAX);
        }
    }

    /**
     * Returns the level {@code text} names: a number from 0 to 31.
     *
     * @throws IllegalArgumentException with a message naming the accepted values otherwise
     */
    public static DumpLevel parse(String text) {
        String t = text == null ? "" : text.strip();
        if (!t.matches("[0-9]{1,2}") || Integer.parseInt(t) > MAX) {
            throw new IllegalArgumentException("dump level '" + text + "' is not a number from 0 to " + MAX
                    + " (makedumpfile's -d: 1 zero, 2 cache, 4 private cache, 8 user data, 16 free pages, summed)");
        }
        return new DumpLevel(Integer.parseInt(t));
    }

    /** Returns whether the level leaves anything out (0 does not). */
    public boolean filters() {
        return bits != 0;
    }

    /** Returns whether this level's bit for {@code c} is set (false for classes no bit chooses). */
    public boolean excludes(PageClass c) {
        return (bits & c.dumpLevelBit()) != 0;
    }

    /** Returns e.g. "31 (zero pages, non-private cache, private cache, user data, free pages)", or "0 (none)". */
    public String describe() {
        List<String> names = new ArrayList<>();
        for (PageClass c : PageClass.values()) {
            if (excludes(c)) {
                names.add(c.label());
            }
        }
        return bits + " (" + (names.isEmpty() ? "none" : String.join(", ", names)) + ")";
    }
}

package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.kernel.PageClass;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** What a dump level leaves out, in words: for {@code vmdumpfs info --dump-level} and the mount's status file. */
final class DumpLevelReport {

    private DumpLevelReport() {
    }

    /**
     * Returns "key: value" lines: the level, the memory map, then pages present, dumped, left out and why, in
     * makedumpfile's report order (zero pages counted among the dumped: they stay in bitmap 2 as the shared zero
     * page).
     */
    static Map<String, String> describe(GuestPages pages, PageSet dumped, long zero) {
        Map<String, String> m = new LinkedHashMap<>();
        int pageSize = pages.present().pageSize();
        long present = pages.present().pageCount();
        m.put("dump level", pages.level().describe());
        if (pages.level().filters()) {
            m.put("memory map", pages.filter().memMap().toString());
        }
        m.put("pages present", pages(present, pageSize));
        m.put("pages dumped", pages(dumped.count(), pageSize) + String.format(Locale.ROOT, " (%.1f%%)",
                present == 0 ? 0.0 : 100.0 * dumped.count() / present));
        m.put("  zero", pages(zero, pageSize) + " of them, dumped as the one shared zero page");
        m.put("pages left out", pages(present - dumped.count(), pageSize));
        PageFilter.Result r = pages.filtered();
        if (r != null) {
            for (PageClass c : PageClass.values()) {
                if (c != PageClass.ZERO) {
                    m.put("  " + c.label(), pages(r.excluded(c), pageSize));
                }
            }
        }
        return m;
    }

    /**
     * Returns one line for a status file: "dump_level 31: 49919 of 65600 pages left out (free pages 48305, …); 2562
     * of the dumped pages zero" — the classes once this process decided them, the zero pages once the index exists.
     */
    static String summary(GuestPages pages, KdumpIndex index) {
        PageSet dumped = pages.dumpedIfKnown();
        String s = "dump_level " + pages.level().bits() + ": ";
        if (dumped == null) {
            return s + "pages not classified yet";
        }
        long present = pages.present().pageCount();
        s += (present - dumped.count()) + " of " + present + " pages left out";
        PageFilter.Result r = pages.filtered();
        if (r != null) {
            List<String> parts = new ArrayList<>();
            for (PageClass c : PageClass.values()) {
                if (r.excluded(c) > 0) {
                    parts.add(c.label() + " " + r.excluded(c));
                }
            }
            if (!parts.isEmpty()) {
                s += " (" + String.join(", ", parts) + ")";
            }
        }
        if (index != null) {
            s += "; " + (dumped.count() - (long) index.stored().count()) + " of the dumped pages zero";
        }
        return s;
    }

    private static String pages(long n, int pageSize) {
        double mib = (double) n * pageSize / (1 << 20);
        return String.format(Locale.ROOT, "%d (%.1f MiB)", n, mib);
    }
}

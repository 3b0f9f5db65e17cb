package io.vmdumpfs.core.guest;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * How much of the guest's RAM the core holds, in words for people: the one line that {@code status},
 * {@code vmdumpfs info} and blocks.txt give ("partial: 1.9 of 4.0 GiB in the core; 2.1 GiB absent: core truncated at
 * offset 0x…"), and one line per absent range.
 */
public final class RamCoverage {

    /** At most this many absent ranges get a line of their own; the rest are counted. */
    public static final int MAX_LISTED = 16;

    private static final String[] UNITS = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

    private RamCoverage() {
    }

    /**
     * Returns one line: "complete: 256 MiB" when nothing is absent, else "partial: H of T in the core; A absent: why"
     * with held and total in the total's unit, and for each reason where its first range is.
     */
    public static String summary(GuestMemory m) {
        long held = m.totalBytes();
        if (!m.isPartial()) {
            return "complete: " + size(held);
        }
        long absent = m.absentBytes();
        long total = held + absent;
        int unit = unit(total);
        return "partial: " + in(held, unit) + " of " + in(total, unit) + " " + UNITS[unit] + " in the core; "
                + size(absent) + " absent: " + reasons(m);
    }

    /**
     * Returns why RAM is absent, one part per reason with its size and where its first range is ("core truncated at
     * offset 0x… (56 MiB: pc.ram, …)"); empty when nothing is absent.
     */
    public static String reasons(GuestMemory m) {
        Map<AbsentRange.Why, List<AbsentRange>> byWhy = new EnumMap<>(AbsentRange.Why.class);
        for (AbsentRange a : m.absent()) {
            byWhy.computeIfAbsent(a.why(), w -> new ArrayList<>()).add(a);
        }
        List<String> parts = new ArrayList<>();
        for (Map.Entry<AbsentRange.Why, List<AbsentRange>> e : byWhy.entrySet()) {
            parts.add(reason(e.getKey(), e.getValue(), m.core().size()));
        }
        return String.join("; ", parts);
    }

    /**
     * Returns one absent range in words: "guest 0xc800000-0x10000000 (56 MiB, pc.ram): core truncated; host
     * 0x7f593c600000, core offset 0xe408000".
     */
    public static String describe(AbsentRange a) {
        return "guest 0x" + Long.toHexString(a.guestPaddrStart()) + "-0x" + Long.toHexString(a.guestPaddrEnd()) + " ("
                + size(a.size()) + ", " + a.name() + "): " + a.why().words + "; host 0x"
                + Long.toHexString(a.hostVaddr())
                + (a.fileOffset() < 0 ? "" : ", core offset 0x" + Long.toHexString(a.fileOffset()));
    }

    private static String reason(AbsentRange.Why why, List<AbsentRange> ranges, long coreSize) {
        AbsentRange first = ranges.get(0);
        long bytes = ranges.stream().mapToLong(AbsentRange::size).sum();
        Set<String> names = new LinkedHashSet<>();
        ranges.forEach(a -> names.add(a.name()));
        String which = String.join(", ", names) + (ranges.size() > 1 ? ", " + ranges.size() + " ranges" : "")
                + " from guest 0x" + Long.toHexString(first.guestPaddrStart()) + ", host 0x"
                + Long.toHexString(first.hostVaddr());
        return switch (why) {
            case TRUNCATED -> "core truncated at offset 0x" + Long.toHexString(coreSize) + " (" + size(bytes) + ": "
                    + which + ")";
            case NOT_DUMPED -> "not dumped (" + size(bytes) + ": " + which
                    + "; the writer left the mapping's data out: never written to, or MADV_DONTDUMP)";
            case NOT_MAPPED -> "mapping not in the core (" + size(bytes) + ": " + which
                    + "; gdb leaves MADV_DONTDUMP mappings out)";
        };
    }

    /**
     * Returns one line per absent range (at most {@link #MAX_LISTED}, then a count): guest-physical start and end,
     * host address, core offset (or "-"), size, name and why, in the block table's columns.
     */
    public static List<String> absentLines(GuestMemory m, boolean withSize) {
        List<String> out = new ArrayList<>();
        List<AbsentRange> all = m.absent();
        for (int i = 0; i < all.size() && i < MAX_LISTED; i++) {
            AbsentRange a = all.get(i);
            StringBuilder sb = new StringBuilder();
            sb.append(hex16(a.guestPaddrStart())).append(' ').append(hex16(a.guestPaddrEnd())).append(' ')
                    .append(hex16(a.hostVaddr())).append(' ')
                    .append(a.fileOffset() < 0 ? String.format("%-16s", "-") : hex16(a.fileOffset())).append(' ');
            if (withSize) {
                sb.append(hex16(a.size())).append(' ');
            }
            sb.append(a.name().isBlank() ? "-" : a.name().strip().replaceAll("\\s+", "_")).append(' ')
                    .append(a.why().words);
            out.add(sb.toString());
        }
        if (all.size() > MAX_LISTED) {
            out.add("… and " + (all.size() - MAX_LISTED) + " more absent ranges");
        }
        return out;
    }

    /** Returns {@code n} bytes in the largest binary unit that keeps it at or above 1: "256 MiB", "1.5 GiB". */
    public static String size(long n) {
        int u = unit(n);
        return u == 0 ? n + " bytes" : in(n, u) + " " + UNITS[u];
    }

    private static int unit(long n) {
        int u = 0;
        while (u < UNITS.length - 1 && Long.compareUnsigned(n >>> (10 * u), 1024) >= 0) {
            u++;
        }
        return u;
    }

    /** Returns {@code n} in unit {@code u}: whole when exact, else one decimal. */
    private static String in(long n, int u) {
        if (u == 0) {
            return Long.toString(n);
        }
        double v = n / Math.pow(1024, u);
        return v == Math.floor(v) ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.1f", v);
    }

    private static String hex16(long v) {
        return String.format("%016x", v);
    }
}

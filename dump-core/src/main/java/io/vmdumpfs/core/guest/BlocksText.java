package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The block table as text: the output of {@code vmdumpfs blocks}, the content of blocks.txt, and the input of
 * {@code --blocks FILE}. A header line starting with {@code #}, then one row per block:
 *
 * <pre>
 * # target_start     target_end       host_addr        core_offset      size             name
 * 0000000000000000 00000000000a0000 00007f1c40000000 0000000000003000 00000000000a0000 pc.ram
 * </pre>
 *
 * <p>Numbers are 16 lowercase hex digits without 0x; target_end is exclusive, like QEMU's GuestPhysBlock. The size
 * column (target_end - target_start) is in blocks.txt and left out by {@code vmdumpfs blocks}.
 *
 * <p>The name is one word: QEMU's RAMBlock idstrs ("pc.ram", "0000:00:02.0/vga.vram") contain no blanks. When
 * rendering, an empty name becomes "-" and blanks inside a name become "_", so the table always parses back.
 */
public final class BlocksText {

    private static final HexFormat HEX = HexFormat.of();
    private static final String[] COLUMNS = {"target_start", "target_end", "host_addr", "core_offset", "size"};

    private BlocksText() {
    }

    /**
     * Returns the table of {@code memory}'s blocks, as {@link #render(List, boolean)}; when some guest RAM is absent
     * from the core, followed by comment lines that say how much and where ({@link RamCoverage}), so the table still
     * parses back to the blocks the core holds.
     */
    public static String render(GuestMemory memory, boolean withSize) {
        String table = render(memory.blocks(), withSize);
        if (!memory.isPartial()) {
            return table;
        }
        StringBuilder sb = new StringBuilder(table);
        sb.append("# ").append(RamCoverage.summary(memory)).append('\n');
        sb.append("# absent, in no row above (readers see these pages as not in the dump):\n");
        for (String line : RamCoverage.absentLines(memory, withSize)) {
            sb.append("# ").append(line).append('\n');
        }
        return sb.toString();
    }

    /** Returns the table for {@code blocks}, with the size column when {@code withSize}; every line ends in \n. */
    public static String render(List<GuestPhysBlock> blocks, boolean withSize) {
        int numbers = withSize ? 5 : 4;
        StringBuilder sb = new StringBuilder((blocks.size() + 1) * (17 * numbers + 16));
        sb.append('#');
        for (int c = 0; c < numbers; c++) {
            sb.append(' ').append(COLUMNS[c]).append(" ".repeat(16 - COLUMNS[c].length()));
        }
        sb.append(" name\n");
        for (GuestPhysBlock b : blocks) {
            sb.append(HEX.toHexDigits(b.guestPaddrStart())).append(' ')
                    .append(HEX.toHexDigits(b.guestPaddrEnd())).append(' ')
                    .append(HEX.toHexDigits(b.hostVaddr())).append(' ')
                    .append(HEX.toHexDigits(b.fileOffset())).append(' ');
            if (withSize) {
                sb.append(HEX.toHexDigits(b.size())).append(' ');
            }
            sb.append(word(b.name())).append('\n');
        }
        return sb.toString();
    }

    /**
     * Returns the blocks listed in {@code text}, the content of {@code file}. Accepts rows of 5 columns
     * (target_start target_end host_addr core_offset name) or 6 (… core_offset size name), numbers in hex with an
     * optional 0x and up to 16 digits; skips blank lines and lines starting with {@code #}. Whether the blocks lie
     * inside the core is checked later, by {@link GuestMemory}.
     *
     * @throws BadCoreException (CORRUPT) naming the file and "line N: problem" for a row with the wrong number of
     *                          columns, a number that is not hex, target_end not above target_start, a size that
     *                          disagrees with them, a core_offset that does not fit a file offset, a block below or
     *                          overlapping the one before; or when there is no row at all
     */
    public static List<GuestPhysBlock> parse(Path file, String text) {
        List<GuestPhysBlock> blocks = new ArrayList<>();
        int previousLine = 0;
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            int lineNo = i + 1;
            String line = lines[i].strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] cols = line.split("\\s+");
            if (cols.length != 5 && cols.length != 6) {
                throw corrupt(file, lineNo, "expected 5 columns (target_start target_end host_addr core_offset name)"
                        + " or 6 (with size before name), found " + cols.length);
            }
            long start = hex(file, lineNo, "target_start", cols[0]);
            long end = hex(file, lineNo, "target_end", cols[1]);
            long hostVaddr = hex(file, lineNo, "host_addr", cols[2]);
            long fileOffset = hex(file, lineNo, "core_offset", cols[3]);
            if (Long.compareUnsigned(end, start) <= 0) {
                throw corrupt(file, lineNo, "target_end " + hex(end) + " is not above target_start " + hex(start));
            }
            long size = end - start;
            if (cols.length == 6) {
                long listed = hex(file, lineNo, "size", cols[4]);
                if (listed != size) {
                    throw corrupt(file, lineNo, "size " + hex(listed) + " does not match target_end - target_start = "
                            + hex(size));
                }
            }
            if (fileOffset < 0 || size < 0 || fileOffset > Long.MAX_VALUE - size) {
                throw corrupt(file, lineNo, "core_offset " + hex(fileOffset) + " + size " + hex(size)
                        + " is beyond any file offset");
            }
            if (!blocks.isEmpty()) {
                GuestPhysBlock prev = blocks.get(blocks.size() - 1);
                if (Long.compareUnsigned(start, prev.guestPaddrStart()) < 0) {
                    throw corrupt(file, lineNo, "target_start " + hex(start) + " is below the previous block's "
                            + hex(prev.guestPaddrStart()) + " (line " + previousLine + "); blocks must be sorted");
                }
                if (Long.compareUnsigned(start, prev.guestPaddrEnd()) < 0) {
                    throw corrupt(file, lineNo, "block " + hex(start) + "-" + hex(end) + " overlaps the block on line "
                            + previousLine + ", which ends at " + hex(prev.guestPaddrEnd()));
                }
            }
            blocks.add(new GuestPhysBlock(start, end, hostVaddr, fileOffset, cols[cols.length - 1]));
            previousLine = lineNo;
        }
        if (blocks.isEmpty()) {
            throw new BadCoreException(Kind.CORRUPT, file,
                    "no blocks listed (expected rows of target_start target_end host_addr core_offset [size] name)");
        }
        return List.copyOf(blocks);
    }

    private static long hex(Path file, int lineNo, String column, String token) {
        String digits = token.startsWith("0x") || token.startsWith("0X") ? token.substring(2) : token;
        if (digits.isEmpty() || digits.length() > 16) {
            throw notHex(file, lineNo, column, token);
        }
        for (int i = 0; i < digits.length(); i++) {
            if (Character.digit(digits.charAt(i), 16) < 0) {
                throw notHex(file, lineNo, column, token);
            }
        }
        return Long.parseUnsignedLong(digits, 16);
    }

    private static BadCoreException notHex(Path file, int lineNo, String column, String token) {
        return corrupt(file, lineNo, column + " '" + token + "' is not a hex number of 1 to 16 digits");
    }

    private static BadCoreException corrupt(Path file, int lineNo, String problem) {
        return new BadCoreException(Kind.CORRUPT, file, "line " + lineNo + ": " + problem);
    }

    private static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }

    private static String word(String name) {
        if (name == null || name.isBlank()) {
            return "-";
        }
        return name.strip().replaceAll("\\s+", "_");
    }
}

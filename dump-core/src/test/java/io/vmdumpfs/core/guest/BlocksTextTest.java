package io.vmdumpfs.core.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vmdumpfs.core.BadCoreException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class BlocksTextTest {

    private static final Path FILE = Path.of("/tmp/blocks.txt");

    private static final List<GuestPhysBlock> BLOCKS = List.of(
            new GuestPhysBlock(0, 0xa0000, 0x7f1c40000000L, 0x3000, "pc.ram"),
            new GuestPhysBlock(0x100000, 0x8000000, 0x7f1c40100000L, 0xa3000, "pc.ram"),
            new GuestPhysBlock(0xfffc0000L, 0x100000000L, 0x7f1c3c000000L, 0x7fa3000, "pc.bios"),
            new GuestPhysBlock(0x100000000L, 0x140000000L, 0x7f1b00000000L, 0xffffffffffL, "0000:00:02.0/vga.vram"));

    @Test
    void render_withSize_exactText() {
        assertEquals("""
                # target_start     target_end       host_addr        core_offset      size             name
                0000000000000000 00000000000a0000 00007f1c40000000 0000000000003000 00000000000a0000 pc.ram
                0000000000100000 0000000008000000 00007f1c40100000 00000000000a3000 0000000007f00000 pc.ram
                00000000fffc0000 0000000100000000 00007f1c3c000000 0000000007fa3000 0000000000040000 pc.bios
                0000000100000000 0000000140000000 00007f1b00000000 000000ffffffffff 0000000040000000 0000:00:02.0/vga.vram
                """, BlocksText.render(BLOCKS, true));
    }

    @Test
    void render_withoutSize_exactText() {
        assertEquals("""
                # target_start     target_end       host_addr        core_offset      name
                0000000000000000 00000000000a0000 00007f1c40000000 0000000000003000 pc.ram
                """, BlocksText.render(BLOCKS.subList(0, 1), false));
    }

    @Test
    void render_blankOrSpacedName_staysOneWord() {
        List<GuestPhysBlock> odd = List.of(new GuestPhysBlock(0, 1, 0, 0, ""),
                new GuestPhysBlock(1, 2, 0, 0, "two words"));
        List<GuestPhysBlock> back = BlocksText.parse(FILE, BlocksText.render(odd, true));
        assertEquals("-", back.get(0).name());
        assertEquals("two_words", back.get(1).name());
    }

    @Test
    void parse_renderedWithSize_roundTrips() {
        assertEquals(BLOCKS, BlocksText.parse(FILE, BlocksText.render(BLOCKS, true)));
    }

    @Test
    void parse_renderedWithoutSize_roundTrips() {
        assertEquals(BLOCKS, BlocksText.parse(FILE, BlocksText.render(BLOCKS, false)));
    }

    @Test
    void parse_handWritten_acceptsCommentsBlanksCrlfAnd0x() {
        String text = "# my blocks\r\n\r\n   \n"
                + "0x0 0xA0000 0x7f1c40000000 3000 pc.ram\r\n"
                + "  # indented comment\n"
                + "\t100000   8000000 7f1c40100000 a3000 7f00000 pc.ram  \n";
        assertEquals(BLOCKS.subList(0, 2), BlocksText.parse(FILE, text));
    }

    @Test
    void parse_adjacentBlocks_accepted() {
        String text = "0 1000 0 0 a\n1000 2000 0 1000 b\n";
        assertEquals(2, BlocksText.parse(FILE, text).size());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            too few columns         | 0 1000 0 0                             | line 2: expected 5 columns (target_start target_end host_addr core_offset name) or 6 (with size before name), found 4
            too many columns        | 0 1000 0 0 1000 pc.ram extra           | line 2: expected 5 columns (target_start target_end host_addr core_offset name) or 6 (with size before name), found 7
            start not hex           | 0g 1000 0 0 pc.ram                     | line 2: target_start '0g' is not a hex number of 1 to 16 digits
            end not hex             | 0 -1000 0 0 pc.ram                     | line 2: target_end '-1000' is not a hex number of 1 to 16 digits
            host not hex            | 0 1000 x 0 pc.ram                      | line 2: host_addr 'x' is not a hex number of 1 to 16 digits
            offset not hex          | 0 1000 0 0x pc.ram                     | line 2: core_offset '0x' is not a hex number of 1 to 16 digits
            size not hex            | 0 1000 0 0 1k pc.ram                   | line 2: size '1k' is not a hex number of 1 to 16 digits
            seventeen digits        | 0 10000000000000000 0 0 pc.ram         | line 2: target_end '10000000000000000' is not a hex number of 1 to 16 digits
            empty block             | 1000 1000 0 0 pc.ram                   | line 2: target_end 0x1000 is not above target_start 0x1000
            inverted block          | 2000 1000 0 0 pc.ram                   | line 2: target_end 0x1000 is not above target_start 0x2000
            size mismatch           | 0 1000 0 0 2000 pc.ram                 | line 2: size 0x2000 does not match target_end - target_start = 0x1000
            offset too large        | 0 1000 0 8000000000000000 pc.ram       | line 2: core_offset 0x8000000000000000 + size 0x1000 is beyond any file offset
            offset plus size wraps  | 0 1000 0 7ffffffffffff000 pc.ram       | line 2: core_offset 0x7ffffffffffff000 + size 0x1000 is beyond any file offset
            """)
    void parse_malformedRow_namesLineAndProblem(String kind, String row, String message) {
        BadCoreException e = assertThrows(BadCoreException.class,
                () -> BlocksText.parse(FILE, "# header\n" + row + "\n"));
        assertEquals(BadCoreException.Kind.CORRUPT, e.kind());
        assertEquals(FILE, e.file());
        assertEquals(FILE + ": " + message, e.getMessage());
    }

    @Test
    void parse_unsorted_namesBothLines() {
        BadCoreException e = assertThrows(BadCoreException.class,
                () -> BlocksText.parse(FILE, "2000 3000 0 0 a\n\n1000 1800 0 0 b\n"));
        assertEquals(FILE + ": line 3: target_start 0x1000 is below the previous block's 0x2000 (line 1);"
                + " blocks must be sorted", e.getMessage());
    }

    @Test
    void parse_overlapping_namesBothLines() {
        BadCoreException e = assertThrows(BadCoreException.class,
                () -> BlocksText.parse(FILE, "1000 3000 0 0 a\n# x\n2fff 4000 0 0 b\n"));
        assertEquals(FILE + ": line 3: block 0x2fff-0x4000 overlaps the block on line 1, which ends at 0x3000",
                e.getMessage());
    }

    @Test
    void parse_noRows_corrupt() {
        BadCoreException e = assertThrows(BadCoreException.class,
                () -> BlocksText.parse(FILE, "# target_start target_end host_addr core_offset name\n\n"));
        assertEquals(BadCoreException.Kind.CORRUPT, e.kind());
        assertEquals(FILE + ": no blocks listed (expected rows of target_start target_end host_addr core_offset"
                + " [size] name)", e.getMessage());
    }
}

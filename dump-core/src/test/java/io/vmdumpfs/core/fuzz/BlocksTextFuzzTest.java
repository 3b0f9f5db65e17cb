package io.vmdumpfs.core.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.vmdumpfs.core.guest.BlocksText;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * The {@code --blocks FILE} parser on arbitrary text: a block list or a BadCoreException; and what it accepts
 * renders back (with and without the size column) to text that parses to the same addresses and offsets.
 *
 * <p>Names are only compared after one render: the renderer strips and replaces what {@link String#strip()} calls
 * white space (e.g. U+001C), which the parser's {@code \s+} split keeps inside a name. The name is a label; the
 * numbers decide which bytes are served.
 */
class BlocksTextFuzzTest {

    private static final Path FILE = Path.of("fuzz-blocks.txt");

    @FuzzTest
    void parse_anyText(byte[] data) {
        String text = new String(data, StandardCharsets.UTF_8);
        FuzzSupport.check("BlocksTextFuzzTest.parse_anyText", () -> {
            List<GuestPhysBlock> blocks = BlocksText.parse(FILE, text);
            String rendered = BlocksText.render(blocks, true);
            List<GuestPhysBlock> again = BlocksText.parse(FILE, rendered);
            assertEquals(numbers(blocks), numbers(again), "round trip with size");
            assertEquals(numbers(blocks), numbers(BlocksText.parse(FILE, BlocksText.render(blocks, false))),
                    "round trip without size");
            assertEquals(rendered, BlocksText.render(again, true), "a rendered table renders to itself");
        });
    }

    private static List<List<Long>> numbers(List<GuestPhysBlock> blocks) {
        return blocks.stream()
                .map(b -> List.of(b.guestPaddrStart(), b.guestPaddrEnd(), b.hostVaddr(), b.fileOffset()))
                .toList();
    }
}

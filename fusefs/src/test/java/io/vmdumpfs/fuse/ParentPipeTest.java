package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ParentPipeTest {

    @Test
    void failed_oneErrorLineOnce() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream saved = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            ParentPipe p = new ParentPipe();
            p.failed("core: not an ELF file\nsecond line");
            p.failed("again");
            p.ready(); // after an error: nothing, and stdio stays as it is
        } finally {
            System.setOut(saved);
        }
        assertEquals(ParentPipe.ERROR_PREFIX + "core: not an ELF file second line\n", out.toString(StandardCharsets.UTF_8));
    }
}

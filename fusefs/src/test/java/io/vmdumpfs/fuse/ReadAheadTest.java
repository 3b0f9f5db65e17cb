package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReadAheadTest {

    @TempDir
    Path tmp;

    @Test
    void sysfsFile_isTheBdiOfTheDevice() {
        assertEquals(Path.of("/sys/class/bdi/0:57/read_ahead_kb"), ReadAhead.sysfsFile("0:57"));
    }

    @Test
    void raise_lower_writesTheValue() throws Exception {
        Path f = Files.writeString(tmp.resolve("read_ahead_kb"), "128\n");
        assertEquals("read-ahead raised from 128 to 1024 KiB", ReadAhead.raise(f, 1024));
        assertEquals("1024", Files.readString(f));
    }

    @Test
    void raise_alreadyHigher_keepsIt() throws Exception {
        Path f = Files.writeString(tmp.resolve("read_ahead_kb"), "8192\n");
        assertEquals("read-ahead stays at 8192 KiB", ReadAhead.raise(f, 1024));
        assertEquals("8192\n", Files.readString(f));
    }

    @Test
    void raise_missingOrGarbage_changesNothing() throws Exception {
        assertTrue(ReadAhead.raise(tmp.resolve("absent"), 1024).startsWith("read-ahead unchanged"));
        Path f = Files.writeString(tmp.resolve("read_ahead_kb"), "lots\n");
        assertTrue(ReadAhead.raise(f, 1024).startsWith("read-ahead unchanged"));
        assertEquals("lots\n", Files.readString(f));
    }
}

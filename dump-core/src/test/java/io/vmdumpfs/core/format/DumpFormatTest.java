package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.guest.BlocksText;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DumpFormatTest {

    private static final String VMCI = "OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\n";

    @TempDir
    Path tmp;

    @Test
    void fileNames_uniqueAndFindable() {
        Set<String> names = Arrays.stream(DumpFormat.values()).map(DumpFormat::fileName).collect(Collectors.toSet());
        assertEquals(DumpFormat.values().length, names.size());
        for (DumpFormat f : DumpFormat.values()) {
            assertEquals(Optional.of(f), DumpFormat.byFileName(f.fileName()));
        }
        assertEquals(Optional.empty(), DumpFormat.byFileName("nope"));
        assertEquals("vmcore.elf", DumpFormat.ELF.fileName());
        assertEquals("blocks.txt", DumpFormat.BLOCKS.fileName());
        assertEquals("vmcoreinfo", DumpFormat.VMCOREINFO.fileName());
    }

    @Test
    void open_withVmcoreinfo_allFormats() throws Exception {
        try (SyntheticGuest g = SyntheticGuest.builder(tmp).blocks("0 a0000 pc.ram\n100000 100000 pc.ram")
                .vmcoreinfo(VMCI).build()) {
            FormatContext ctx = FormatContext.uncached();
            for (DumpFormat f : DumpFormat.values()) {
                assertTrue(f.availableFor(g.dump()), f.name());
            }
            assertInstanceOf(ElfView.class, DumpFormat.ELF.open(g.dump(), ctx));
            assertEquals(BlocksText.render(g.blocks(), true), text(DumpFormat.BLOCKS.open(g.dump(), ctx)));
            assertEquals(VMCI, text(DumpFormat.VMCOREINFO.open(g.dump(), ctx)));
        }
    }

    @Test
    void open_noVmcoreinfo_vmcoreinfoUnavailable() throws Exception {
        try (SyntheticGuest g = SyntheticGuest.builder(tmp).blocks("0 1000 pc.ram").build()) {
            assertTrue(DumpFormat.ELF.availableFor(g.dump()));
            assertTrue(DumpFormat.BLOCKS.availableFor(g.dump()));
            assertFalse(DumpFormat.VMCOREINFO.availableFor(g.dump()));
            BadCoreException e = assertThrows(BadCoreException.class,
                    () -> DumpFormat.VMCOREINFO.open(g.dump(), FormatContext.uncached()));
            assertEquals(BadCoreException.Kind.MISSING, e.kind());
        }
    }

    @Test
    void chunkCacheNone_get_computesEveryTime() {
        AtomicInteger calls = new AtomicInteger();
        ByteBuffer a = ChunkCache.NONE.get("k", k -> ByteBuffer.wrap(new byte[] {(byte) calls.incrementAndGet()}));
        ByteBuffer b = ChunkCache.NONE.get("k", k -> ByteBuffer.wrap(new byte[] {(byte) calls.incrementAndGet()}));
        assertEquals(2, calls.get());
        assertArrayEquals(new byte[] {1}, a.array());
        assertArrayEquals(new byte[] {2}, b.array());
    }

    @Test
    void formatContext_zeroThreads_throws() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new FormatContext(ChunkCache.NONE, IndexRepository.NONE, 0));
        assertEquals("threads must be at least 1, was 0", e.getMessage());
    }

    private static String text(View v) {
        ByteBuffer b = ByteBuffer.allocate((int) v.size());
        assertEquals(v.size(), v.read(0, b));
        return new String(b.array(), StandardCharsets.UTF_8);
    }
}

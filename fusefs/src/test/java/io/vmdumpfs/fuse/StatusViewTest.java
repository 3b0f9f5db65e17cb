package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.BytesView;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.guest.AbsentRange;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.Vcpus;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StatusViewTest {

    @Test
    void text_listsEachFileWithItsBuildState() {
        AtomicReference<String> state = new AtomicReference<>("x: building 10%");
        View building = new View() {
            @Override
            public long size() {
                return 0;
            }

            @Override
            public int read(long offset, ByteBuffer dst) {
                return 0;
            }

            @Override
            public Optional<String> buildStatus() {
                return Optional.of(state.get());
            }
        };
        StatusView v = new StatusView(List.of(new VirtualFile("a", () -> new BytesView(new byte[3])),
                new VirtualFile("x", () -> building),
                new VirtualFile("bad", () -> {
                    throw new BadCoreException(BadCoreException.Kind.CORRUPT, null, "broken");
                })));
        assertEquals("a: ready\nx: building 10%\nbad: failed: broken\n", read(v));
        state.set("x: ready 100%");
        assertTrue(read(v).contains("x: ready 100%\n"), "content is made afresh on each read");
        assertEquals(read(v).length(), v.size());
    }

    @Test
    void text_withChunkCache_endsWithItsUse() {
        io.vmdumpfs.cache.CaffeineChunkCache cache = new io.vmdumpfs.cache.CaffeineChunkCache(4L << 20);
        cache.get("k", k -> ByteBuffer.allocate((1 << 20) - io.vmdumpfs.cache.CaffeineChunkCache.ENTRY_OVERHEAD));
        cache.get("k", k -> ByteBuffer.allocate(1));
        StatusView v = new StatusView(List.of(new VirtualFile("a", () -> new BytesView(new byte[1]))), cache);
        assertEquals("a: ready\nchunk cache: 1.0 of 4.0 MiB, 1 hits, 1 misses\n", read(v));
    }

    @Test
    void text_withPartialRam_lineAfterVcpusSaysWhatIsAbsent(@TempDir Path dir) throws IOException {
        Path core = Files.write(dir.resolve("core"), new byte[0x10000]);
        try (CoreFile f = CoreFile.open(core)) {
            GuestMemory m = new GuestMemory(f,
                    List.of(new GuestPhysBlock(0, 0x3000, 0x7f0000000000L, 0x1000, "pc.ram")),
                    List.of(new AbsentRange(0x3000, 0x4000, 0x7f0000003000L, 0x4000, "pc.ram",
                            AbsentRange.Why.TRUNCATED)));
            StatusView v = new StatusView(List.of(new VirtualFile("a", () -> new BytesView(new byte[1]))),
                    io.vmdumpfs.core.format.ChunkCache.NONE, Vcpus.none("not looked for"), m);
            assertEquals("vCPUs: not found (not looked for)\nRAM: partial: 12 of 16 KiB in the core; 4 KiB absent: core"
                    + " truncated at offset 0x10000 (4 KiB: pc.ram from guest 0x3000, host 0x7f0000003000)\na: ready\n",
                    read(v));
        }
    }

    @Test
    void text_withNotePids_lineAfterVcpusSaysWhatPrPidCarries(@TempDir Path dir) {
        Vcpus v = io.vmdumpfs.core.testing.SyntheticCpu.x86_64Vcpus(2);
        StatusView s = new StatusView(List.of(new VirtualFile("a", () -> new BytesView(new byte[1]))),
                io.vmdumpfs.core.format.ChunkCache.NONE, v, io.vmdumpfs.core.format.NotePids.qemus(v, "no BTF"), null);
        assertEquals("vCPUs: 2, registers exact (synthetic)\npr_pid: QEMU's cpu+1 (no BTF)\na: ready\n", read(s));
        StatusView none = new StatusView(List.of(new VirtualFile("a", () -> new BytesView(new byte[1]))),
                io.vmdumpfs.core.format.ChunkCache.NONE, Vcpus.none("x"),
                io.vmdumpfs.core.format.NotePids.qemus(Vcpus.none("x"), "no vCPU notes"), null);
        assertEquals("vCPUs: not found (x)\na: ready\n", read(none), "no pr_pid line without notes");
    }

    @Test
    void read_pastEnd_returnsZero() {
        StatusView v = new StatusView(List.of(new VirtualFile("a", () -> new BytesView(new byte[1]))));
        assertEquals(0, v.read(v.size(), ByteBuffer.allocate(10)));
    }

    private static String read(View v) {
        ByteBuffer b = ByteBuffer.allocate(4096);
        v.read(0, b);
        return new String(b.array(), 0, b.position(), StandardCharsets.UTF_8);
    }
}

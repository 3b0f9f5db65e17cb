package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.BytesView;
import io.vmdumpfs.core.format.View;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

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

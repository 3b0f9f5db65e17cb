package io.vmdumpfs.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.IndexRepository;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CaffeineChunkCacheTest {

    record Key(int n) {
    }

    @TempDir
    Path tmp;

    @Test
    void get_sameKeyFromManyThreads_computesOnce() throws Exception {
        CaffeineChunkCache cache = new CaffeineChunkCache(1 << 20);
        AtomicInteger computed = new AtomicInteger();
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<ByteBuffer>> fs = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                fs.add(pool.submit(() -> {
                    start.await();
                    return cache.get(new Key(1), k -> {
                        computed.incrementAndGet();
                        sleep(50); // long enough for the others to arrive while it computes
                        return ByteBuffer.wrap(new byte[] {1, 2, 3});
                    });
                }));
            }
            start.countDown();
            ByteBuffer first = fs.get(0).get(10, TimeUnit.SECONDS);
            for (Future<ByteBuffer> f : fs) {
                assertSame(first, f.get(10, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, computed.get());
        assertEquals(1, cache.misses());
        assertEquals(7, cache.hits());
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void invalidate_cachedKey_nextGetComputesAgainAndWeightDrops() {
        CaffeineChunkCache cache = new CaffeineChunkCache(1 << 20);
        ByteBuffer first = cache.get(new Key(7), k -> ByteBuffer.wrap(new byte[1000]));
        cache.get(new Key(8), k -> ByteBuffer.wrap(new byte[10]));
        assertEquals(1010 + 2 * CaffeineChunkCache.ENTRY_OVERHEAD, cache.weightedBytes());
        cache.invalidate(new Key(7));
        assertEquals(10 + CaffeineChunkCache.ENTRY_OVERHEAD, cache.weightedBytes());
        assertEquals(1000, first.remaining(), "a holder keeps its buffer");
        cache.get(new Key(7), k -> ByteBuffer.wrap(new byte[1000]));
        assertEquals(3, cache.misses());
        cache.invalidate(new Key(99)); // absent: nothing happens
        assertEquals(1010 + 2 * CaffeineChunkCache.ENTRY_OVERHEAD, cache.weightedBytes());
    }

    @Test
    void delivered_allBytes_dropsTheChunk_partOfThem_keepsIt() {
        CaffeineChunkCache cache = new CaffeineChunkCache(1 << 20);
        cache.get(new Key(1), k -> ByteBuffer.wrap(new byte[1000]));
        cache.get(new Key(2), k -> ByteBuffer.wrap(new byte[1000]));
        cache.delivered(new Key(1), 600);
        cache.delivered(new Key(2), 999);
        assertEquals(2000 + 2 * CaffeineChunkCache.ENTRY_OVERHEAD, cache.weightedBytes(), "nothing delivered in full");
        cache.delivered(new Key(1), 400);
        assertEquals(1000 + CaffeineChunkCache.ENTRY_OVERHEAD, cache.weightedBytes(), "chunk 1 went out in full");
        cache.delivered(new Key(1), 1000); // absent now: nothing happens
        cache.delivered(new Key(3), 1000);
        int[] computed = {0};
        cache.get(new Key(1), k -> {
            computed[0]++;
            return ByteBuffer.wrap(new byte[1000]);
        });
        assertEquals(1, computed[0], "asked again: computed again");
        cache.get(new Key(2), k -> {
            computed[0]++;
            return ByteBuffer.wrap(new byte[1000]);
        });
        assertEquals(1, computed[0], "chunk 2 is still cached");
        assertEquals(1000 + 1000 + 2 * CaffeineChunkCache.ENTRY_OVERHEAD, cache.weightedBytes());
    }

    @Test
    void delivered_whileComputing_ignored() throws Exception {
        CaffeineChunkCache cache = new CaffeineChunkCache(1 << 20);
        CountDownLatch computing = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<ByteBuffer> f = pool.submit(() -> cache.get(new Key(5), k -> {
                computing.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return ByteBuffer.wrap(new byte[100]);
            }));
            computing.await();
            cache.delivered(new Key(5), 100); // not complete yet: nothing to count against
            release.countDown();
            assertEquals(100, f.get(10, TimeUnit.SECONDS).remaining());
            assertEquals(100 + CaffeineChunkCache.ENTRY_OVERHEAD, cache.weightedBytes());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void get_computeThrows_rethrownAndNothingCached() {
        CaffeineChunkCache cache = new CaffeineChunkCache(1 << 20);
        BadCoreException boom = new BadCoreException(BadCoreException.Kind.IO, null, "boom");
        assertSame(boom, assertThrows(BadCoreException.class, () -> cache.get(new Key(2), k -> {
            throw boom;
        })));
        ByteBuffer b = cache.get(new Key(2), k -> ByteBuffer.wrap(new byte[] {9}));
        assertEquals(9, b.get(0));
        assertEquals(2, cache.misses());
    }

    @Test
    void get_computeReturnsNull_throwsAndNothingCached() {
        CaffeineChunkCache cache = new CaffeineChunkCache(1 << 20);
        assertThrows(NullPointerException.class, () -> cache.get(new Key(3), k -> null));
        assertEquals(1, cache.get(new Key(3), k -> ByteBuffer.allocate(1)).capacity());
    }

    @Test
    void get_beyondBound_evictsToTheBound() {
        long bound = 1 << 20;
        CaffeineChunkCache cache = new CaffeineChunkCache(bound);
        for (int i = 0; i < 100; i++) {
            cache.get(new Key(i), k -> ByteBuffer.allocate(64 * 1024));
        }
        long w = cache.weightedBytes();
        assertTrue(w <= bound, "weighted " + w);
        assertTrue(w >= bound / 2, "keeps about the bound, weighted " + w);
        assertTrue(cache.statusLine().startsWith("chunk cache: "), cache.statusLine());
    }

    @Test
    void new_negativeSize_throws() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CaffeineChunkCache(-1));
        assertEquals("cache size must not be negative, was -1", e.getMessage());
    }

    @Test
    void of_sizes() {
        assertSame(ChunkCache.NONE, CaffeineChunkCache.of(OptionalLong.of(0)));
        assertEquals(CaffeineChunkCache.defaultBytes(),
                assertInstanceOf(CaffeineChunkCache.class, CaffeineChunkCache.of(OptionalLong.empty())).maxBytes());
        long ram = ((com.sun.management.OperatingSystemMXBean)
                java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getTotalMemorySize();
        assertEquals(Math.max(256L << 20, Math.min(1L << 30, ram / 16)), CaffeineChunkCache.defaultBytes(),
                "1/16 of RAM, between 256 MiB and 1 GiB");
        assertEquals(12345, ((CaffeineChunkCache) CaffeineChunkCache.of(OptionalLong.of(12345))).maxBytes());
    }

    private static byte[] readAll(View v, int step) {
        byte[] out = new byte[(int) v.size()];
        ByteBuffer dst = ByteBuffer.allocate(step);
        for (int pos = 0; pos < out.length; ) {
            dst.clear();
            int n = v.read(pos, dst);
            System.arraycopy(dst.array(), 0, out, pos, n);
            pos += n;
        }
        return out;
    }

    /** The kdump files through a small cache (so chunks are evicted and computed again) equal uncached reads. */
    @Test
    void kdumpViews_throughSmallCache_equalUncached() throws Exception {
        try (SyntheticGuest g = SyntheticGuest.builder(tmp).blocks("0 9f000 pc.ram\n100000 300000 pc.ram")
                .vmcoreinfo("OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\n").build()) {
            CaffeineChunkCache cache = new CaffeineChunkCache(256 * 1024);
            FormatContext cached = new FormatContext(cache, IndexRepository.NONE, 2);
            for (DumpFormat f : List.of(DumpFormat.KDUMP_ZLIB, DumpFormat.KDUMP_LZO, DumpFormat.KDUMP_SNAPPY,
                    DumpFormat.KDUMP_ZSTD)) {
                byte[] want = readAll(f.open(g.dump(), FormatContext.uncached()), 1 << 20);
                View v = f.open(g.dump(), cached);
                assertArrayEquals(want, readAll(v, 100_000), f.fileName());
                Random rnd = new Random(f.ordinal());
                for (int i = 0; i < 200; i++) {
                    int off = rnd.nextInt(want.length);
                    ByteBuffer dst = ByteBuffer.allocate(rnd.nextInt(20_000) + 1);
                    int n = v.read(off, dst);
                    for (int k = 0; k < n; k++) {
                        assertEquals(want[off + k], dst.get(k), f.fileName() + " at " + (off + k));
                    }
                }
            }
            assertTrue(cache.weightedBytes() <= 256 * 1024);
            assertTrue(cache.hits() > 0);
        }
    }
}

package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.BuildProgress.State;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class LazyIndexTest {

    private final ExecutorService builds = Executors.newSingleThreadExecutor();

    @AfterEach
    void stop() {
        builds.shutdownNow();
    }

    /** A source that counts its calls; builds with {@code build}, loads {@code loaded}. */
    static class Counting implements LazyIndex.Source<String> {
        final AtomicInteger loads = new AtomicInteger();
        final AtomicInteger builds = new AtomicInteger();
        final List<String> persisted = new ArrayList<>();
        final Optional<String> loaded;
        final Supplier<String> build;

        Counting(Optional<String> loaded, Supplier<String> build) {
            this.loaded = loaded;
            this.build = build;
        }

        @Override
        public Optional<String> load() {
            loads.incrementAndGet();
            return loaded;
        }

        @Override
        public String build(AtomicLong done) {
            builds.incrementAndGet();
            done.addAndGet(40);
            String s = build.get();
            done.addAndGet(60);
            return s;
        }

        @Override
        public synchronized void persist(String index) {
            persisted.add(index);
        }
    }

    @Test
    void get_manyThreads_buildsOnceAndPersists() throws Exception {
        CountDownLatch go = new CountDownLatch(1);
        Counting src = new Counting(Optional.empty(), () -> {
            try {
                go.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return "built";
        });
        LazyIndex<String> idx = new LazyIndex<>("f", 100, builds, src);
        assertEquals(State.NOT_STARTED, idx.progress().state());
        ExecutorService readers = Executors.newFixedThreadPool(4);
        try {
            List<Future<String>> fs = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                fs.add(readers.submit(idx::get));
            }
            while (idx.progress().state() != State.BUILDING) {
                Thread.sleep(5);
            }
            assertEquals(40, idx.progress().done());
            assertEquals(Optional.empty(), idx.ifReady(), "not ready while building");
            go.countDown();
            for (Future<String> f : fs) {
                assertEquals("built", f.get(10, TimeUnit.SECONDS));
            }
        } finally {
            readers.shutdownNow();
        }
        assertEquals(1, src.builds.get());
        assertEquals(1, src.loads.get());
        assertEquals(List.of("built"), src.persisted);
        BuildProgress p = idx.progress();
        assertEquals(State.READY, p.state());
        assertEquals(100, p.done());
        assertEquals(Optional.of("built"), idx.ifReady());
        assertTrue(p.line().startsWith("f: ready 100% (100/100 pages, "), p.line());
    }

    @Test
    void prepare_persisted_loadedOnTheCallersThread_neverBuilt() {
        Counting src = new Counting(Optional.of("loaded"), () -> "built");
        LazyIndex<String> idx = new LazyIndex<>("f", 100, builds, src);
        idx.prepare();
        assertEquals(State.READY, idx.progress().state(), "ready when prepare returns");
        assertEquals(100, idx.progress().done());
        assertEquals("loaded", idx.get());
        assertEquals(0, src.builds.get());
        assertEquals(List.of(), src.persisted, "a loaded index is not stored again");
    }

    @Test
    void get_loadThrows_builds() {
        LazyIndex<String> idx = new LazyIndex<>("f", 1, builds, new Counting(Optional.empty(), () -> "built") {
            @Override
            public Optional<String> load() {
                throw new IllegalStateException("unreadable");
            }
        });
        assertEquals("built", idx.get());
    }

    @Test
    void get_buildFails_everyCallerGetsItsOwnExceptionWithTheCause() {
        BadCoreException boom = new BadCoreException(BadCoreException.Kind.IO, Path.of("/core"), "read failed");
        Counting src = new Counting(Optional.empty(), () -> {
            throw boom;
        });
        LazyIndex<String> idx = new LazyIndex<>("vmcore.kdump-lzo", 100, builds, src);
        BadCoreException a = assertThrows(BadCoreException.class, idx::get);
        BadCoreException b = assertThrows(BadCoreException.class, idx::get);
        assertNotSame(a, b);
        assertSame(boom, a.getCause());
        assertEquals(boom.getMessage(), a.getMessage(), "the path once, not twice");
        assertEquals(BadCoreException.Kind.IO, a.kind());
        assertEquals(1, src.builds.get(), "not retried");
        BuildProgress p = idx.progress();
        assertEquals(State.FAILED, p.state());
        assertEquals("vmcore.kdump-lzo: failed: /core: read failed", p.line());
        assertEquals(Optional.empty(), idx.ifReady());
    }

    @Test
    void progress_queuedBehindAnotherBuild() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        LazyIndex<String> first = new LazyIndex<>("a", 1, builds, new Counting(Optional.empty(), () -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return "a";
        }));
        LazyIndex<String> second = new LazyIndex<>("b", 1, builds, new Counting(Optional.empty(), () -> "b"));
        first.prepare();
        second.prepare();
        while (first.progress().state() != State.BUILDING) {
            Thread.sleep(5);
        }
        assertEquals(State.QUEUED, second.progress().state(), "one build at a time");
        release.countDown();
        assertEquals("b", second.get());
        assertEquals("a", first.get());
    }
}

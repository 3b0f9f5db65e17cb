package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.kernel.GuestKernel;
import io.vmdumpfs.core.kernel.KernelUnavailableException;
import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticTasks;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a {@link FormatContext} shares between the files of one dump: made once, per dump, never nested wrongly. */
class FormatContextTest {

    @TempDir
    Path tmp;

    @Test
    void kernel_oneGuestKernelPerDump_usedByTheNotesPids() throws Exception {
        SyntheticTasks tasks = new SyntheticTasks(tmp, 0, 148);
        try (SyntheticGuest guest = tasks.build()) {
            GuestDump d = tasks.dump(tasks.vcpusOnTheirCpus());
            FormatContext ctx = FormatContext.uncached();
            GuestKernel k = ctx.kernel(d);
            assertSame(k, ctx.kernel(d));
            assertSame(k, ctx.findKernel(d).orElseThrow());
            assertNotSame(k, FormatContext.uncached().kernel(d), "another context opens its own");
            // NotePids made inside shared() asks shared() for the kernel: nested, and still one kernel
            assertEquals(148, NotePids.shared(d, ctx).pid(1));
            assertSame(k, ctx.kernel(d));
        }
    }

    @Test
    void kernel_unreadable_sameMessageEveryTime_andFindIsEmpty() throws Exception {
        try (SyntheticGuest guest = SyntheticGuest.builder(tmp).block(0, 1 << 20, "pc.ram").build()) {
            FormatContext ctx = FormatContext.uncached();
            String direct = assertThrows(KernelUnavailableException.class, () -> GuestKernel.open(guest.dump()))
                    .getMessage();
            for (int i = 0; i < 2; i++) {
                assertEquals(direct, assertThrows(KernelUnavailableException.class,
                        () -> ctx.kernel(guest.dump())).getMessage());
            }
            assertFalse(ctx.findKernel(guest.dump()).isPresent());
        }
    }

    @Test
    void shared_manyThreads_madeOnce_andAFailedMakeIsTriedAgain() throws Exception {
        try (SyntheticGuest guest = SyntheticGuest.builder(tmp).block(0, 1 << 20, "pc.ram").build()) {
            GuestDump d = guest.dump();
            FormatContext ctx = FormatContext.uncached();
            AtomicInteger makes = new AtomicInteger();
            CountDownLatch start = new CountDownLatch(1);
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<StringBuilder>> got = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    got.add(pool.submit(() -> {
                        start.await();
                        return ctx.shared(d, StringBuilder.class, x -> {
                            makes.incrementAndGet();
                            return new StringBuilder("made");
                        });
                    }));
                }
                start.countDown();
                StringBuilder first = got.get(0).get();
                for (Future<StringBuilder> f : got) {
                    assertSame(first, f.get());
                }
                assertEquals(1, makes.get());
            } finally {
                pool.shutdownNow();
            }
            assertThrows(IllegalStateException.class, () -> ctx.shared(d, Integer.class, x -> {
                throw new IllegalStateException("not yet");
            }));
            assertEquals(7, ctx.shared(d, Integer.class, x -> 7), "a failed make is not remembered");
        }
    }
}

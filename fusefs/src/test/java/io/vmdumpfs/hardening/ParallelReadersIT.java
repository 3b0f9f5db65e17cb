package io.vmdumpfs.hardening;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.testing.QemuFixture;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Eight threads read random ranges of every file of a real mount at once and must get exactly what one sequential
 * reader gets. References: one {@code cat} of each file through the mount before the parallel phase, each
 * cross-checked against {@code vmdumpfs convert} (no FUSE) for vmcore.elf and vmcore.kdump-zlib (every format with
 * {@code -Dhardening.full=true}). Before each parallel round the kernel's page cache of the mounted files is dropped
 * (posix_fadvise DONTNEED), so the reads reach vmdumpfs and are not answered from pages the sequential reader left.
 */
class ParallelReadersIT {

    static final boolean FULL = Boolean.getBoolean("hardening.full");
    static final int THREADS = 8;
    /** Read sizes: single bytes, odd sizes, pages, the 128 KiB FUSE maximum and a bit more, 1 MiB. */
    static final int[] SIZES = {1, 7, 512, 4096, 4097, 65536, 131072, 131072 + 13, 1 << 20};

    @TempDir
    static Path tmp;

    private static QemuFixture fixture;
    private static String identity;
    private static Path mnt;
    private static final Map<String, Path> REFERENCE = new LinkedHashMap<>();
    private static final Summary SUMMARY = new Summary("parallel");

    @BeforeAll
    static void mountAndReference() throws Exception {
        Mounts.requireFuse();
        fixture = QemuFixture.pc256();
        identity = Mounts.identity(fixture.core());
        mnt = Files.createDirectory(tmp.resolve("mnt"));
        Mounts.mountOk(tmp, fixture.core(), mnt);
        Path ref = Files.createDirectory(tmp.resolve("ref"));
        long t0 = System.nanoTime();
        try (Stream<Path> files = Files.list(mnt)) {
            // The status file reports build progress, which moves on: not a file with one right content.
            for (Path f : files.sorted().filter(f -> !f.getFileName().toString().equals("status")).toList()) {
                Path r = ref.resolve(f.getFileName().toString());
                Cli.Result cat = Cli.sh(tmp, "cat " + f + " > " + r);
                assertEquals(0, cat.rc(), "sequential read of " + f + ": " + cat.err());
                REFERENCE.put(f.getFileName().toString(), r);
            }
        }
        List<String> convertFormats = FULL ? List.copyOf(REFERENCE.keySet()) : List.of("vmcore.elf", "vmcore.kdump-zlib");
        for (String name : convertFormats) {
            Path out = tmp.resolve("convert-" + name);
            Cli.Result c = Cli.process(tmp, "convert", fixture.core().toString(), "--format", name, "-o", out.toString());
            assertEquals(0, c.rc(), "convert " + name + ": " + c.err());
            assertEquals(-1L, Files.mismatch(out, REFERENCE.get(name)), name + ": convert and the mount differ");
            Files.delete(out);
        }
        System.out.printf("ParallelReadersIT: references for %d files in %d ms%n", REFERENCE.size(),
                (System.nanoTime() - t0) / 1_000_000);
    }

    @AfterAll
    static void unmount() throws IOException {
        if (mnt != null) {
            Mounts.cleanUp(mnt);
        }
        if (fixture != null) {
            assertEquals(identity, Mounts.identity(fixture.core()), "the fixture core was not touched");
        }
    }

    @Test
    void eightThreads_randomRangesOfEveryFile_equalOneSequentialReader() throws Exception {
        int rounds = 2;
        int readsPerThread = FULL ? 10_000 : 1500;
        AtomicLong reads = new AtomicLong();
        AtomicLong bytes = new AtomicLong();
        List<String> mismatches = java.util.Collections.synchronizedList(new ArrayList<>());
        List<String> names = List.copyOf(REFERENCE.keySet());
        long t0 = System.nanoTime();
        for (int round = 0; round < rounds; round++) {
            dropPageCache();
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                long seed = 1000L * round + t;
                done.add(pool.submit(() -> readRandomly(seed, names, readsPerThread, reads, bytes, mismatches)));
            }
            for (Future<?> f : done) {
                f.get(10, TimeUnit.MINUTES);
            }
            pool.shutdown();
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        SUMMARY.put("parallel.threads", THREADS).put("parallel.files", names.size()).put("parallel.reads", reads.get())
                .put("parallel.bytes", bytes.get()).put("parallel.mismatches", mismatches.size())
                .put("parallel.seconds", ms / 1000.0);
        System.out.printf("ParallelReadersIT: %d reads (%d MiB) by %d threads in %d ms, %d mismatches%n", reads.get(),
                bytes.get() >> 20, THREADS, ms, mismatches.size());
        assertEquals(List.of(), mismatches.subList(0, Math.min(10, mismatches.size())));
        assertTrue(Mounts.isMounted(mnt), "still mounted");
    }

    /** One reader thread: its own descriptors, random file, offset and size; every read checked at once. */
    private static void readRandomly(long seed, List<String> names, int count, AtomicLong reads, AtomicLong bytes,
            List<String> mismatches) {
        Random r = new Random(seed);
        Map<String, FileChannel> open = new LinkedHashMap<>();
        try {
            for (int i = 0; i < count; i++) {
                String name = names.get(r.nextInt(names.size()));
                FileChannel ch = open.computeIfAbsent(name, n -> openChannel(mnt.resolve(n)));
                long size = Files.size(REFERENCE.get(name));
                // Mostly anywhere, sometimes right at the end (reads that cross EOF).
                long offset = r.nextInt(8) == 0 ? Math.max(0, size - r.nextInt(4096))
                        : (long) (r.nextDouble() * size);
                int len = SIZES[r.nextInt(SIZES.length)];
                byte[] got = read(ch, offset, len);
                byte[] want = reference(name, offset, len);
                reads.incrementAndGet();
                bytes.addAndGet(got.length);
                if (!Arrays.equals(got, want)) {
                    int at = Arrays.mismatch(got, want);
                    mismatches.add(name + " @" + offset + "+" + len + ": got " + got.length + " bytes, want "
                            + want.length + ", first difference at +" + at);
                }
            }
        } catch (IOException e) {
            mismatches.add("reader " + seed + " failed: " + e);
        } finally {
            for (FileChannel ch : open.values()) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // closing a read-only channel
                }
            }
        }
    }

    private static FileChannel openChannel(Path p) {
        try {
            return FileChannel.open(p, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads up to {@code len} bytes at {@code offset} with positional reads, stopping early only at EOF. */
    static byte[] read(FileChannel ch, long offset, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        while (b.hasRemaining()) {
            if (ch.read(b, offset + b.position()) <= 0) {
                break;
            }
        }
        return Arrays.copyOf(b.array(), b.position());
    }

    private static byte[] reference(String name, long offset, int len) throws IOException {
        try (FileChannel ch = FileChannel.open(REFERENCE.get(name), StandardOpenOption.READ)) {
            return read(ch, offset, len);
        }
    }

    /** Drops the kernel's cached pages of every mounted file, so the next reads ask vmdumpfs again. */
    private static void dropPageCache() throws IOException, InterruptedException {
        String py = "import os,sys\nfor p in sys.argv[1:]:\n    fd=os.open(p,os.O_RDONLY)\n"
                + "    os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)\n    os.close(fd)\n";
        List<String> cmd = new ArrayList<>(List.of("python3", "-c", py));
        REFERENCE.keySet().forEach(n -> cmd.add(mnt.resolve(n).toString()));
        Cli.Result r = Cli.command(tmp, cmd, Cli.PROCESS_TIMEOUT);
        assertEquals(0, r.rc(), "posix_fadvise: " + r.err());
    }
}

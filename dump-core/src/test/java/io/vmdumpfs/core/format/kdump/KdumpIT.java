package io.vmdumpfs.core.format.kdump;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.IndexRepository;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.testing.MemoryIndexRepository;
import io.vmdumpfs.core.testing.QemuFixture;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The kdump files of a real QEMU process core, opened by the real clients: crash must print for each file exactly
 * what it prints for QEMU's own ELF dump of the same guest ({@code sys}, {@code kmem -i}, {@code log} and a
 * {@code search -p} through all of guest RAM), and
 * {@code makedumpfile --dump-dmesg} must find the guest's marker in the zlib and lzo files (Debian's makedumpfile has
 * neither snappy nor zstd). makedumpfile translates kernel addresses with the sub-header's phys_base, so it also
 * checks that phys_base was read as the decimal number it is.
 *
 * <p>Needs the fixture script's tools (qemu, gdb, busybox), crash, makedumpfile and the guest kernel's debug vmlinux
 * (package linux-image-RELEASE-dbg); without them it reports a skip, and with CI=true it fails.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KdumpIT {


    @TempDir
    Path tmp;

    private QemuFixture fixture;
    private GuestDump dump;
    private Path vmlinux;
    private String marker;

    @BeforeAll
    void setUp() {
        QemuFixture.requireCommand("crash", "apt-get install crash");
        QemuFixture.requireCommand("makedumpfile", "apt-get install makedumpfile");
        fixture = QemuFixture.pc256();
        vmlinux = Path.of("/usr/lib/debug/boot/vmlinux-" + fixture.get("UNAME"));
        QemuFixture.require(Files.isRegularFile(vmlinux),
                vmlinux + " missing (apt-get install linux-image-" + fixture.get("UNAME") + "-dbg)");
        marker = "VMDUMPFS-MARKER " + fixture.get("TOKEN");
        dump = GuestDumps.open(fixture.core(), Optional.empty());
    }

    @AfterAll
    void tearDown() throws IOException {
        if (dump != null) {
            dump.close();
        }
    }

    private Path write(KdumpCodec codec) {
        return write(dump, codec);
    }

    /** Writes the whole view by sequential 1 MiB reads, as cp through FUSE would. */
    private Path write(GuestDump dump, KdumpCodec codec) {
        KdumpView v = KdumpView.open(dump, new FormatContext(ChunkCache.NONE, IndexRepository.NONE,
                Runtime.getRuntime().availableProcessors()), codec);
        Path file = tmp.resolve(codec.fileName());
        ByteBuffer buf = ByteBuffer.allocate(1 << 20);
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            long pos = 0;
            for (int n; (n = v.read(pos, buf.clear())) > 0; pos += n) {
                buf.flip();
                while (buf.hasRemaining()) {
                    out.write(buf);
                }
            }
            assertEquals(v.size(), pos);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    private static String run(String input, long timeoutSeconds, String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", command) + " did not finish");
            }
            assertEquals(0, p.exitValue(), String.join(" ", command) + " failed:\n" + out);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /**
     * crash's commands: {@code sys}, {@code kmem -i} and {@code log} read a few kernel structures; {@code search -p}
     * for the guest's last pattern line reads every page of guest RAM, so each page goes through crash's real
     * decompressor (zlib's uncompress, liblzo2's lzo1x_decompress_safe, libsnappy, libzstd).
     */
    private static String crashInput(QemuFixture f) {
        int lastLine = Integer.parseInt(f.get("PATTERN_MIB")) * 16384 - 1;
        return "sys\nkmem -i\nlog\nsearch -p -c " + f.get("PATTERN_PREFIX")
                + String.format(Locale.ROOT, "%08x", lastLine) + "-\nquit\n";
    }

    private String crash(Path file) {
        return crash(fixture, file);
    }

    private String crash(QemuFixture f, Path file) {
        String out = run(crashInput(f), 900, "crash", "-s", vmlinux.toString(), file.toString());
        // the only line that may differ: the file's name
        return out.lines().filter(l -> !l.strip().startsWith("DUMPFILE:")).collect(Collectors.joining("\n"));
    }

    private String elfCrashOutput;

    private synchronized String elfCrash() {
        if (elfCrashOutput == null) {
            elfCrashOutput = crash(fixture.qemuDumpElf());
            assertTrue(elfCrashOutput.contains(marker), "crash on QEMU's ELF dump shows the marker");
            assertTrue(elfCrashOutput.contains(": " + fixture.get("PATTERN_PREFIX")), "search -p finds the pattern");
            assertTrue(elfCrashOutput.contains("RELEASE: " + fixture.get("UNAME")), elfCrashOutput);
        }
        return elfCrashOutput;
    }

    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void crash_kdumpFile_sameOutputAsOnQemuElfDump(KdumpCodec codec) {
        Path file = write(codec);
        String got = crash(file);
        assertEquals(elfCrash(), got, "crash on " + codec.fileName() + " vs on qemu-dump.elf");
    }

    /**
     * A q35 guest with 3 GiB: RAM below the PCI hole and above 4 GiB, so the bitmaps have a 1 GiB hole and
     * max_mapnr lies beyond 4 GiB. One codec suffices here: the codecs are covered above.
     */
    @Test
    void crash_q35AboveFourGiB_sameOutputAsOnQemuElfDump() throws IOException {
        QemuFixture q35 = QemuFixture.q35big();
        QemuFixture.require(q35.get("UNAME").equals(fixture.get("UNAME")), "q35 fixture runs another kernel");
        try (GuestDump d = GuestDumps.open(q35.core(), Optional.empty())) {
            Path file = write(d, KdumpCodec.LZO);
            String want = crash(q35, q35.qemuDumpElf());
            assertTrue(want.contains(": " + q35.get("PATTERN_PREFIX")), "search -p finds the pattern");
            assertEquals(want, crash(q35, file));
            Files.delete(file);
        }
    }

    @ParameterizedTest
    @EnumSource(value = KdumpCodec.class, names = {"ZLIB", "LZO"})
    void makedumpfile_dumpDmesg_findsMarker(KdumpCodec codec) throws IOException {
        Path file = write(codec);
        Path dmesg = tmp.resolve(codec.codecName + ".dmesg");
        run("", 300, "makedumpfile", "--dump-dmesg", file.toString(), dmesg.toString());
        String log = Files.readString(dmesg, StandardCharsets.ISO_8859_1);
        assertTrue(log.contains(marker), "makedumpfile's dmesg of " + codec.fileName() + " has the marker");
    }

    /** Returns this JVM's CPU time: on a shared machine a steadier measure than wall-clock time. */
    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /** Not a pass/fail test: prints build throughput per codec (all cores and one), sizes and the reload time. */
    @Test
    void throughput_report() throws IOException {
        int cores = Runtime.getRuntime().availableProcessors();
        long ram = dump.memory().totalBytes();
        Path qemuKdump = fixture.dir().resolve("qemu-dump.kdump-zlib");
        StringBuilder report = new StringBuilder(String.format(Locale.ROOT,
                "kdump index build on %s (%d MiB guest RAM, %d cores); QEMU's flattened kdump-zlib: %s bytes%n",
                fixture.dir().getFileName(), ram >> 20, cores,
                Files.exists(qemuKdump) ? Long.toString(Files.size(qemuKdump)) : "n/a"));
        for (KdumpCodec codec : KdumpCodec.values()) {
            for (int threads : List.of(cores, 1)) {
                // a new context per run, so no run learns from another which pages are zero
                MemoryIndexRepository indexes = new MemoryIndexRepository();
                FormatContext ctx = new FormatContext(ChunkCache.NONE, indexes, threads);
                KdumpView v = KdumpView.open(dump, ctx, codec);
                long cpu0 = processCpuNanos();
                long t0 = System.nanoTime();
                long size = v.size();
                double s = (System.nanoTime() - t0) / 1e9;
                double cpu = (processCpuNanos() - cpu0) / 1e9;
                KdumpView again = KdumpView.open(dump, new FormatContext(ChunkCache.NONE, indexes, threads), codec);
                long t1 = System.nanoTime();
                assertEquals(size, again.size());
                double reload = (System.nanoTime() - t1) / 1e9;
                report.append(String.format(Locale.ROOT,
                        "  %-6s %d thread(s): %6.2f s, %7.1f MB/s of guest RAM (CPU %.2f s: %.1f MB/s per core), "
                                + "file %d bytes (%.1f%% of RAM); reload from the persisted index %.3f s%n",
                        codec.codecName, threads, s, ram / s / 1e6, cpu, ram / cpu / 1e6, size, 100.0 * size / ram,
                        reload));
            }
        }
        System.out.print(report);
        if (Files.isDirectory(Path.of("target"))) {
            Files.writeString(Path.of("target", "kdump-throughput.txt"), report);
        }
    }
}

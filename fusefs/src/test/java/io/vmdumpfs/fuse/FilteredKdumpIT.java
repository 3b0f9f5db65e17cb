package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.testing.Crash;
import io.vmdumpfs.core.testing.Drgn;
import io.vmdumpfs.core.testing.Libkdumpfile;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.Readelf;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Filtered kdump files ({@code -o dump_level=N}) of real QEMU cores against makedumpfile, the reference: the idle pc
 * 256 MiB guest, the q35 3 GiB one (RAM above 4 GiB, KASLR) and the pc 256 MiB guest whose RAM holds page cache with
 * and without buffer heads, anonymous memory (transparent huge pages), tmpfs and hugetlbfs pages
 * ({@link QemuFixture#pc256Memory()}). For N in 1, 2, 4, 8, 16, 31:
 * <ul>
 *   <li>the pages of {@code /MNT/vmcore.kdump-zlib} mounted with {@code dump_level=N} (its second bitmap) are exactly
 *       those of {@code makedumpfile -c -d N /MNT/vmcore.elf} (ours unfiltered), the first bitmaps agree below
 *       makedumpfile's max_mapnr, and the sub-header says N;</li>
 *   <li>every page the file holds, read by libkdumpfile, equals QEMU's own ELF dump, and every page it lacks is one
 *       the bitmap leaves out;</li>
 *   <li>{@code vmdumpfs info --dump-level N} counts, per class, the pages makedumpfile's report counts.</li>
 * </ul>
 * and the dump_level=31 file is read by crash ({@code sys}, {@code ps}, {@code kmem -i}, {@code log}: as on
 * makedumpfile's -d 31 file), drgn and libkdumpfile, and {@code vmdumpfs convert --dump-level 31} writes the same
 * bytes. Each mount builds its index from nothing (its own cache
 * directory).
 */
class FilteredKdumpIT {

    static final int[] LEVELS = {1, 2, 4, 8, 16, 31};

    /** makedumpfile's report lines, and the label of {@code vmdumpfs info} for the same count. */
    static final Map<String, String> REPORT = new LinkedHashMap<>();

    static {
        REPORT.put("Non-private cache pages", "non-private cache");
        REPORT.put("Private cache pages", "private cache");
        REPORT.put("User process data pages", "user data");
        REPORT.put("Free pages", "free pages");
        REPORT.put("Hwpoison pages", "hwpoison");
        REPORT.put("Offline pages", "offline");
    }

    @TempDir
    Path tmp;

    static Stream<String> fixtures() {
        return Stream.of("pc256", "pc256Memory", "q35big");
    }

    static QemuFixture fixture(String name) {
        return switch (name) {
            case "pc256" -> QemuFixture.pc256();
            case "pc256Memory" -> QemuFixture.pc256Memory();
            case "q35big" -> QemuFixture.q35big();
            default -> throw new IllegalArgumentException(name);
        };
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void dumpLevels_sameAsMakedumpfile_pagesAsQemu(String name) throws Exception {
        QemuFixture f = fixture(name);
        QemuFixture.requireCommand("makedumpfile", "apt-get install makedumpfile");
        Path qemuElf = f.qemuDumpElf();
        long qemuBytes = Readelf.loads(qemuElf).stream().mapToLong(Readelf.Phdr::filesz).sum();
        Path cache = Files.createDirectory(tmp.resolve("cache"));
        try (Mount plain = Mount.of(f.core(), tmp.resolve("plain"), cache, 0)) {
            Path elf = plain.mnt().resolve("vmcore.elf");
            for (int level : LEVELS) {
                String what = name + " dump_level=" + level;
                Path ref = tmp.resolve("makedumpfile-d" + level);
                long t0 = System.nanoTime();
                String report = run(20, "makedumpfile", "-c", "-d", Integer.toString(level), "--message-level",
                        "31", elf.toString(), ref.toString());
                long t1 = System.nanoTime();
                Bitmaps want = Bitmaps.of(ref);
                assertEquals(level, want.dumpLevel(), what + ": makedumpfile's header");

                long t2;
                long oursBytes;
                try (Mount m = Mount.of(f.core(), tmp.resolve("d" + level), cache, level)) {
                    Path ours = m.mnt().resolve("vmcore.kdump-zlib");
                    Bitmaps got = Bitmaps.of(ours);
                    t2 = System.nanoTime();
                    assertEquals(level, got.dumpLevel(), what + ": the sub-header's dump_level");
                    assertEquals(want.firstBitmap(), got.firstBitmap().get(0, (int) want.maxMapnr()),
                            what + ": RAM present (bitmap 1) below makedumpfile's max_mapnr 0x"
                                    + Long.toHexString(want.maxMapnr()));
                    assertBitmapsEqual(want.secondBitmap(), got.secondBitmap(), what);

                    Libkdumpfile.Comparison pages = Libkdumpfile.compareWithElf(ours, qemuElf);
                    long dumped = got.secondBitmap().cardinality();
                    assertEquals(dumped * 4096, pages.bytesEqual(), what + ": every dumped page, as QEMU's");
                    assertEquals(qemuBytes - dumped * 4096, pages.bytesAbsent(),
                            what + ": the pages left out, and only those, are absent (" + pages.absentWhy() + ")");
                    oursBytes = Files.size(ours);
                }
                long t3 = System.nanoTime();
                assertInfoCounts(f, level, report, want, what);
                System.out.printf(Locale.ROOT, "%s: makedumpfile %.1f s, %d bytes; ours %d bytes; libkdumpfile %.1f s;"
                        + " %d of %d pages dumped%n", what, (t1 - t0) / 1e9, Files.size(ref), oursBytes,
                        (t3 - t2) / 1e9, want.secondBitmap().cardinality(), want.firstBitmap().cardinality());
            }
        }
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void dumpLevel31_readersSeeTheGuest(String name) throws Exception {
        QemuFixture f = fixture(name);
        QemuFixture.requireCommand("makedumpfile", "apt-get install makedumpfile");
        Path vmlinux = Crash.vmlinux(f.get("UNAME"));
        Drgn.requireModule("drgn", "python3-drgn");
        Path cache = Files.createDirectory(tmp.resolve("cache"));
        Path ref = tmp.resolve("makedumpfile-d31");
        try (Mount plain = Mount.of(f.core(), tmp.resolve("plain"), cache, 0)) {
            run(20, "makedumpfile", "-c", "-d", "31", plain.mnt().resolve("vmcore.elf").toString(), ref.toString());
        }
        Map<String, String> theirs = Crash.run(vmlinux, ref, RealCoreMountIT.CRASH_COMMANDS);
        try (Mount m = Mount.of(f.core(), tmp.resolve("d31"), cache, 31)) {
            Path ours = m.mnt().resolve("vmcore.kdump-zlib");
            Map<String, String> crash = Crash.run(vmlinux, ours, RealCoreMountIT.CRASH_COMMANDS);
            for (String cmd : RealCoreMountIT.CRASH_COMMANDS) {
                assertEquals(theirs.get(cmd), crash.get(cmd), "crash `" + cmd + "` on " + name + " dump_level=31,"
                        + " as on makedumpfile -d 31's file");
            }
            assertTrue(crash.get("log").contains(f.get("MARKER")), "the kernel log holds the marker");

            Drgn.Facts drgn = Drgn.drgnFacts(vmlinux, ours);
            assertEquals(f.get("UNAME"), drgn.one("release"), "drgn on " + name + " dump_level=31");
            assertEquals(f.guestFacts().nodename(), drgn.one("nodename"));
            assertTrue(drgn.all("task").contains("init"), drgn.toString());

            Libkdumpfile.Info lk = Libkdumpfile.open(ours);
            assertEquals("x86_64", lk.arch());
            assertEquals(Optional.of(f.get("UNAME")), lk.osRelease());

            // vmdumpfs convert --dump-level writes the same file without FUSE
            Path converted = tmp.resolve("converted-d31");
            run(10, "java", "-jar", RealCoreMountIT.Cli.jar().toString(), "convert", "--format", "kdump-zlib",
                    "--dump-level", "31", "-o", converted.toString(), f.core().toString());
            assertEquals(-1, Files.mismatch(ours, converted), "convert --dump-level 31 and the mounted file differ");
        }
    }

    /**
     * The aarch64 guest (arm64 6.1, KASLR, 4 KiB pages) at dump_level=31, which its page-table walk makes possible.
     * makedumpfile on this x86 host does not read arm64 dumps, so there is no reference bitmap: the file is checked
     * against QEMU's own dump instead ({@link #assertLevel31AsQemu}). "Kernel data" ([_sdata, _end)) is mostly kept:
     * its end holds init_pg_dir, which arm64's paging_init gives back to the page allocator after boot, so those
     * pages may be free or reused like any other.
     */
    @org.junit.jupiter.api.Test
    void dumpLevel31_aarch64_pagesAsQemuAndTheKernelKept() throws Exception {
        assertLevel31AsQemu(QemuFixture.aarch64(), "aarch64");
    }

    /**
     * The i386 guest (Debian 6.1 686-pae, PAE, KASLR, FLATMEM: one {@code mem_map}, 4-byte words in its 40-byte
     * struct page) at dump_level=31, checked against QEMU's own dump as the aarch64 one is. No reference bitmap:
     * makedumpfile built for x86_64 (this host's) reads only dumps of its own architecture: it refuses our i386
     * vmcore.elf ("Can't convert a virtual address") and QEMU's ELF32 one ("Can't get the number of PT_LOAD"). On top: the memory map is FLATMEM's, and free pages, the bulk of
     * an idle 256 MiB guest, are what is left out most.
     */
    @org.junit.jupiter.api.Test
    void dumpLevel31_i386_pagesAsQemuAndTheKernelKept() throws Exception {
        String info = assertLevel31AsQemu(QemuFixture.i386(), "ia32");
        assertTrue(info.contains("FLATMEM through SYMBOL(mem_map)"), info);
        Map<String, Long> counts = infoCounts(info);
        assertTrue(counts.get("free pages") > counts.get("pages present") / 2, "an idle guest is mostly free\n" + info);
        assertTrue(counts.get("free pages") > counts.get("pages left out") * 9 / 10, info);
    }

    /**
     * A dump_level=31 file of a guest makedumpfile cannot read here, checked against QEMU's own dump: every page it
     * holds, read by libkdumpfile, equals QEMU's; every page it lacks is one bitmap 2 leaves out; the kernel's text
     * ("Kernel code" of the guest's /proc/iomem) is dumped but for pages all zero, which level 1 leaves out of every
     * kind, as makedumpfile does; "Kernel data" is mostly kept; free pages (most of an idle 256 MiB guest) are left
     * out; {@code vmdumpfs info} counts what the bitmap holds. Returns info's output.
     */
    private String assertLevel31AsQemu(QemuFixture f, String lkArch) throws Exception {
        Path qemuElf = f.qemuDumpElf();
        long qemuBytes = Readelf.loads(qemuElf).stream().mapToLong(Readelf.Phdr::filesz).sum();
        Path cache = Files.createDirectory(tmp.resolve("cache"));
        try (Mount m = Mount.of(f.core(), tmp.resolve("d31"), cache, 31)) {
            Path ours = m.mnt().resolve("vmcore.kdump-zlib");
            Bitmaps got = Bitmaps.of(ours);
            assertEquals(31, got.dumpLevel());
            long dumped = got.secondBitmap().cardinality();
            long present = got.firstBitmap().cardinality();
            assertEquals(qemuBytes / 4096, present, "bitmap 1: all of RAM");
            Libkdumpfile.Comparison pages = Libkdumpfile.compareWithElf(ours, qemuElf);
            assertEquals(dumped * 4096, pages.bytesEqual(), "every dumped page, as QEMU's");
            assertEquals(qemuBytes - dumped * 4096, pages.bytesAbsent(),
                    "the pages left out, and only those, are absent (" + pages.absentWhy() + ")");
            List<long[]> leftOut = new ArrayList<>();
            var code = f.guestFacts().iomem("Kernel code").get(0);
            long kernelPages = 0;
            for (long pfn = code.guestPaddr() >>> 12; pfn <= code.guestPaddrEnd() >>> 12; pfn++, kernelPages++) {
                if (!got.secondBitmap().get((int) pfn)) {
                    leftOut.add(new long[] {pfn << 12, 4096});
                }
            }
            var data = f.guestFacts().iomem("Kernel data").get(0);
            long dataPages = (data.guestPaddrEnd() >>> 12) - (data.guestPaddr() >>> 12) + 1;
            long dataKept = got.secondBitmap().get((int) (data.guestPaddr() >>> 12),
                    (int) (data.guestPaddrEnd() >>> 12) + 1).cardinality();
            assertTrue(dataKept > dataPages * 9 / 10, "Kernel data: " + dataKept + " of " + dataPages + " pages kept");
            assertTrue(leftOut.size() < kernelPages / 10, leftOut.size() + " of " + kernelPages + " kernel pages left");
            Libkdumpfile.read(qemuElf, Libkdumpfile.Space.MACHPHYS, leftOut, new Libkdumpfile.PageVisitor() {
                @Override
                public void data(long at, ByteBuffer bytes) {
                    for (int i = 0; i < bytes.remaining(); i++) {
                        assertEquals(0, bytes.get(i), "kernel page at 0x" + Long.toHexString(at) + " left out but"
                                + " not zero in QEMU's dump (byte " + i + ")");
                    }
                }

                @Override
                public void absent(long at, long length, String why) {
                    throw new AssertionError("QEMU's dump lacks 0x" + Long.toHexString(at) + ": " + why);
                }
            });
            assertTrue(dumped < present / 2, "an idle guest's free pages are left out: " + dumped + " of " + present);
            Libkdumpfile.Info lk = Libkdumpfile.open(ours);
            assertEquals(lkArch, lk.arch());
            assertEquals(f.guestFacts().nodename(), lk.utsname().get("nodename"));

            String info = run(10, "java", "-jar", RealCoreMountIT.Cli.jar().toString(), "info", "--dump-level", "31",
                    f.core().toString());
            Map<String, Long> counts = infoCounts(info);
            assertEquals(dumped, counts.get("pages dumped"), info);
            assertEquals(present, counts.get("pages present"), info);
            assertEquals(present - dumped, counts.get("pages left out"), info);
            System.out.printf(Locale.ROOT, "%s dump_level=31: %d of %d pages dumped, %d bytes; %d of %d kernel code"
                    + " pages left out (zero), %d of %d kernel data pages kept%n", lkArch, dumped, present,
                    Files.size(ours), leftOut.size(), kernelPages, dataKept, dataPages);
            return info;
        }
    }

    /** Compares {@code vmdumpfs info --dump-level N}'s counts with makedumpfile's report of the same level. */
    private void assertInfoCounts(QemuFixture f, int level, String report, Bitmaps want, String what)
            throws IOException, InterruptedException {
        String info = run(10, "java", "-jar", RealCoreMountIT.Cli.jar().toString(), "info", "--dump-level",
                Integer.toString(level), f.core().toString());
        Map<String, Long> ours = infoCounts(info);
        for (Map.Entry<String, String> e : REPORT.entrySet()) {
            assertEquals(reportNumber(report, e.getKey()), ours.get(e.getValue()),
                    what + ": " + e.getValue() + " (makedumpfile's '" + e.getKey() + "')\n" + info);
        }
        if ((level & 1) != 0) {
            // makedumpfile counts zero pages only where it leaves them out (as one shared page)
            assertEquals(reportNumber(report, "Pages filled with zero"), ours.get("zero"), what + ": zero\n" + info);
        }
        assertEquals(reportNumber(report, "Original pages"),
                ours.get("pages present") - ours.get("above the kernel's memory map"), what + ": pages makedumpfile"
                        + " sees (ours, less those past the memory map)\n" + info);
        assertEquals(want.secondBitmap().cardinality(), ours.get("pages dumped"), what + ": pages dumped\n" + info);
    }

    /** Returns the page counts of {@code vmdumpfs info}'s dump-level lines: label → pages. */
    static Map<String, Long> infoCounts(String info) {
        Map<String, Long> m = new LinkedHashMap<>();
        Matcher x = Pattern.compile("(?m)^\\s*([a-z][a-z' -]*[a-z]):\\s+(\\d+) \\(").matcher(info);
        while (x.find()) {
            m.put(x.group(1), Long.parseLong(x.group(2)));
        }
        return m;
    }

    /** Returns the hex number after "{@code key} :" in makedumpfile's report. */
    static long reportNumber(String report, String key) {
        Matcher m = Pattern.compile("(?m)^\\s*" + key + "\\s*: 0x(\\p{XDigit}+)").matcher(report);
        assertTrue(m.find(), "no '" + key + "' in makedumpfile's report:\n" + report);
        return Long.parseUnsignedLong(m.group(1), 16);
    }

    private static void assertBitmapsEqual(BitSet want, BitSet got, String what) {
        BitSet onlyOurs = (BitSet) got.clone();
        onlyOurs.andNot(want);
        BitSet onlyTheirs = (BitSet) want.clone();
        onlyTheirs.andNot(got);
        assertTrue(onlyOurs.isEmpty() && onlyTheirs.isEmpty(), what + ": the dumped pages (bitmap 2) differ from "
                + "makedumpfile's: " + onlyOurs.cardinality() + " only ours (" + sample(onlyOurs) + "), "
                + onlyTheirs.cardinality() + " only makedumpfile's (" + sample(onlyTheirs) + ")");
    }

    private static String sample(BitSet s) {
        List<String> out = new ArrayList<>();
        for (int i = s.nextSetBit(0); i >= 0 && out.size() < 8; i = s.nextSetBit(i + 1)) {
            out.add("pfn 0x" + Integer.toHexString(i));
        }
        return String.join(", ", out);
    }

    /**
     * A kdump-compressed file's two bitmaps and dump level, read as crash's diskdump.c reads them (the disk_dump_header
     * at 0, the kdump_sub_header one block on, the bitmaps after the sub-header's blocks: the first half of
     * bitmap_blocks RAM present, the second pages dumped).
     */
    record Bitmaps(int dumpLevel, long maxMapnr, BitSet firstBitmap, BitSet secondBitmap) {

        static Bitmaps of(Path file) throws IOException {
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
                ByteBuffer h = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
                f.readFully(h.array());
                assertEquals("KDUMP   ", new String(h.array(), 0, 8, StandardCharsets.US_ASCII), file.toString());
                // signature[8], header_version, utsname (6 x 65), a struct timeval (8-aligned, 16 bytes), then
                int at = (8 + 4 + 6 * 65 + 7) / 8 * 8 + 16;
                int blockSize = h.getInt(at + 4);
                int subHdrSize = h.getInt(at + 8);
                int bitmapBlocks = h.getInt(at + 12);
                long maxMapnr32 = Integer.toUnsignedLong(h.getInt(at + 16));
                ByteBuffer sub = ByteBuffer.allocate(104).order(ByteOrder.LITTLE_ENDIAN);
                f.seek(blockSize);
                f.readFully(sub.array());
                int dumpLevel = sub.getInt(8);
                long maxMapnr = h.getInt(12) >= 6 ? sub.getLong(96) : maxMapnr32; // header_version 6: max_mapnr_64
                byte[] bitmaps = new byte[Math.multiplyExact(bitmapBlocks, blockSize)];
                f.seek((long) (1 + subHdrSize) * blockSize);
                f.readFully(bitmaps);
                int half = bitmaps.length / 2;
                return new Bitmaps(dumpLevel, maxMapnr, BitSet.valueOf(ByteBuffer.wrap(bitmaps, 0, half)),
                        BitSet.valueOf(ByteBuffer.wrap(bitmaps, half, half)));
            }
        }
    }

    /** A mount of the real command line with {@code -o dump_level=N}, its indexes in {@code cache}. */
    record Mount(Path mnt) implements AutoCloseable {

        static Mount of(Path core, Path mnt, Path cache, int level) throws IOException, InterruptedException {
            Files.createDirectories(mnt);
            List<String> argv = new ArrayList<>(List.of("java", "-jar", RealCoreMountIT.Cli.jar().toString()));
            if (level != 0) {
                argv.addAll(List.of("-o", "dump_level=" + level));
            }
            argv.addAll(List.of(core.toString(), mnt.toString()));
            ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true);
            pb.environment().put("XDG_CACHE_HOME", cache.toString());
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(5, TimeUnit.MINUTES), "mount did not return");
            assertEquals(0, p.exitValue(), "vmdumpfs " + String.join(" ", argv) + ": " + out);
            return new Mount(mnt);
        }

        @Override
        public void close() throws IOException, InterruptedException {
            new RealCoreMountIT.Cli.Mount(mnt).close();
        }
    }

    /** Runs {@code command}, fails unless it exits 0 within {@code minutes}; returns stdout and stderr. */
    static String run(int minutes, String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(minutes, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " did not finish");
        }
        assertEquals(0, p.exitValue(), String.join(" ", command) + ":\n" + out);
        return out;
    }
}

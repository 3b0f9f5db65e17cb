package io.vmdumpfs.core.format.kdump;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.ElfView;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.IndexRepository;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.QemuFixture.RangeDump;
import io.vmdumpfs.core.testing.Readelf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A 64 GiB guest that booted Debian's kernel ({@link QemuFixture#q35Mem64g()}: reserve=off, a kernel-written core of
 * 64 GiB holding about 1.5 GB of data): every page of each kdump file, decompressed and compared by pfn, against
 * QEMU's own bytes. QEMU cannot dump this guest whole on a host without a zero page (it would fault in all 64 GiB), so
 * the ground truth is QEMU's ELF dumps of the ranges the host held pages of when QEMU stopped, and of 16 sampled
 * ranges it held none of ({@link QemuFixture#rangeDumps()}): a page in a QEMU dump must equal QEMU's bytes, and every
 * other page must be zero, since the host never had it (pagemap). vmcore.elf must hold QEMU's bytes over the same
 * ranges.
 *
 * <p>Page size and byte order are x86-64's: the fixture is one.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BigGuestIT {

    private static final int PAGE = 4096;

    /** One PT_LOAD of a QEMU dump, mapped: guest-physical [paddr, paddr + bytes.capacity()). */
    private record Truth(long paddr, MappedByteBuffer bytes, RangeDump range) {
        long end() {
            return paddr + bytes.capacity();
        }
    }

    private QemuFixture fixture;
    private GuestDump dump;
    private List<RangeDump> ranges;
    /** QEMU's segments, sorted by paddr, not overlapping. */
    private final List<Truth> truth = new ArrayList<>();
    private final List<FileChannel> open = new ArrayList<>();

    @BeforeAll
    void setUp() throws IOException {
        fixture = QemuFixture.q35Mem64g();
        ranges = fixture.rangeDumps();
        for (RangeDump r : ranges) {
            FileChannel ch = FileChannel.open(r.file(), StandardOpenOption.READ);
            open.add(ch);
            for (Readelf.Phdr p : Readelf.loads(r.file())) {
                assertEquals(p.memsz(), p.filesz(), r.file() + ": QEMU's paging=false dump holds every byte");
                assertTrue(p.paddr() >= r.guestPaddr() && p.paddr() + p.filesz() <= r.guestPaddrEnd(),
                        r.file() + ": segment outside its range");
                truth.add(new Truth(p.paddr(), ch.map(FileChannel.MapMode.READ_ONLY, p.offset(), p.filesz()), r));
            }
        }
        truth.sort((a, b) -> Long.compareUnsigned(a.paddr, b.paddr));
        for (int i = 1; i < truth.size(); i++) {
            assertTrue(truth.get(i - 1).end() <= truth.get(i).paddr, "QEMU's range dumps overlap");
        }
        assertTrue(ranges.stream().anyMatch(RangeDump::hole) && ranges.stream().anyMatch(r -> !r.hole()),
                "the fixture has data ranges and hole samples");
        dump = GuestDumps.open(fixture.core(), Optional.empty());
    }

    @AfterAll
    void tearDown() throws IOException {
        if (dump != null) {
            dump.close();
        }
        for (FileChannel ch : open) {
            ch.close();
        }
    }

    /** Returns the index of the first QEMU segment ending after {@code paddr}, looking from {@code hint} on. */
    private int segmentAt(long paddr, int hint) {
        int i = Math.max(0, hint);
        while (i < truth.size() && truth.get(i).end() <= paddr) {
            i++;
        }
        return i;
    }

    private boolean inDataRange(long paddr) {
        for (RangeDump r : ranges) {
            if (!r.hole() && paddr >= r.guestPaddr() && paddr < r.guestPaddrEnd()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Every page of the kdump file: in a QEMU dump, equal to QEMU's bytes; anywhere else, zero (the host never held
     * it). Every page QEMU dumped is in the file, and no page of a data range that QEMU did not dump (not RAM).
     */
    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void kdumpPages_equalQemusBytesAndZeroElsewhere(KdumpCodec codec) throws IOException {
        KdumpView v = KdumpView.open(dump, new FormatContext(ChunkCache.NONE, IndexRepository.NONE,
                Runtime.getRuntime().availableProcessors()), codec);
        long[] compared = new long[1];
        long[] nonZeroCompared = new long[1];
        long[] zeroElsewhere = new long[1];
        long[] holeSamplePages = new long[1];
        int[] seg = new int[1];
        byte[] want = new byte[PAGE];
        KdumpWalker.Summary s = KdumpWalker.walk(v::read, ByteOrder.LITTLE_ENDIAN, p -> {
            long paddr = p.pfn() * PAGE;
            seg[0] = segmentAt(paddr, seg[0]);
            Truth t = seg[0] < truth.size() && truth.get(seg[0]).paddr <= paddr ? truth.get(seg[0]) : null;
            if (t != null) {
                t.bytes.get(Math.toIntExact(paddr - t.paddr), want);
                if (!Arrays.equals(want, p.bytes())) {
                    fail(codec.fileName() + ": page at 0x" + Long.toHexString(paddr) + " differs from QEMU's "
                            + t.range.file().getFileName());
                }
                compared[0]++;
                if (!p.zero()) {
                    nonZeroCompared[0]++;
                }
                if (t.range.hole()) {
                    holeSamplePages[0]++;
                }
            } else {
                if (inDataRange(paddr)) {
                    fail(codec.fileName() + ": page at 0x" + Long.toHexString(paddr)
                            + " is in a data range but QEMU does not dump it (not RAM)");
                }
                if (!p.zero()) {
                    fail(codec.fileName() + ": page at 0x" + Long.toHexString(paddr)
                            + " is not zero, but the host never held it");
                }
                zeroElsewhere[0]++;
            }
        });
        long qemuPages = truth.stream().mapToLong(t -> t.bytes.capacity() / PAGE).sum();
        assertEquals(qemuPages, compared[0], "every page QEMU dumped is in " + codec.fileName());
        assertEquals(qemuRamBytes() / PAGE, s.present(), "present pages: the RAM of QEMU's info mtree -f");
        assertEquals(s.present(), s.dumped(), "every present page is dumped");
        assertEquals(s.present(), compared[0] + zeroElsewhere[0]);
        assertEquals(ranges.stream().filter(RangeDump::hole).mapToLong(r -> r.length() / PAGE).sum(),
                holeSamplePages[0], "the sampled holes are RAM, all of it in the file");
        assertTrue(nonZeroCompared[0] > 100_000, "the guest's data: " + nonZeroCompared[0] + " pages");
    }

    /**
     * Returns the bytes of RAM (ram and rom ranges) in the FlatView of AddressSpace "memory" (qemu-mtree.txt, HMP's
     * output: CRLF line ends).
     */
    private long qemuRamBytes() throws IOException {
        Pattern range = Pattern.compile("^\\s+([0-9a-f]+)-([0-9a-f]+) \\(prio -?\\d+, (ram|rom|romd)\\): ");
        long total = 0;
        boolean inView = false;
        boolean found = false;
        for (String line : Files.readAllLines(fixture.dir().resolve("qemu-mtree.txt"))) {
            line = line.stripTrailing();
            if (line.startsWith("FlatView #")) {
                inView = false;
            } else if (line.startsWith(" AS \"memory\", ")) {
                inView = true;
                found = true;
            } else if (inView) {
                Matcher m = range.matcher(line);
                if (m.find()) {
                    total += Long.parseUnsignedLong(m.group(2), 16) + 1 - Long.parseUnsignedLong(m.group(1), 16);
                }
            }
        }
        assertTrue(found, "no FlatView of AddressSpace memory in qemu-mtree.txt");
        return total;
    }

    /** vmcore.elf over every range QEMU dumped: the same bytes; over the sampled holes: zeros, as QEMU's. */
    @Test
    void vmcoreElf_qemuRanges_sameBytes() throws IOException {
        ElfView elf = new ElfView(dump);
        ByteBuffer head = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        elf.read(0, head);
        long phoff = head.getLong(32);
        int phentsize = head.getShort(54) & 0xffff;
        int phnum = head.getShort(56) & 0xffff;
        ByteBuffer ph = ByteBuffer.allocate(phentsize * phnum).order(ByteOrder.LITTLE_ENDIAN);
        elf.read(phoff, ph);
        List<long[]> loads = new ArrayList<>(); // paddr, offset, filesz
        for (int i = 0; i < phnum; i++) {
            int at = i * phentsize;
            if (ph.getInt(at) == 1) {
                loads.add(new long[] {ph.getLong(at + 24), ph.getLong(at + 8), ph.getLong(at + 32)});
            }
        }
        ByteBuffer ours = ByteBuffer.allocate(1 << 20);
        long compared = 0;
        for (Truth t : truth) {
            for (long done = 0; done < t.bytes.capacity(); ) {
                long paddr = t.paddr + done;
                long[] load = loads.stream().filter(l -> paddr >= l[0] && paddr < l[0] + l[2]).findFirst()
                        .orElseThrow(() -> new AssertionError("vmcore.elf has no PT_LOAD for 0x"
                                + Long.toHexString(paddr)));
                int n = (int) Math.min(ours.capacity(), Math.min(t.bytes.capacity() - done, load[0] + load[2] - paddr));
                ours.clear().limit(n);
                while (ours.hasRemaining()) {
                    int r = elf.read(load[1] + (paddr - load[0]) + ours.position(), ours);
                    assertTrue(r > 0, "vmcore.elf ends early");
                }
                ours.flip();
                ByteBuffer theirs = t.bytes.slice(Math.toIntExact(done), n);
                int m = ours.mismatch(theirs);
                if (m >= 0) {
                    fail("vmcore.elf: page at 0x" + Long.toHexString((paddr + m) & ~0xfffL) + " differs from QEMU's "
                            + t.range.file().getFileName());
                }
                done += n;
                compared += n;
            }
        }
        assertEquals(truth.stream().mapToLong(t -> t.bytes.capacity()).sum(), compared);
    }

    /** The four indexes of a 64 GiB guest holding ~1.4 GB cost a few MiB of heap, not 2 bytes per guest page. */
    @Test
    void indexes_costFollowTheData() {
        FormatContext ctx = new FormatContext(ChunkCache.NONE, IndexRepository.NONE,
                Runtime.getRuntime().availableProcessors());
        long heap = 0;
        long stored = 0;
        for (KdumpCodec codec : KdumpCodec.values()) {
            KdumpIndex idx = KdumpView.open(dump, ctx, codec).layout().index();
            heap += idx.heapBytes();
            stored = idx.stored().count();
        }
        long dataPages = dump.core().dataRuns().dataBytes() / PAGE;
        assertTrue(stored <= dataPages, stored + " stored pages, " + dataPages + " pages of data in the core");
        assertTrue(heap <= 10 * dataPages, "four indexes take " + heap + " bytes for " + dataPages
                + " pages of data; 2 bytes per guest page would be " + 8 * (fixture.memBytes() / PAGE));
    }
}

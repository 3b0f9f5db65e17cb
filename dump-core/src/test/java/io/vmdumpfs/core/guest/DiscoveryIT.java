package io.vmdumpfs.core.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.Readelf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Discovery on real QEMU process cores, judged against QEMU's own dump-guest-memory of the same stopped guest (read
 * through readelf and raw file reads, not through our code).
 */
class DiscoveryIT {

    @Test
    void open_pc256_matchesQemuDump() throws IOException {
        checkAgainstQemu(QemuFixture.pc256());
    }

    @Test
    void open_q35With3GiB_matchesQemuDumpAcross4GiB() throws IOException {
        QemuFixture f = QemuFixture.q35big();
        try (GuestDump d = checkAgainstQemu(f)) {
            assertTrue(d.memory().blocks().stream().anyMatch(b -> b.guestPaddrStart() >= 1L << 32),
                    "3 GiB q35 guest should have RAM above 4 GiB");
        }
    }

    @Test
    void open_withQemuFacts_findsVersionAndVcpus() throws IOException {
        QemuFixture f = QemuFixture.pc256();
        try (GuestDump d = GuestDumps.open(f.core(), Optional.empty(), true)) {
            // meta.env has `qemu-system-x86_64 --version`: "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-…)".
            String expected = f.get("QEMU_VERSION").replace("QEMU emulator version ", "");
            assertEquals(expected, d.qemuVersion().orElse("not found"));
            assertEquals(2, d.vcpus().count().orElse(-1), "the fixture runs -smp 2");
        }
    }

    @Test
    void open_dumpGuestCoreOff_failsWithHint() {
        QemuFixture f = QemuFixture.pc256NoGuestCore();
        BadCoreException e = assertThrows(BadCoreException.class, () -> GuestDumps.open(f.core(), Optional.empty()));
        assertEquals(BadCoreException.Kind.MISSING, e.kind());
        assertTrue(e.getMessage().startsWith(f.core().toString()), e.getMessage());
        assertTrue(e.getMessage().contains("dump-guest-core=on"), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), "one line");
    }

    /**
     * The kernel's core dumper writes a MADV_DONTDUMP mapping (dump-guest-core=off) as a PT_LOAD without data, where
     * gdb leaves the mapping out: all RAM absent either way, still the error with the hint, not an empty mount.
     */
    @Test
    void open_kernelCoreDumpGuestCoreOff_failsWithHint() {
        QemuFixture f = QemuFixture.of(QemuFixture.Spec.x86("pc", 256).withDumpGuestCore(false)
                .withCore(QemuFixture.CoreKind.KERNEL));
        BadCoreException e = assertThrows(BadCoreException.class, () -> GuestDumps.open(f.core(), Optional.empty()));
        assertEquals(BadCoreException.Kind.MISSING, e.kind());
        assertTrue(e.getMessage().startsWith(f.core() + ": guest RAM was not dumped (256.3 MiB missing, first at host"
                + " 0x"), e.getMessage());
        assertTrue(e.getMessage().contains("dump-guest-core=on"), e.getMessage());
    }

    /**
     * The kernel-written core cut 1234 bytes into pc.ram's page at 200 MiB, as a size limit, a full disk or an
     * interrupted copy leaves a core: the blocks hold the whole pages before the cut, each equal to QEMU's own dump,
     * and the rest of the RAM QEMU dumped is absent, every byte of it, reported as cut off by the truncation.
     */
    @Test
    void open_kernelCoreCutMidPageInRam_heldPagesEqualQemusRestAbsent(@TempDir Path tmp) throws IOException {
        QemuFixture f = QemuFixture.pc256KernelCore();
        GuestPhysBlock ram = blocksOf(f.core()).get(0);
        long cut = ram.fileOffset() + (200L << 20) + 1234;
        try (GuestDump d = GuestDumps.open(f.truncatedCopy(tmp, cut), Optional.empty())) {
            assertEquals(List.of(new GuestPhysBlock(ram.guestPaddrStart(), ram.guestPaddrStart() + (200L << 20),
                    ram.hostVaddr(), ram.fileOffset(), ram.name())), d.memory().blocks());
            List<Readelf.Phdr> qemu = Readelf.loads(f.qemuDumpElf());
            List<long[]> held = new ArrayList<>();
            d.memory().blocks().forEach(b -> held.add(new long[] {b.guestPaddrStart(), b.guestPaddrEnd()}));
            d.memory().absent().forEach(a -> held.add(new long[] {a.guestPaddrStart(), a.guestPaddrEnd()}));
            assertEquals(runs(qemu.stream().map(ph -> new long[] {ph.paddr(), ph.paddr() + ph.filesz()}).toList()),
                    runs(held), "held and absent together are the RAM QEMU dumped");
            assertTrue(d.memory().absent().stream().allMatch(a -> a.why() == AbsentRange.Why.TRUNCATED),
                    d.memory().absent().toString());
            assertEquals(ram.guestPaddrStart() + (200L << 20), d.memory().absent().get(0).guestPaddrStart(),
                    "the page the cut falls in is absent as a whole");
            assertEveryPageEqual(d, f, qemu);
            assertArrayEquals(Readelf.noteDesc(f.qemuDumpElf(), "VMCOREINFO"),
                    d.vmcoreinfo().orElseThrow().text().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    /** The same core cut inside QEMU's FlatView: what discovery needs is gone, and the one-line error says why. */
    @Test
    void open_kernelCoreCutInsideQemusMemoryMap_oneLineErrorSayingTheCoreIsTruncated(@TempDir Path tmp)
            throws IOException {
        QemuFixture f = QemuFixture.pc256KernelCore();
        long cut;
        try (ProcessCore pc = ProcessCore.open(f.core())) {
            RamDiscovery.Result r = RamDiscovery.discover(pc);
            long flatView = pc.memory().u64(r.addressSpaceVaddr() + r.layout().addressSpace().currentMap());
            cut = pc.memory().fileOffsetOf(flatView, 8) + 4;
        }
        Path copy = f.truncatedCopy(tmp, cut);
        BadCoreException e = assertThrows(BadCoreException.class, () -> GuestDumps.open(copy, Optional.empty()));
        assertTrue(e.getMessage().startsWith(copy + ": core is truncated at offset 0x" + Long.toHexString(cut)
                + " (its program headers describe 0x"), e.getMessage());
        assertTrue(e.getMessage().contains("; guest RAM cannot be found in what is left: "), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), "one line");
    }

    private static List<GuestPhysBlock> blocksOf(Path core) {
        try (GuestDump d = GuestDumps.open(core, Optional.empty())) {
            assertTrue(d.memory().absent().isEmpty(), "the fixture holds all of its RAM");
            return d.memory().blocks();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** Returns [start, end) ranges sorted and merged where they touch, as text for a readable assertion. */
    private static List<String> runs(List<long[]> ranges) {
        List<long[]> sorted = new ArrayList<>(ranges);
        sorted.sort((a, b) -> Long.compareUnsigned(a[0], b[0]));
        List<long[]> out = new ArrayList<>();
        for (long[] r : sorted) {
            long[] last = out.isEmpty() ? null : out.get(out.size() - 1);
            if (last != null && last[1] == r[0]) {
                last[1] = r[1];
            } else {
                out.add(r.clone());
            }
        }
        return out.stream().map(r -> Long.toHexString(r[0]) + "-" + Long.toHexString(r[1])).toList();
    }

    private static GuestDump checkAgainstQemu(QemuFixture f) throws IOException {
        GuestDump dump = GuestDumps.open(f.core(), Optional.empty());
        List<Readelf.Phdr> qemuLoads = Readelf.loads(f.qemuDumpElf());
        List<GuestPhysBlock> blocks = dump.memory().blocks();
        assertEquals(qemuLoads.size(), blocks.size(), "block count vs QEMU's PT_LOADs");
        for (int i = 0; i < blocks.size(); i++) {
            assertEquals(qemuLoads.get(i).paddr(), blocks.get(i).guestPaddrStart(), "block " + i + " start");
            assertEquals(qemuLoads.get(i).filesz(), blocks.get(i).size(), "block " + i + " size");
        }
        assertEveryPageEqual(dump, f, qemuLoads);

        VmcoreInfo vi = dump.vmcoreinfo().orElseThrow(() -> new AssertionError("no VMCOREINFO found"));
        assertEquals(f.get("UNAME"), vi.osRelease());
        if (f.get("KASLR").equals("on")) {
            assertTrue(vi.kernelOffset().isPresent() && vi.kernelOffset().getAsLong() != 0, "KERNELOFFSET with KASLR");
        }
        byte[] qemuNote = Readelf.noteDesc(f.qemuDumpElf(), "VMCOREINFO");
        assertNotNull(qemuNote, "QEMU's dump has a VMCOREINFO note");
        assertArrayEquals(qemuNote, vi.text().getBytes(java.nio.charset.StandardCharsets.UTF_8),
                "VMCOREINFO text equals the note in QEMU's dump");
        return dump;
    }

    /**
     * Compares all guest RAM the dump holds, 1 MiB at a time, with the PT_LOAD data of QEMU's dump; every byte of our
     * blocks must lie in one of QEMU's PT_LOADs.
     */
    private static void assertEveryPageEqual(GuestDump dump, QemuFixture f, List<Readelf.Phdr> loads)
            throws IOException {
        int chunk = 1 << 20;
        ByteBuffer ours = ByteBuffer.allocateDirect(chunk);
        ByteBuffer theirs = ByteBuffer.allocateDirect(chunk);
        long held = 0;
        try (FileChannel qemu = FileChannel.open(f.qemuDumpElf(), StandardOpenOption.READ)) {
            for (Readelf.Phdr ph : loads) {
                int n;
                for (long done = 0; done < ph.filesz(); done += n) {
                    n = (int) Math.min(chunk, ph.filesz() - done);
                    long pa = ph.paddr() + done;
                    int b = dump.memory().blockIndexOf(pa);
                    if (b < 0) {
                        n = 4096;   // absent from a partial core (the caller checks that); a page at a time
                        continue;
                    }
                    n = (int) Math.min(n, dump.memory().blocks().get(b).guestPaddrEnd() - pa);
                    held += n;
                    ours.clear().limit(n);
                    theirs.clear().limit(n);
                    while (ours.hasRemaining()) {
                        dump.memory().read(pa + ours.position(), ours);
                    }
                    while (theirs.hasRemaining()) {
                        if (qemu.read(theirs, ph.offset() + done + theirs.position()) < 0) {
                            throw new AssertionError("QEMU's dump ends early");
                        }
                    }
                    ours.flip();
                    theirs.flip();
                    int mismatch = ours.mismatch(theirs);
                    if (mismatch >= 0) {
                        throw new AssertionError("guest page at paddr 0x" + Long.toHexString(pa + mismatch & ~0xfffL)
                                + " differs from QEMU's dump");
                    }
                }
            }
        }
        assertEquals(dump.memory().totalBytes(), held, "every byte our blocks hold was compared");
    }
}

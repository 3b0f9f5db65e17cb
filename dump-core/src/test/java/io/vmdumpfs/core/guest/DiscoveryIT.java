package io.vmdumpfs.core.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.Readelf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

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

    /** Compares all guest RAM, 1 MiB at a time, with the PT_LOAD data of QEMU's dump. */
    private static void assertEveryPageEqual(GuestDump dump, QemuFixture f, List<Readelf.Phdr> loads)
            throws IOException {
        int chunk = 1 << 20;
        ByteBuffer ours = ByteBuffer.allocateDirect(chunk);
        ByteBuffer theirs = ByteBuffer.allocateDirect(chunk);
        try (FileChannel qemu = FileChannel.open(f.qemuDumpElf(), StandardOpenOption.READ)) {
            for (Readelf.Phdr ph : loads) {
                for (long done = 0; done < ph.filesz(); done += chunk) {
                    int n = (int) Math.min(chunk, ph.filesz() - done);
                    ours.clear().limit(n);
                    theirs.clear().limit(n);
                    long pa = ph.paddr() + done;
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
    }
}

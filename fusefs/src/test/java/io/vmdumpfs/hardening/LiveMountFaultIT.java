package io.vmdumpfs.hardening;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.testing.QemuFixture;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults while a real core is mounted: the core truncated, deleted or replaced under the mount, readers killed in
 * the middle of a read, SIGTERM and SIGINT, and a 1 MiB cache for files that need far more. The destructive cases
 * work on a copy of the fixture; each test mounts the copy afresh and repairs it afterwards.
 *
 * <p>The contract: reads of bytes that are gone fail with EIO, everything else keeps being served with the original
 * bytes, the mount stays up until asked to go, and then it goes cleanly.
 */
class LiveMountFaultIT {

    @TempDir
    static Path tmp;

    private static QemuFixture fixture;
    private static String fixtureIdentity;
    private static Path live;
    private static List<GuestPhysBlock> blocks;
    private static final Summary SUMMARY = new Summary("faults");
    private static int passed;

    private Path mnt;

    @BeforeAll
    static void copyFixture() throws Exception {
        Mounts.requireFuse();
        fixture = QemuFixture.pc256();
        fixtureIdentity = Mounts.identity(fixture.core());
        live = tmp.resolve("live.core");
        WorkCopy.copyRange(fixture.core(), 0, live, 0, Files.size(fixture.core()));
        try (GuestDump d = GuestDumps.open(fixture.core(), Optional.empty())) {
            blocks = d.memory().blocks();
        }
    }

    @AfterAll
    static void summary() throws IOException {
        SUMMARY.put("faults.passed", passed);
        if (fixture != null) {
            assertEquals(fixtureIdentity, Mounts.identity(fixture.core()), "the fixture core was not touched");
        }
    }

    @BeforeEach
    void mountPoint() throws IOException {
        mnt = Files.createTempDirectory(tmp, "mnt");
    }

    @AfterEach
    void repair() throws IOException {
        Mounts.cleanUp(mnt);
        if (!Files.isRegularFile(live) || Files.size(live) != Files.size(fixture.core())
                || Files.mismatch(live, fixture.core()) >= 0) {
            Files.deleteIfExists(live);
            WorkCopy.copyRange(fixture.core(), 0, live, 0, Files.size(fixture.core()));
        }
    }

    private static void pass(String name) {
        passed++;
        SUMMARY.put("faults." + name, "passed");
    }

    // ------------------------------------------------------------------ helpers

    /** The fixture's bytes of guest-physical [paddr, paddr+len): what vmcore.elf must serve there. */
    private static byte[] guestBytes(long paddr, int len) throws IOException {
        GuestPhysBlock b = blocks.stream().filter(x -> x.contains(paddr)).findFirst().orElseThrow();
        return VmcoreElf.read(fixture.core(), b.fileOffset() + (paddr - b.guestPaddrStart()), len);
    }

    /** Reads vmcore.elf's bytes of guest-physical {@code paddr} through the mount. */
    private byte[] servedBytes(long paddr, int len) throws IOException {
        Path elf = mnt.resolve("vmcore.elf");
        return VmcoreElf.read(elf, VmcoreElf.offsetOf(elf, paddr), len);
    }

    /** Returns the errno text of a failed read, or null when the read worked. */
    private String readError(long paddr, int len) {
        try {
            servedBytes(paddr, len);
            return null;
        } catch (IOException e) {
            return String.valueOf(e.getMessage());
        }
    }

    private void assertOtherFilesServe() throws IOException, InterruptedException {
        assertTrue(Mounts.isMounted(mnt), "still mounted");
        Cli.Result ls = Cli.sh(tmp, "ls " + mnt);
        assertEquals(0, ls.rc(), ls.err());
        assertTrue(ls.out().contains("vmcore.elf") && ls.out().contains("blocks.txt"), ls.out());
        assertTrue(Files.readString(mnt.resolve("blocks.txt")).contains("pc.ram"), "blocks.txt still served");
        assertTrue(Files.readString(mnt.resolve("vmcoreinfo")).startsWith("OSRELEASE="), "vmcoreinfo still served");
    }

    private static long mib(long n) {
        return n << 20;
    }

    // ------------------------------------------------------------------ the core changes under the mount

    @Test
    void coreTruncatedWhileMounted_goneBytesEIO_restServed_recoversWhenRestored() throws Exception {
        Mounts.mountOk(tmp, live, mnt);
        GuestPhysBlock ram = blocks.get(0);
        long cut = ram.fileOffset() + mib(100);
        try (FileChannel ch = FileChannel.open(live, StandardOpenOption.WRITE)) {
            ch.truncate(cut);
        }
        // Guest RAM beyond the cut: EIO. (Never read before, so the kernel has no cached page of it.)
        String err = readError(mib(200), 4096);
        assertNotEquals(null, err, "a read of truncated RAM must fail");
        assertTrue(err.contains("Input/output error"), err);
        for (GuestPhysBlock b : blocks) {
            if (b != ram && b.fileOffset() >= cut) {
                // Another block whose bytes are all gone (gdb writes pc.bios after pc.ram on some hosts).
                assertTrue(String.valueOf(readError(b.guestPaddrStart() + 4096, 100)).contains("Input/output error"),
                        "block " + b.name() + " past the cut");
            }
        }
        // Before the cut: the original bytes.
        assertArrayEquals(guestBytes(mib(1), 65536), servedBytes(mib(1), 65536));
        assertOtherFilesServe();
        // Bring the bytes back: the same mount serves them again.
        WorkCopy.copyRange(fixture.core(), cut, live, cut, Files.size(fixture.core()) - cut);
        assertArrayEquals(guestBytes(mib(200), 4096), servedBytes(mib(200), 4096), "served again once restored");
        pass("truncated");
    }

    @Test
    void coreTruncatedBeforeFirstKdumpRead_kdumpFailsEIO_otherFilesServe() throws Exception {
        Mounts.mountOk(tmp, live, mnt);
        long cut = blocks.get(0).fileOffset() + mib(10);
        try (FileChannel ch = FileChannel.open(live, StandardOpenOption.WRITE)) {
            ch.truncate(cut);
        }
        // The kdump size needs every page: the index build meets the cut.
        Cli.Result r = Cli.sh(tmp, "cat " + mnt.resolve("vmcore.kdump-lzo") + " > /dev/null");
        assertNotEquals(0, r.rc(), "reading a kdump file of a truncated core fails");
        assertTrue(r.err().contains("Input/output error"), r.err());
        assertOtherFilesServe();
        assertArrayEquals(guestBytes(mib(1), 4096), servedBytes(mib(1), 4096));
        pass("truncated_kdump");
    }

    @Test
    void coreDeletedWhileMounted_keepsServingTheSameBytes() throws Exception {
        Mounts.mountOk(tmp, live, mnt);
        Files.delete(live);
        assertArrayEquals(guestBytes(mib(3), 8192), servedBytes(mib(3), 8192));
        assertArrayEquals(guestBytes(mib(250), 8192), servedBytes(mib(250), 8192));
        assertOtherFilesServe();
        pass("deleted");
    }

    @Test
    void coreReplacedWhileMounted_keepsServingTheOriginal() throws Exception {
        Mounts.mountOk(tmp, live, mnt);
        Path other = tmp.resolve("other.core");
        Files.write(other, "a different file now has the core's name\n".getBytes());
        Files.move(other, live, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        assertArrayEquals(guestBytes(mib(5), 4096), servedBytes(mib(5), 4096));
        assertArrayEquals(guestBytes(mib(240), 4096), servedBytes(mib(240), 4096));
        assertOtherFilesServe();
        pass("replaced");
    }

    // ------------------------------------------------------------------ readers and signals

    @Test
    void readersKilledMidRead_mountKeepsServing() throws Exception {
        Mounts.mountOk(tmp, live, mnt);
        long server = Mounts.serverPid(mnt);
        for (int round = 0; round < 3; round++) {
            List<Process> readers = new ArrayList<>();
            for (String f : List.of("vmcore.elf", "vmcore.kdump-snappy", "vmcore.elf")) {
                readers.add(new ProcessBuilder("dd", "if=" + mnt.resolve(f), "of=/dev/null", "bs=1M",
                        "skip=" + (round * 40)).redirectErrorStream(true).start());
            }
            Thread.sleep(300 + 200L * round);
            for (Process p : readers) {
                p.destroyForcibly();
            }
            for (Process p : readers) {
                assertTrue(p.waitFor(30, TimeUnit.SECONDS), "a killed reader goes away");
            }
        }
        assertTrue(ProcessHandle.of(server).map(ProcessHandle::isAlive).orElse(false), "the server survived");
        assertArrayEquals(guestBytes(mib(7), 65536), servedBytes(mib(7), 65536));
        assertOtherFilesServe();
        pass("readers_killed");
    }

    @Test
    void sigterm_whileReading_unmountsCleanly() throws Exception {
        Mounts.mountOk(tmp, live, mnt);
        long server = Mounts.serverPid(mnt);
        Process reader = new ProcessBuilder("dd", "if=" + mnt.resolve("vmcore.elf"), "of=/dev/null", "bs=64k")
                .redirectErrorStream(true).start();
        Thread.sleep(200);
        ProcessHandle.of(server).orElseThrow().destroy();   // SIGTERM
        long ms = Mounts.awaitGone(mnt, 15_000);
        assertTrue(reader.waitFor(15, TimeUnit.SECONDS), "the reader is not left hanging");
        SUMMARY.put("faults.sigterm_unmount_ms", ms);
        pass("sigterm");
    }

    @Test
    void sigint_foreground_unmountsCleanly() throws Exception {
        Path log = tmp.resolve("fg.log");
        Process p = new ProcessBuilder(Cli.javaBinary(), "-jar", Cli.jar().toString(), "-f", live.toString(),
                mnt.toString()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        long deadline = System.currentTimeMillis() + 60_000;
        while (!Mounts.isMounted(mnt) || Cli.sh(tmp, "ls " + mnt).rc() != 0) {
            if (!p.isAlive() || System.currentTimeMillis() > deadline) {
                fail("foreground mount did not come up: " + Files.readString(log));
            }
            Thread.sleep(50);
        }
        String status = Files.readString(Path.of("/proc/" + p.pid() + "/status"));
        String sigIgn = status.lines().filter(l -> l.startsWith("SigIgn:")).findFirst().orElse("SigIgn: 0").substring(7);
        if ((Long.parseLong(sigIgn.strip(), 16) & 0x2) != 0) {
            p.destroy();
            Mounts.awaitGone(mnt, 15_000);
            org.junit.jupiter.api.Assumptions.abort("SIGINT is ignored in this environment; cannot test it");
        }
        Cli.sh(tmp, "kill -INT " + p.pid());
        assertTrue(p.waitFor(15, TimeUnit.SECONDS), "exits after SIGINT");
        Mounts.awaitGone(mnt, 5_000);
        assertEquals("", Files.readString(log), "nothing printed on the way out");
        pass("sigint");
    }

    // ------------------------------------------------------------------ memory budget

    @Test
    void cacheSize1M_everyKdumpFileReadWhole_equalsUncachedView() throws Exception {
        Mounts.mountOk(tmp, live, mnt, "-o", "cache_size=1M");
        // The reference opens the same file: a kdump header's timestamp is the core's mtime.
        try (GuestDump dump = GuestDumps.open(live, Optional.empty())) {
            for (DumpFormat f : DumpFormat.values()) {
                if (!f.fileName().startsWith("vmcore.kdump-")) {
                    continue;
                }
                View view = f.open(dump, FormatContext.uncached());
                String want = sha256(view);
                String got;
                try (InputStream in = Files.newInputStream(mnt.resolve(f.fileName()))) {
                    got = sha256(in);
                }
                assertEquals(want, got, f.fileName() + " through a 1 MiB cache");
            }
        }
        assertOtherFilesServe();
        pass("cache_1M");
    }

    static String sha256(View v) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        ByteBuffer b = ByteBuffer.allocate(1 << 20);
        long off = 0;
        while (off < v.size()) {
            b.clear();
            int n = v.read(off, b);
            assertFalse(n <= 0, "view ended early at " + off);
            md.update(b.array(), 0, n);
            off += n;
        }
        return HexFormat.of().formatHex(md.digest());
    }

    static String sha256(InputStream in) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        byte[] buf = new byte[1 << 20];
        for (int n; (n = in.read(buf)) > 0; ) {
            md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }
}

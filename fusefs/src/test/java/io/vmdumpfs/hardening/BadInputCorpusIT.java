package io.vmdumpfs.hardening;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.elf.HostMemory;
import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.guest.BlocksText;
import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.ElfView;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.hardening.BadCoreCorpus.Case;
import io.vmdumpfs.hardening.BadCoreCorpus.Env;
import io.vmdumpfs.hardening.BadCoreCorpus.Expect;
import io.vmdumpfs.hardening.BadCoreCorpus.Target;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.TestAbortedException;

/**
 * The bad-input corpus ({@link BadCoreCorpus}) through the command line. Every case runs {@code vmdumpfs blocks CORE}
 * and {@code vmdumpfs mount -f CORE MNT} in this JVM (the entry point main uses), each under a time limit; a spread
 * sample also runs as a user would, {@code java -jar vmdumpfs.jar blocks CORE} and a background mount.
 *
 * <p>Verdicts: a bad core gets exit 2 and one short line, never a stack trace, an "internal error", a hang or a mount;
 * a core whose damage is harmless or confined to guest RAM mounts with the undamaged block table and serves exactly
 * the damaged core's bytes. Counts go to target/hardening/corpus.properties.
 *
 * <p>CI runs about 160 cases; {@code -Dhardening.full=true} (scripts/hardening.sh) about 830, and 24 through the jar.
 */
class BadInputCorpusIT {

    static final boolean FULL = Boolean.getBoolean("hardening.full");

    @TempDir
    static Path scratch;

    private static QemuFixture fixture;
    private static String fixtureIdentity;
    private static CoreAnatomy anatomy;
    private static WorkCopy work;
    private static List<Case> cases;
    private static String originalTable;
    private static final Summary SUMMARY = new Summary("corpus");

    @BeforeAll
    static void prepare() throws Exception {
        Mounts.requireFuse();
        fixture = QemuFixture.pc256();
        fixtureIdentity = Mounts.identity(fixture.core());
        long t0 = System.nanoTime();
        work = new WorkCopy(fixture.core(), scratch);
        anatomy = CoreAnatomy.of(work.path());
        cases = BadCoreCorpus.build(anatomy, FULL);
        Cli.Result r = Cli.inProcess("blocks", work.path().toString());
        assertEquals(0, r.rc(), "the undamaged work copy: " + r.err());
        originalTable = r.out();
        System.out.printf("BadInputCorpusIT: %d cases (%s), work copy and anatomy in %d ms%n", cases.size(),
                FULL ? "full" : "CI sample", (System.nanoTime() - t0) / 1_000_000);
    }

    @AfterAll
    static void cleanUp() throws Exception {
        if (work != null) {
            work.close();
        }
        if (fixture != null) {
            assertEquals(fixtureIdentity, Mounts.identity(fixture.core()), "the fixture core was not touched");
        }
    }

    /** Counts across cases, for the summary and the assertion message. */
    private static final class Tally {
        final Map<String, Integer> byCategory = new TreeMap<>();
        final List<String> failures = new ArrayList<>();
        final List<String> acceptedDifferent = new ArrayList<>();
        final Map<String, Integer> byDifference = new TreeMap<>();
        int errors;
        int acceptedSame;
        int acceptedPartial;
        int hangs;
        int crashes;
        int stackTraces;
        int skipped;
        long maxBlocksMs;
        long maxMountMs;
        String slowest = "";

        void fail(Case c, String what) {
            failures.add(c + ": " + what);
        }
    }

    // ------------------------------------------------------------------ in-process, every case

    @Test
    void corpus_everyCase_oneLineErrorOrExactBytes() throws Exception {
        Path mnt = Files.createDirectory(scratch.resolve("mnt"));
        Tally t = new Tally();
        long t0 = System.nanoTime();
        for (Case c : cases) {
            Target target;
            try {
                target = c.setup().apply(new Env(work, scratch, anatomy));
            } catch (TestAbortedException missing) {
                t.skipped++;
                work.restore();
                continue;
            }
            try {
                t.byCategory.merge(c.category(), 1, Integer::sum);
                Cli.Result b = Cli.inProcess("blocks", target.core().toString());
                if (b.millis() > t.maxBlocksMs) {
                    t.maxBlocksMs = b.millis();
                    t.slowest = c.toString();
                }
                judge(c, target, b, t, mnt);
            } finally {
                work.restore();
            }
        }
        long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
        int tried = cases.size() - t.skipped;
        SUMMARY.put("corpus.mode", FULL ? "full" : "ci")
                .put("corpus.cases", tried)
                .put("corpus.skipped", t.skipped)
                .put("corpus.categories", t.byCategory)
                .put("corpus.clean_errors", t.errors)
                .put("corpus.accepted_same_table", t.acceptedSame)
                .put("corpus.accepted_partial", t.acceptedPartial)
                .put("corpus.accepted_different_table", t.acceptedDifferent.size())
                .put("corpus.accepted_different_kinds", t.byDifference)
                .put("corpus.accepted_different_cases", String.join("; ", t.acceptedDifferent))
                .put("corpus.hangs", t.hangs)
                .put("corpus.stack_traces", t.stackTraces)
                .put("corpus.crashes", t.crashes)
                .put("corpus.failures", t.failures.size())
                .put("corpus.max_blocks_ms", t.maxBlocksMs)
                .put("corpus.slowest_case", t.slowest)
                .put("corpus.max_mount_ms", t.maxMountMs)
                .put("corpus.seconds", seconds);
        System.out.printf("BadInputCorpusIT: %d cases in %d s: %d clean errors, %d harmless, %d partial served, %d"
                + " accepted with another table, %d crashes, %d hangs, %d stack traces, %d failures; slowest blocks"
                + " %d ms (%s)%n", tried, seconds, t.errors, t.acceptedSame, t.acceptedPartial, t.acceptedDifferent.size(),
                t.crashes, t.hangs, t.stackTraces,
                t.failures.size(),
                t.maxBlocksMs, t.slowest);
        t.acceptedDifferent.forEach(s -> System.out.println("BadInputCorpusIT: accepted with another table: " + s));
        assertEquals(List.of(), t.failures.subList(0, Math.min(40, t.failures.size())), t.failures.size() + " failures");
        assertTrue(tried > 100, "the corpus ran: " + tried);
    }

    private static void judge(Case c, Target target, Cli.Result b, Tally t, Path mnt) throws Exception {
        if (b.timedOut()) {
            t.hangs++;
        }
        if (b.crashed()) {
            t.crashes++;
        }
        if (b.hasStackTrace()) {
            t.stackTraces++;
        }
        if (b.rc() == 0) {
            judgeAccepted(c, target, b, t);
            return;
        }
        String problem = b.shortErrorProblem();
        if (problem != null) {
            t.fail(c, "blocks: " + problem);
            return;
        }
        if (c.expect() == Expect.SAME) {
            t.fail(c, "damage only in guest RAM, but: " + b.err().strip());
            return;
        }
        if (c.expect() == Expect.PARTIAL) {
            t.fail(c, "a core that holds part of the guest's RAM is served, but: " + b.err().strip());
            return;
        }
        t.errors++;
        // The same core through the mount path: it must fail the same way, before anything is mounted.
        Cli.Result m = Cli.inProcess("mount", "-f", target.core().toString(), mnt.toString());
        t.maxMountMs = Math.max(t.maxMountMs, m.millis());
        if (m.timedOut()) {
            t.hangs++;
        }
        if (m.crashed()) {
            t.crashes++;
        }
        if (m.hasStackTrace()) {
            t.stackTraces++;
        }
        String mp = m.shortErrorProblem();
        if (mp != null) {
            t.fail(c, "mount: " + mp);
        } else if (!m.err().equals(b.err())) {
            t.fail(c, "mount says '" + m.err().strip() + "' but blocks said '" + b.err().strip() + "'");
        }
        if (Mounts.isMounted(mnt)) {
            Mounts.cleanUp(mnt);
            t.fail(c, "a failed mount left " + mnt + " mounted");
        }
    }

    /** A core vmdumpfs accepted: allowed only where the expectation says so, and it must serve the core's bytes. */
    private static void judgeAccepted(Case c, Target target, Cli.Result b, Tally t) throws Exception {
        if (!b.err().isEmpty() || !b.stray().isEmpty()) {
            t.fail(c, "exit 0 but printed: " + Cli.firstLines(b.err() + b.stray()));
        }
        if (c.expect() == Expect.ERROR) {
            t.fail(c, "accepted: " + Cli.firstLines(b.out()));
            return;
        }
        boolean same = b.out().equals(originalTable);
        List<GuestPhysBlock> listed = BlocksText.parse(target.core(), b.out());
        if (c.expect() == Expect.PARTIAL) {
            // Exactly the blocks the core still holds, and a note of what it does not.
            if (!listed.equals(c.held()) || !b.out().contains("\n# partial: ")) {
                t.fail(c, "served with another table than the held blocks " + c.held() + ":\n" + b.out());
                return;
            }
            t.acceptedPartial++;
        } else if (same) {
            t.acceptedSame++;
        } else if (c.expect() == Expect.ERROR_OR_CONSISTENT) {
            String how = compareWithOriginal(listed);
            t.acceptedDifferent.add(c + " [" + how + "]");
            t.byDifference.merge(how.replaceAll(":.*", ""), 1, Integer::sum);
        } else {
            t.fail(c, "accepted with a different block table:\n" + b.out());
            return;
        }
        try (GuestDump dump = GuestDumps.open(target.core(), Optional.empty());
                ProcessCore pc = ProcessCore.open(target.core())) {
            assertEquals(listed.size(), dump.memory().blocks().size());
            HostMemory mem = pc.memory();
            for (GuestPhysBlock blk : dump.memory().blocks()) {
                if (mem.fileOffsetOf(blk.hostVaddr(), blk.size()) != blk.fileOffset()) {
                    t.fail(c, "block " + blk + " does not serve the core's bytes of its host range");
                }
            }
            if (target.ramPaddr() >= 0) {
                ElfView elf = (ElfView) DumpFormat.ELF.open(dump, FormatContext.uncached());
                List<GuestPhysBlock> blocks = elf.layout().blocks();
                for (int i = 0; i < blocks.size(); i++) {
                    if (blocks.get(i).contains(target.ramPaddr())) {
                        ByteBuffer one = ByteBuffer.allocate(1);
                        elf.read(elf.layout().segmentOffset(i) + target.ramPaddr() - blocks.get(i).guestPaddrStart(), one);
                        if (one.get(0) != target.ramByte()) {
                            t.fail(c, "vmcore.elf serves " + one.get(0) + " for the flipped byte " + target.ramByte());
                        }
                    }
                }
            }
        }
    }

    /**
     * Returns how an accepted block table differs from the undamaged one: "remapped" when some guest-physical address
     * now reads other core bytes (or memory the guest never had), "omitted" when it only lacks ranges, "renamed" when
     * only names changed.
     */
    static String compareWithOriginal(List<GuestPhysBlock> listed) {
        List<GuestPhysBlock> orig = anatomy.blocks();
        long listedBytes = 0;
        for (GuestPhysBlock d : listed) {
            long covered = 0;
            for (GuestPhysBlock o : orig) {
                long lo = Math.max(d.guestPaddrStart(), o.guestPaddrStart());
                long hi = Math.min(d.guestPaddrEnd(), o.guestPaddrEnd());
                if (Long.compareUnsigned(lo, hi) >= 0) {
                    continue;
                }
                if (d.fileOffset() - d.guestPaddrStart() != o.fileOffset() - o.guestPaddrStart()) {
                    return "remapped: guest 0x" + Long.toHexString(lo) + " reads core offset 0x"
                            + Long.toHexString(d.fileOffset() + lo - d.guestPaddrStart()) + " instead of 0x"
                            + Long.toHexString(o.fileOffset() + lo - o.guestPaddrStart());
                }
                covered += hi - lo;
            }
            if (covered != d.size()) {
                return "remapped: " + d + " covers memory the guest did not have";
            }
            listedBytes += d.size();
        }
        long origBytes = orig.stream().mapToLong(GuestPhysBlock::size).sum();
        return listedBytes < origBytes ? "omitted: " + ((origBytes - listedBytes) >> 10) + " KiB missing" : "renamed";
    }

    // ------------------------------------------------------------------ as a user: the jar and a real mount

    /** A core the user may not read (root reads anything, so this one runs as nobody): one line, exit 2. */
    @Test
    void unreadableCore_anotherUser_oneLinePermissionDenied() throws Exception {
        QemuFixture.requireCommand("setpriv", "apt-get install util-linux");
        // Everything nobody needs must be reachable: JUnit's temp directories are 0700, the checkout may be too.
        Path dir = Files.createDirectory(scratch.resolve("perm"));
        Files.setPosixFilePermissions(scratch, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path jar = Files.copy(Cli.jar(), dir.resolve("vmdumpfs.jar"));
        Files.setPosixFilePermissions(jar, PosixFilePermissions.fromString("rw-r--r--"));
        Path core = dir.resolve("secret.core");
        WorkCopy.copyRange(work.path(), 0, core, 0, 1 << 20);
        Files.setPosixFilePermissions(core, PosixFilePermissions.fromString("rw-------"));
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        Files.setAttribute(mnt, "unix:uid", 65534);
        String nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups " + Cli.javaBinary() + " -jar " + jar;
        Cli.Result blocks = Cli.sh(scratch, nobody + " blocks " + core);
        Cli.Result mount = Cli.sh(scratch, nobody + " " + core + " " + mnt);
        try {
            for (Cli.Result r : List.of(blocks, mount)) {
                assertEquals(null, r.shortErrorProblem(), r.err() + r.out());
                assertTrue(r.err().contains("permission denied"), r.err());
            }
            assertTrue(!Mounts.isMounted(mnt), "nothing mounted");
        } finally {
            Mounts.cleanUp(mnt);
        }
        SUMMARY.put("process.unreadable_core_refused", true);
    }

    @Test
    void corpus_sample_realJarAndBackgroundMount() throws Exception {
        int n = FULL ? 24 : 8;
        List<Case> sample = new ArrayList<>();
        List<Case> ram = cases.stream().filter(c -> c.expect() == Expect.SAME).toList();
        List<Case> others = cases.stream().filter(c -> c.expect() != Expect.SAME).toList();
        // A couple of guest-RAM flips (mounted and read back), the rest spread over the other categories.
        sample.addAll(ram.subList(0, Math.min(FULL ? 6 : 2, ram.size())));
        int rest = n - sample.size();
        for (int i = 0; i < rest; i++) {
            sample.add(others.get((int) ((long) i * others.size() / rest)));
        }
        Path mnt = Files.createDirectory(scratch.resolve("jarmnt"));
        List<String> failures = new ArrayList<>();
        long maxBlocks = 0;
        long maxMount = 0;
        int mountedAndRead = 0;
        int crashes = 0;
        int hangs = 0;
        try {
            for (Case c : sample) {
                Target target;
                try {
                    target = c.setup().apply(new Env(work, scratch, anatomy));
                } catch (TestAbortedException missing) {
                    work.restore();
                    continue;
                }
                try {
                    Cli.Result b = Cli.process(scratch, "blocks", target.core().toString());
                    Cli.Result m = Mounts.mount(scratch, target.core(), mnt);
                    maxBlocks = Math.max(maxBlocks, b.millis());
                    maxMount = Math.max(maxMount, m.millis());
                    crashes += (b.crashed() ? 1 : 0) + (m.crashed() ? 1 : 0);
                    hangs += (b.timedOut() ? 1 : 0) + (m.timedOut() ? 1 : 0);
                    if (b.rc() != 0) {
                        String p = b.shortErrorProblem();
                        String pm = m.shortErrorProblem();
                        if (p != null || pm != null) {
                            failures.add(c + ": blocks: " + p + "; mount: " + pm);
                        }
                        Mounts.awaitGone(mnt, 5000);
                        continue;
                    }
                    if (m.rc() != 0 || !Mounts.isMounted(mnt)) {
                        failures.add(c + ": blocks accepted it but the mount failed: " + m.err());
                        continue;
                    }
                    if (target.ramPaddr() >= 0) {
                        Path elf = mnt.resolve("vmcore.elf");
                        long off = VmcoreElf.offsetOf(elf, target.ramPaddr());
                        byte served = VmcoreElf.read(elf, off, 1)[0];
                        byte inCore = work.read(anatomy.fileOffsetOfPaddr(target.ramPaddr()), 1)[0];
                        if (served != target.ramByte() || served != inCore) {
                            failures.add(c + ": the mount serves " + served + " where the damaged core has " + inCore);
                        }
                        mountedAndRead++;
                    }
                    Cli.Result u = Cli.command(scratch, List.of("fusermount", "-u", mnt.toString()), Cli.PROCESS_TIMEOUT);
                    if (u.rc() != 0) {
                        failures.add(c + ": fusermount -u: " + u.err());
                    }
                    Mounts.awaitGone(mnt, 10_000);
                } finally {
                    Mounts.cleanUp(mnt);
                    work.restore();
                }
            }
        } finally {
            Mounts.cleanUp(mnt);
        }
        SUMMARY.put("process.cases", sample.size())
                .put("process.guest_ram_flips_mounted_and_read", mountedAndRead)
                .put("process.max_blocks_ms", maxBlocks)
                .put("process.max_mount_ms", maxMount)
                .put("process.crashes", crashes)
                .put("process.hangs", hangs)
                .put("process.failures", failures.size());
        System.out.printf("BadInputCorpusIT: %d cases through the jar: slowest blocks %d ms, slowest mount %d ms%n",
                sample.size(), maxBlocks, maxMount);
        assertEquals(List.of(), failures);
    }
}

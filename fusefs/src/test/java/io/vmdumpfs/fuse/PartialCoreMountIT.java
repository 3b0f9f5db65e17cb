package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.testing.Crash;
import io.vmdumpfs.core.testing.GuestFacts;
import io.vmdumpfs.core.testing.Libkdumpfile;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.Readelf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Partial cores mounted with the real CLI and read by crash and libkdumpfile: a real core cut short (as a size
 * limit, a full disk or an interrupted copy leaves it) and a 1 TiB guest stopped before it ran, whose pc.rom the
 * kernel wrote no data for. What the core holds is served as QEMU's own dump has it; what it does not hold is absent
 * from vmcore.elf and vmcore.kdump-zlib alike (readers say so; no zeros), and blocks.txt and status say where.
 */
class PartialCoreMountIT {

    private static final List<String> CRASH_COMMANDS = List.of("sys", "log");

    @TempDir
    Path tmp;

    /** Returns the blocks of the complete core, to choose where to cut it. */
    private static List<GuestPhysBlock> blocksOf(QemuFixture f) throws IOException {
        try (GuestDump d = GuestDumps.open(f.core(), Optional.empty())) {
            assertTrue(d.memory().absent().isEmpty(), "the fixture holds all of its RAM");
            return d.memory().blocks();
        }
    }

    private static GuestPhysBlock block(List<GuestPhysBlock> blocks, String name) {
        return blocks.stream().filter(b -> b.name().equals(name)).findFirst().orElseThrow();
    }

    /**
     * The kernel-written pc core cut 100 KiB and 123 bytes into pc.bios, the last RAM the core holds: crash's sys
     * and log on vmcore.elf and vmcore.kdump-zlib equal those on QEMU's own dump, libkdumpfile reads every page of
     * QEMU's dump from both files but the 39 pages of pc.bios past the cut (the one the cut falls in among them), and
     * blocks.txt and status name them.
     */
    @Test
    void mount_kernelCoreCutInPcBios_crashLikeQemusDumpAndTheTailAbsent() throws Exception {
        QemuFixture f = QemuFixture.pc256KernelCore();
        Path vmlinux = Crash.vmlinux(f.get("UNAME"));
        GuestPhysBlock bios = block(blocksOf(f), "pc.bios");
        long cut = bios.fileOffset() + 100 * 1024 + 123;
        long absentFrom = bios.guestPaddrStart() + 100 * 1024;   // the page the cut falls in goes too
        Path core = f.truncatedCopy(tmp, cut);
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        try (RealCoreMountIT.Cli.Mount m = RealCoreMountIT.Cli.mount(core, mnt)) {
            Path elf = mnt.resolve("vmcore.elf");
            Path kdump = mnt.resolve("vmcore.kdump-zlib");
            CompletableFuture<Map<String, String>> theirs = CompletableFuture.supplyAsync(
                    () -> Crash.run(vmlinux, f.qemuDumpElf(), CRASH_COMMANDS));
            Map<String, String> onElf = Crash.run(vmlinux, elf, CRASH_COMMANDS);
            Map<String, String> onKdump = Crash.run(vmlinux, kdump, CRASH_COMMANDS);
            Map<String, String> expected = theirs.get(10, TimeUnit.MINUTES);
            for (String cmd : CRASH_COMMANDS) {
                assertEquals(expected.get(cmd), onElf.get(cmd), "crash `" + cmd + "` on vmcore.elf vs QEMU's dump");
                assertEquals(expected.get(cmd), onKdump.get(cmd), "crash `" + cmd + "` on vmcore.kdump-zlib");
            }
            assertTrue(onElf.get("log").contains(f.get("MARKER")), "the guest's marker line in crash's log");

            long absent = bios.guestPaddrEnd() - absentFrom;
            for (Path file : List.of(elf, kdump)) {
                Libkdumpfile.Comparison c = Libkdumpfile.compareWithElf(file, f.qemuDumpElf());
                assertEquals(absent, c.bytesAbsent(), file + ": " + c.absentWhy());
                assertTrue(c.absentWhy().startsWith("0x" + Long.toHexString(absentFrom) + "+0x"), c.absentWhy());
                assertEquals(f.memBytes() + bios.size() - absent, c.bytesEqual(), file + ": every other byte read");
            }
            assertReported(mnt, absentFrom, bios.guestPaddrEnd(), "pc.bios");
        }
    }

    /**
     * The same core cut 1234 bytes into pc.ram's page at 200 MiB, or at the first page past the kernel image if that
     * is higher: the top of guest RAM is gone with the kernel's per-CPU areas, so crash cannot bring the kernel up,
     * but in its minimal mode it reads the log and the held pages, and says a page past the cut is not in either file
     * instead of reading zeros; libkdumpfile reads every held page as QEMU's dump has it and nothing past the cut.
     * The image must be held (crash --minimal finds phys_base from its PT_LOAD and the log in its data), and KASLR
     * places it anywhere in the 256 MiB: one boot of this fixture had it at 140-180 MiB, the next at 186-226 MiB.
     */
    @Test
    void mount_kernelCoreCutMidPageInPcRam_heldPagesServedAbsentPagesNotInEitherFile() throws Exception {
        QemuFixture f = QemuFixture.pc256KernelCore();
        Path vmlinux = Crash.vmlinux(f.get("UNAME"));
        List<GuestPhysBlock> blocks = blocksOf(f);
        GuestPhysBlock ram = block(blocks, "pc.ram");
        long held = Math.max(200L << 20, (kernelImageEnd(f) + 4095) & ~4095L);
        assertTrue(held < ram.size(), "the kernel image ends 0x" + Long.toHexString(held) + ": nothing left to cut");
        Path core = f.truncatedCopy(tmp, ram.fileOffset() + held + 1234);
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        try (RealCoreMountIT.Cli.Mount m = RealCoreMountIT.Cli.mount(core, mnt)) {
            Path elf = mnt.resolve("vmcore.elf");
            Path kdump = mnt.resolve("vmcore.kdump-zlib");
            long absent = blocks.stream().mapToLong(GuestPhysBlock::size).sum() - held;
            for (Path file : List.of(elf, kdump)) {
                Libkdumpfile.Comparison c = Libkdumpfile.compareWithElf(file, f.qemuDumpElf());
                assertEquals(held, c.bytesEqual(), file + ": every held byte equals QEMU's dump");
                assertEquals(absent, c.bytesAbsent(), file + ": " + c.absentWhy());
                String lastHeld = "rd -p 0x" + Long.toHexString(held - 4096) + " 2";
                String firstAbsent = "rd -p 0x" + Long.toHexString(held) + " 2";
                Map<String, String> out = Crash.run(vmlinux, file, List.of("log", lastHeld, firstAbsent), true);
                assertTrue(out.get("log").contains(f.get("MARKER")), file + ": crash --minimal reads the log");
                assertTrue(out.get(lastHeld).contains(Long.toHexString(held - 4096) + ":"), out.get(lastHeld));
                assertTrue(out.get(firstAbsent).matches("(?s).*(read|seek) error: physical address: "
                        + Long.toHexString(held) + ".*"), file + ": " + out.get(firstAbsent));
            }
            assertReported(mnt, ram.guestPaddrStart() + held, ram.guestPaddrEnd(), "pc.ram");
        }
    }

    /**
     * The 1 TiB q35 guest stopped before it ran, as the kernel dumped it: pc.rom was never written, so its mapping
     * has no data in the core; the rest of the RAM is there (mostly holes). It mounts, lists, serves the bytes QEMU's
     * loader wrote, and says pc.rom is absent.
     */
    @Test
    void mount_tibGuestStoppedBeforeItRan_servesLoaderWritesAndPcRomAbsent() throws Exception {
        QemuFixture f = QemuFixture.q35Mem1tStopped();
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        // Mounting scans guest RAM for VMCOREINFO: until that scan skips the core's holes, minutes for 1 TiB.
        try (RealCoreMountIT.Cli.Mount m = RealCoreMountIT.Cli.mount(f.core(), mnt, 15)) {
            try (Stream<Path> files = Files.list(mnt)) {
                assertEquals(List.of("blocks.txt", "status", "vmcore.elf", "vmcore.kdump-lzo", "vmcore.kdump-snappy",
                        "vmcore.kdump-zlib", "vmcore.kdump-zstd"),
                        files.map(p -> p.getFileName().toString()).sorted().toList());
            }
            // pc.rom: 128 KiB at 0xc0000 (qemu-mtree.txt), absent from the core and so from every PT_LOAD.
            assertReported(mnt, 0xc0000, 0xe0000, "pc.rom");
            Path elf = mnt.resolve("vmcore.elf");
            List<Readelf.Phdr> loads = Readelf.loads(elf);
            assertTrue(loads.stream().noneMatch(ph -> ph.paddr() < 0xe0000 && ph.paddr() + ph.filesz() > 0xc0000),
                    "no PT_LOAD covers pc.rom: " + loads);
            assertTrue(!f.loaderWrites().isEmpty());
            try (FileChannel ch = FileChannel.open(elf, StandardOpenOption.READ)) {
                for (QemuFixture.LoaderWrite w : f.loaderWrites()) {
                    Readelf.Phdr ph = loads.stream().filter(l -> l.paddr() <= w.guestPaddr()
                            && w.guestPaddr() + w.size() <= l.paddr() + l.filesz()).findFirst()
                            .orElseThrow(() -> new AssertionError("no PT_LOAD holds the loader write " + w));
                    ByteBuffer b = ByteBuffer.allocate((int) w.size());
                    long at = ph.offset() + (w.guestPaddr() - ph.paddr());
                    while (b.hasRemaining()) {
                        if (ch.read(b, at + b.position()) < 0) {
                            throw new AssertionError("vmcore.elf ends inside " + w);
                        }
                    }
                    assertArrayEquals(Files.readAllBytes(w.file()), b.array(), "loader write " + w);
                }
            }
        }
    }

    /** Returns the guest-physical address just past the kernel image (code, data and bss in the guest's iomem). */
    private static long kernelImageEnd(QemuFixture f) {
        GuestFacts facts = f.guestFacts();
        return Stream.of("Kernel code", "Kernel data", "Kernel bss").flatMap(n -> facts.iomem(n).stream())
                .mapToLong(r -> r.guestPaddrEnd() + 1).max()
                .orElseThrow(() -> new AssertionError("guest-facts.txt of " + f.dir() + " has no Kernel iomem"));
    }

    /** Asserts that blocks.txt and status say RAM is absent, and that blocks.txt lists [from, to) of {@code name}. */
    private static void assertReported(Path mnt, long from, long to, String name) throws IOException {
        String blocks = Files.readString(mnt.resolve("blocks.txt"));
        assertTrue(blocks.contains("\n# partial: "), blocks);
        assertTrue(blocks.contains(String.format("%n# %016x %016x ", from, to)) && blocks.contains(" " + name + " "),
                "blocks.txt lists the absent range:\n" + blocks);
        String status = Files.readString(mnt.resolve("status"));
        assertTrue(status.contains("\nRAM: partial: "), status);
    }
}

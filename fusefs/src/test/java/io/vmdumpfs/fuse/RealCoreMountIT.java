package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.testing.Crash;
import io.vmdumpfs.core.testing.ElfCompare;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.Readelf;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The main job end to end: mount a real QEMU process core with the real CLI and let readelf, crash and makedumpfile
 * read /MNT/vmcore.elf, judged against QEMU's own dump-guest-memory of the same stopped guest.
 */
class RealCoreMountIT {

    /** The crash commands the issue names; outputs must equal those on QEMU's own dump. */
    static final List<String> CRASH_COMMANDS = List.of("sys", "ps", "kmem -i", "log");

    @TempDir
    Path tmp;

    @Test
    void mount_pc256_clientsReadVmcoreElfLikeQemusDump() throws Exception {
        check(QemuFixture.pc256());
    }

    @Test
    void mount_q35With3GiB_clientsReadVmcoreElfLikeQemusDump() throws Exception {
        check(QemuFixture.q35big());
    }

    @Test
    void info_pc256_listsEveryVcpuWithQemusRip() throws Exception {
        QemuFixture f = QemuFixture.pc256();
        // vCPU 0's rip in QEMU's own dump: its first note is vCPU 0's NT_PRSTATUS ("CORE", namesz 5), whose
        // x86_64_elf_prstatus has pr_reg at 112 and rip as pr_reg's 17th word
        Readelf.Phdr note = Readelf.programHeaders(f.qemuDumpElf()).stream().filter(p -> p.type().equals("NOTE"))
                .findFirst().orElseThrow();
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(12 + 8 + 336).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        try (var ch = java.nio.channels.FileChannel.open(f.qemuDumpElf())) {
            ch.read(b, note.offset());
        }
        assertEquals(5, b.getInt(0), "QEMU's first note is CORE");
        assertEquals(1, b.getInt(8), "NT_PRSTATUS");
        long rip0 = b.getLong(12 + 8 + 112 + 16 * 8);
        try (var dump = io.vmdumpfs.core.guest.GuestDumps.open(f.core(), java.util.Optional.empty())) {
            Map<String, String> info = InfoCommand.describe(dump);
            assertTrue(info.get("vCPUs").startsWith("2, registers exact (TCG"), info.get("vCPUs"));
            assertTrue(info.containsKey("vCPU 0") && info.containsKey("vCPU 1"), info.toString());
            // then what the guest kernel ran there: the idle guest's CPU 0 runs its idle task
            assertEquals("long mode, rip 0x" + Long.toHexString(rip0) + ", exact; kernel CPU 0 runs pid 0 (swapper/0)",
                    info.get("vCPU 0"));
        }
    }

    private void check(QemuFixture f) throws Exception {
        Path vmlinux = Crash.vmlinux(f.get("UNAME"));
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        try (Cli.Mount m = Cli.mount(f.core(), mnt)) {
            Path elf = mnt.resolve("vmcore.elf");
            // crash on both dumps at once: each takes seconds to start.
            CompletableFuture<Map<String, String>> theirs = CompletableFuture.supplyAsync(
                    () -> Crash.run(vmlinux, f.qemuDumpElf(), CRASH_COMMANDS));
            Map<String, String> ours = Crash.run(vmlinux, elf, CRASH_COMMANDS);

            long bytes = ElfCompare.assertSameMemory(f.qemuDumpElf(), elf);
            assertTrue(bytes >= Long.parseLong(f.get("MEM_MIB")) << 20, "compared all guest RAM: " + bytes);
            assertNotNull(Readelf.noteDesc(elf, "VMCOREINFO"), "readelf -n shows a VMCOREINFO note");
            assertEquals(new String(Readelf.noteDesc(f.qemuDumpElf(), "VMCOREINFO"), StandardCharsets.UTF_8),
                    Files.readString(mnt.resolve("vmcoreinfo")), "/MNT/vmcoreinfo is the guest's VMCOREINFO");

            Map<String, String> expected = theirs.get(10, TimeUnit.MINUTES);
            for (String cmd : CRASH_COMMANDS) {
                assertEquals(expected.get(cmd), ours.get(cmd), "crash `" + cmd + "` on vmcore.elf vs QEMU's dump");
            }
            assertTrue(ours.get("log").contains(f.get("MARKER")), "guest's marker line in crash's log");
            assertTrue(ours.get("sys").contains("RELEASE: " + f.get("UNAME")), ours.get("sys"));

            String dmesg = Crash.makedumpfileDmesg(elf, tmp);
            assertTrue(dmesg.contains(f.get("MARKER")), "makedumpfile --dump-dmesg extracts the marker");

            String status = Files.readString(mnt.resolve("status"));
            assertTrue(status.contains("vmcore.elf: ready\n"), "status file");
            assertTrue(status.startsWith("vCPUs: 2, registers exact (TCG"), "status says how exact the registers are:\n"
                    + status);

            String blocks = Files.readString(mnt.resolve("blocks.txt"));
            for (Readelf.Phdr ph : Readelf.loads(f.qemuDumpElf())) {
                assertTrue(blocks.contains(String.format("%016x %016x", ph.paddr(), ph.paddr() + ph.filesz())),
                        "blocks.txt lists " + ph + ":\n" + blocks);
            }
        }
    }

    /** Runs the real command line (the shaded jar) as a separate process, as a user would. */
    static final class Cli {

        static Path jar() {
            Path jar = QemuFixture.repoRoot().resolve("fusefs/target/vmdumpfs.jar");
            assertTrue(Files.isRegularFile(jar), jar + " not built");
            return jar;
        }

        /** Mounts {@code core} on {@code mnt} in the background and returns once mounted. */
        static Mount mount(Path core, Path mnt) throws IOException, InterruptedException {
            return mount(core, mnt, 2);
        }

        /** Mounts as {@link #mount(Path, Path)} does, allowing the mount {@code minutes} to start. */
        static Mount mount(Path core, Path mnt, int minutes) throws IOException, InterruptedException {
            Prerequisites.require("/dev/fuse", () -> {
                if (!Files.exists(Path.of("/dev/fuse"))) {
                    throw new IOException("no /dev/fuse");
                }
            });
            Process p = new ProcessBuilder("java", "-jar", jar().toString(), core.toString(), mnt.toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(minutes, TimeUnit.MINUTES), "mount did not return");
            assertEquals(0, p.exitValue(), "vmdumpfs " + core + " " + mnt + ": " + out);
            return new Mount(mnt);
        }

        /** A live mount; closing unmounts it and checks that nothing is left mounted. */
        record Mount(Path mnt) implements AutoCloseable {
            @Override
            public void close() throws IOException, InterruptedException {
                Process p = new ProcessBuilder("fusermount", "-u", mnt.toString()).redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                p.waitFor(1, TimeUnit.MINUTES);
                assertEquals(0, p.exitValue(), "fusermount -u: " + out);
                String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
                assertTrue(!mounts.contains(" " + mnt + " "), "still mounted: " + mnt);
            }
        }
    }
}

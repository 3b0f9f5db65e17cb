package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.testing.Crash;
import io.vmdumpfs.core.testing.Drgn;
import io.vmdumpfs.core.testing.KernelFixtures;
import io.vmdumpfs.core.testing.Libkdumpfile;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.Readelf;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every reader opens every file: a real QEMU process core (pc and q35, KASLR on and off) mounted with the real CLI,
 * and each of /MNT/vmcore.elf and /MNT/vmcore.kdump-* opened by
 * <ul>
 *   <li>makedumpfile: {@code makedumpfile -c -d 0 /MNT/vmcore.elf REF} counts every RAM page once ("Original
 *       pages" of its report: the kernel image's PT_LOAD must not count twice);</li>
 *   <li>drgn (Debian's python3-drgn; kdump files through libkdumpfile): {@code init_uts_ns.name.release} is the
 *       guest's {@code uname -r}, the task names equal what drgn lists for makedumpfile's own kdump file of the
 *       same guest ({@code makedumpfile -c -d 0 /MNT/vmcore.elf REF}), the kernel log holds the guest's marker,
 *       and {@code prog.stack_trace(1)} gives the frames of the sleeping init;</li>
 *   <li>libkdumpfile: arch x86_64, the guest's release (from a kdump file: the whole utsname, which it takes from
 *       the header only when its fields are filled), and every guest-physical page, read through it, equal to
 *       QEMU's own dump of the same guest;</li>
 *   <li>crash (on vmcore.elf and one kdump file; KdumpIT runs the other codecs): {@code sys}, {@code ps},
 *       {@code kmem -i}, {@code log} exactly as on QEMU's own ELF dump; and
 *       {@code makedumpfile --dump-dmesg} finds the marker (vmcore.elf and the zlib and lzo files: Debian's
 *       makedumpfile has neither snappy nor zstd);</li>
 *   <li>gdb (KASLR off, where the vmlinux's addresses hold): {@code gdb VMLINUX /MNT/vmcore.elf} prints
 *       {@code init_uts_ns.name.release} from the kernel image segment, and follows {@code init_task.tasks.next},
 *       a direct-map pointer, to the next task's name.</li>
 * </ul>
 * drgn's stack traces on kdump files need one NT_PRSTATUS note per vCPU in the kdump note section (libkdumpfile
 * counts CPUs by them). And drgn 0.0.22 gives a task a CPU's note registers when the note's pr_pid is the task's
 * pid: with QEMU's pr_pid = cpu + 1, init (sleeping, last on CPU 0) would get CPU 0's idle loop; our notes carry the
 * running task's pid as the kernel writes it, so init's own saved stack must come out, on every file.
 */
class KernelReadersIT {

    static final List<String> KDUMP_FILES = List.of("vmcore.kdump-zlib", "vmcore.kdump-lzo", "vmcore.kdump-snappy",
            "vmcore.kdump-zstd");

    @TempDir
    Path tmp;

    static Stream<String> fixtures() {
        return KernelFixtures.NAMES.stream();
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void readers_everyFile_seeTheGuest(String name) throws Exception {
        QemuFixture f = KernelFixtures.get(name);
        boolean big = f.memBytes() > (1L << 30);
        Path vmlinux = Crash.vmlinux(f.get("UNAME"));
        Drgn.requireModule("drgn", "python3-drgn");
        QemuFixture.requireCommand("makedumpfile", "apt-get install makedumpfile");
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        try (RealCoreMountIT.Cli.Mount m = RealCoreMountIT.Cli.mount(f.core(), mnt)) {
            Path elf = mnt.resolve("vmcore.elf");

            // the reference: makedumpfile's own kdump file of the same guest, read by drgn. Its report counts the
            // pages of every PT_LOAD: no page may be counted twice, none left out.
            Path ref = tmp.resolve("ref.kdump");
            String report = run(15, "makedumpfile", "-c", "-d", "0", "--message-level", "31", elf.toString(),
                    ref.toString());
            long total = reportNumber(report, "Total pages");
            assertEquals(ramPages(Files.readString(mnt.resolve("blocks.txt")), total),
                    reportNumber(report, "Original pages"), "makedumpfile counts each RAM page once:\n" + report);
            Drgn.Facts want = Drgn.drgnFacts(vmlinux, ref);
            assertEquals(f.get("UNAME"), want.one("release"), "drgn on makedumpfile's file");
            assertTrue(want.all("task").contains("init"), want.toString());

            Map<String, String> qemuCrash = Crash.run(vmlinux, f.qemuDumpElf(), RealCoreMountIT.CRASH_COMMANDS);
            long qemuBytes = Readelf.loads(f.qemuDumpElf()).stream().mapToLong(Readelf.Phdr::filesz).sum();
            List<String> files = new ArrayList<>(List.of("vmcore.elf"));
            files.addAll(big ? List.of("vmcore.kdump-zstd") : KDUMP_FILES);
            for (String file : files) {
                Path dump = mnt.resolve(file);
                String what = file + " of " + name;

                long t0 = System.nanoTime();
                Drgn.Facts got = Drgn.drgnFacts(vmlinux, dump);
                long t1 = System.nanoTime();
                assertEquals(f.get("UNAME"), got.one("release"), what);
                assertEquals(f.guestFacts().nodename(), got.one("nodename"), what);
                assertEquals(sorted(want.all("task")), sorted(got.all("task")), what + ": task names");
                assertTrue(got.all("marker").stream().anyMatch(l -> l.endsWith(f.get("MARKER"))), what + ":\n" + got);
                // drgn 0.0.22 takes the NT_PRSTATUS note of the task's CPU when the note's pr_pid equals the
                // task's pid: with QEMU's cpu + 1 pid 1 on CPU 0 would unwind CPU 0's idle loop (NotePids)
                assertFalse(got.all("frame").contains("do_idle"), what + ": init (on CPU " + got.one("init-cpu")
                        + ") must not get CPU 0's idle registers: " + got.all("frame"));
                assertInitStack(got, what);

                Libkdumpfile.Info lk = Libkdumpfile.open(dump);
                assertEquals("x86_64", lk.arch(), what);
                assertEquals(java.util.Optional.of(f.get("UNAME")), lk.osRelease(), what);
                if (!file.equals("vmcore.elf")) {
                    // a kdump header's utsname, which libkdumpfile takes only when all five it checks are filled
                    assertEquals(Map.of("sysname", "Linux", "nodename", f.guestFacts().nodename(), "release",
                            f.get("UNAME"), "version", f.guestFacts().version(), "machine", "x86_64", "domainname",
                            f.guestFacts().domainname()), lk.utsname(), what + ": libkdumpfile's utsname");
                }
                Libkdumpfile.Comparison pages = Libkdumpfile.compareWithElf(dump, f.qemuDumpElf());
                assertEquals(0, pages.bytesAbsent(), what + ": " + pages.absentWhy());
                assertEquals(qemuBytes, pages.bytesEqual(), what + ": every guest-physical page, as QEMU's");
                long t2 = System.nanoTime();

                // crash on vmcore.elf and one kdump file (KdumpIT runs it on every codec)
                if (file.equals("vmcore.elf") || file.equals(files.get(1))) {
                    Map<String, String> ours = Crash.run(vmlinux, dump, RealCoreMountIT.CRASH_COMMANDS);
                    for (String cmd : RealCoreMountIT.CRASH_COMMANDS) {
                        assertEquals(qemuCrash.get(cmd), ours.get(cmd), "crash `" + cmd + "` on " + what);
                    }
                }
                System.out.printf(java.util.Locale.ROOT, "%s: drgn %.1f s, libkdumpfile %.1f s, crash %.1f s%n",
                        what, (t1 - t0) / 1e9, (t2 - t1) / 1e9, (System.nanoTime() - t2) / 1e9);
                if (!file.endsWith("snappy") && !file.endsWith("zstd")) {
                    assertTrue(Crash.makedumpfileDmesg(dump, tmp).contains(f.get("MARKER")), what);
                }
            }

            if (f.get("KASLR").equals("off")) {
                String gdb = run(5, "gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off",
                        "-ex", "p init_uts_ns.name.release",
                        "-ex", "p ((struct task_struct *)((char *)init_task.tasks.next"
                                + " - (unsigned long)&((struct task_struct *)0)->tasks))->comm",
                        vmlinux.toString(), elf.toString());
                assertTrue(gdb.contains("$1 = \"" + f.get("UNAME") + "\""), gdb);
                // the first task after init_task (the swapper) in the tasks list is pid 1
                assertTrue(gdb.contains("$2 = \"init\""), "gdb follows a direct-map pointer:\n" + gdb);
            }
        }
    }

    /** init (pid 1) sleeps in wait4: its trace runs from the scheduler down to the system call entry. */
    private static void assertInitStack(Drgn.Facts got, String what) {
        assertEquals(List.of(), got.all("stack-error"), what);
        List<String> frames = got.all("frame");
        assertTrue(frames.contains("__schedule"), what + ": " + frames);
        assertTrue(frames.stream().anyMatch(s -> s.startsWith("entry_SYSCALL_64")), what + ": " + frames);
        assertTrue(frames.size() < 40, what + ": the unwinder stops in user space: " + frames.size() + " frames");
    }

    /** Returns the hex number after "{@code key} :" in makedumpfile's report. */
    private static long reportNumber(String report, String key) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^\\s*" + key + "\\s*: 0x(\\p{XDigit}+)")
                .matcher(report);
        assertTrue(m.find(), "no '" + key + "' in makedumpfile's report:\n" + report);
        return Long.parseUnsignedLong(m.group(1), 16);
    }

    /** Returns how many 4 KiB pages below pfn {@code maxPfn} blocks.txt's blocks hold. */
    private static long ramPages(String blocksTxt, long maxPfn) {
        long pages = 0;
        for (String line : blocksTxt.lines().toList()) {
            String[] f = line.strip().split("\\s+");
            if (line.startsWith("#") || f.length < 2) {
                continue;
            }
            long start = Long.parseUnsignedLong(f[0], 16) >>> 12;
            long end = Math.min(Long.parseUnsignedLong(f[1], 16) >>> 12, maxPfn);
            pages += Math.max(0, end - start);
        }
        return pages;
    }

    private static List<String> sorted(List<String> l) {
        return l.stream().sorted().toList();
    }

    /** Runs {@code command}, fails unless it exits 0 within {@code minutes}; returns stdout and stderr. */
    private static String run(int minutes, String... command) throws IOException, InterruptedException {
        Process proc = new ProcessBuilder(command).redirectErrorStream(true).start();
        proc.getOutputStream().close();
        String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(proc.waitFor(minutes, TimeUnit.MINUTES), String.join(" ", command) + " did not finish");
        assertEquals(0, proc.exitValue(), String.join(" ", command) + ":\n" + out);
        assertFalse(out.isEmpty() && command[0].equals("gdb"), "gdb printed nothing");
        return out;
    }
}

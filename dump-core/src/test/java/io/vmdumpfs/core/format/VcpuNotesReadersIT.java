package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.testing.Crash;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.Readelf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The vCPU notes as readers use them, on the real pc 256 MiB guest: crash's backtraces of the active tasks (which
 * start from NT_PRSTATUS) are the same on our vmcore.elf and kdump-zlib as on QEMU's own dump; drgn's stack trace of
 * each CPU's running task starts at QEMU's rip for that vCPU.
 */
class VcpuNotesReadersIT {

    @TempDir
    Path tmp;

    @Test
    void crash_registersAndBacktraces_sameAsOnQemusDump() throws IOException {
        QemuFixture f = QemuFixture.pc256();
        Path vmlinux = Crash.vmlinux(f.get("UNAME"));
        try (GuestDump d = GuestDumps.open(f.core(), Optional.empty())) {
            Path elf = ExternalTool.writeTo(DumpFormat.ELF.open(d, FormatContext.uncached()), tmp.resolve("vmcore.elf"));
            Path kdump = ExternalTool.writeTo(DumpFormat.KDUMP_ZLIB.open(d, FormatContext.uncached()),
                    tmp.resolve("vmcore.kdump"));
            Map<String, String> qemu = Crash.run(vmlinux, f.qemuDumpElf(), List.of("help -n", "bt -a"));
            Map<String, String> ours = Crash.run(vmlinux, elf, List.of("help -n", "bt -a"));
            Map<String, String> oursKdump = Crash.run(vmlinux, kdump, List.of("help -D", "bt -a"));

            List<String> qemuRips = ripsShown(qemu.get("help -n"));
            assertEquals(new TreeSet<>(qemuRips(f.qemuDumpElf())), new TreeSet<>(qemuRips),
                    "crash shows the rip of each of QEMU's NT_PRSTATUS notes");
            for (String dump : List.of(ours.get("help -n"), oursKdump.get("help -D"))) {
                assertTrue(dump.matches("(?s).*num_prstatus_notes: 2\\n.*"), "two NT_PRSTATUS notes:\n" + dump);
                assertTrue(dump.matches("(?s).*num_qemu_notes: 2\\n.*"), "two QEMU notes:\n" + dump);
            }
            assertTrue(registerLines(qemu.get("help -n")).size() >= 4, "crash decodes registers:\n" + qemu.get("help -n"));
            assertEquals(registerLines(qemu.get("help -n")), registerLines(ours.get("help -n")),
                    "crash decodes the same registers from vmcore.elf as from QEMU's dump");
            assertEquals(new TreeSet<>(qemuRips), new TreeSet<>(ripsShown(oursKdump.get("help -D"))),
                    "and from vmcore.kdump-zlib");
            assertEquals(qemu.get("bt -a"), ours.get("bt -a"), "bt -a on vmcore.elf");
            assertEquals(qemu.get("bt -a"), oursKdump.get("bt -a"), "bt -a on vmcore.kdump-zlib");
        }
    }

    /** Returns the lines of crash's register dumps ("RAX: … RBX: …"), in order. */
    private static List<String> registerLines(String out) {
        return out.lines().map(String::strip).filter(l -> l.matches("([A-Z0-9]{2,6}: [0-9a-f]{8,16}\\s*)+")).toList();
    }

    /** Returns every "RIP: x" crash printed, as "0x…" without leading zeros. */
    private static List<String> ripsShown(String out) {
        List<String> rips = new ArrayList<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("RIP: ([0-9a-f]{16})").matcher(out);
        while (m.find()) {
            rips.add("0x" + Long.toHexString(Long.parseUnsignedLong(m.group(1), 16)));
        }
        return rips;
    }

    /**
     * drgn (issue 15's check): for each CPU, the stack trace from its NT_PRSTATUS note in vmcore.elf starts at the rip
     * QEMU's dump has for that vCPU, unwinds through named kernel functions, and runs on the stack of the task the
     * CPU was running ({@code per_cpu(runqueues, cpu).curr}); and {@code prog.stack_trace(curr)} starts there too.
     * drgn 0.0.22 (Debian 12) takes a running task's registers from the CPU's note only when pr_pid is that task's
     * pid: QEMU writes cpu + 1 there, we write the running task's pid as the kernel does (NotePids). The note's own
     * registers are also given to drgn as a {@code struct pt_regs}, read from the file by the script itself.
     *
     * <p>Needs drgn to translate kernel addresses in vmcore.elf at all, which it cannot before the kernel layer gives
     * vmcore.elf its kernel mappings (drgn fails the same way on QEMU's own paging=false dump): until then this
     * reports a skip saying so.
     */
    @Test
    void drgn_idleGuest_runningTaskStacksStartAtQemusRip() throws IOException {
        drgnStacks(QemuFixture.pc256());
    }

    /** The busy guest: a dd in the kernel on each CPU, so each trace is a real task's, not an idle loop's. */
    @Test
    void drgn_busyGuest_runningTaskStacksStartAtQemusRip() throws IOException {
        drgnStacks(QemuFixture.pc256Busy());
    }

    private void drgnStacks(QemuFixture f) throws IOException {
        Path vmlinux = Path.of("/usr/lib/debug/boot/vmlinux-" + f.get("UNAME"));
        QemuFixture.require(Files.isReadable(vmlinux), vmlinux + " missing");
        QemuFixture.require(ExternalTool.runAnyExit("/usr/bin/python3", "-c", "import drgn").exitCode() == 0,
                "python3-drgn missing (apt-get install python3-drgn)");
        List<String> rips = qemuRips(f.qemuDumpElf());
        try (GuestDump d = GuestDumps.open(f.core(), Optional.empty())) {
            Path elf = ExternalTool.writeTo(DumpFormat.ELF.open(d, FormatContext.uncached()), tmp.resolve("vmcore.elf"));
            Path script = Files.writeString(tmp.resolve("cpus.py"), """
                    import struct, sys, drgn
                    from drgn import Object
                    from drgn.helpers.linux.percpu import per_cpu
                    path, vmlinux = sys.argv[1], sys.argv[2]
                    prog = drgn.Program()
                    prog.set_core_dump(path)
                    prog.load_debug_info([vmlinux])
                    try:
                        prog['init_uts_ns'].name.release.string_()
                    except drgn.FaultError as e:
                        print('NO-KERNEL-MAPPINGS', e)
                        sys.exit(3)
                    # the NT_PRSTATUS notes of the ELF file, read here, not by vmdumpfs
                    data = open(path, 'rb').read(1 << 20)
                    phoff, = struct.unpack_from('<Q', data, 32)
                    phnum, = struct.unpack_from('<H', data, 56)
                    regs = []
                    for i in range(phnum):
                        ptype, _, off, _, _, filesz = struct.unpack_from('<IIQQQQ', data, phoff + 56 * i)
                        if ptype != 4:
                            continue
                        pos = off
                        while pos + 12 <= off + filesz:
                            namesz, descsz, ntype = struct.unpack_from('<III', data, pos)
                            name = data[pos + 12:pos + 12 + namesz].rstrip(b'\\0')
                            desc = pos + 12 + ((namesz + 3) & ~3)
                            if name == b'CORE' and ntype == 1:
                                regs.append(data[desc + 112:desc + 112 + 21 * 8])   # pr_reg: struct pt_regs
                            pos = desc + ((descsz + 3) & ~3)
                    for cpu, r in enumerate(regs):
                        curr = per_cpu(prog['runqueues'], cpu).curr
                        trace = prog.stack_trace(Object.from_bytes_(prog, 'struct pt_regs', r))
                        rsp = struct.unpack_from('<Q', r, 19 * 8)[0]
                        stack = curr.stack.value_()
                        on_curr_stack = stack <= rsp < stack + 4 * 4096
                        named = sum(1 for frame in trace if frame.name)
                        line = '%d %s %s %s' % (cpu, hex(trace[0].pc), 'on-curr-stack' if on_curr_stack else
                                                'NOT-on-curr-stack', 'named' if named >= 3 else 'unnamed')
                        line += ' ' + hex(prog.stack_trace(curr)[0].pc)
                        print(line)
                    """);
            ExternalTool.Result r = ExternalTool.runAnyExit("/usr/bin/python3", script.toString(), elf.toString(),
                    vmlinux.toString());
            Assumptions.assumeFalse(r.exitCode() == 3, "drgn cannot translate kernel addresses in vmcore.elf yet"
                    + " (needs the kernel layer's mappings): " + r.output().strip());
            assertEquals(0, r.exitCode(), r.output());
            List<String> lines = r.output().strip().lines().toList();
            assertEquals(rips.size(), lines.size(), r.output());
            for (int cpu = 0; cpu < rips.size(); cpu++) {
                String want = cpu + " " + rips.get(cpu) + " on-curr-stack named " + rips.get(cpu);
                assertEquals(want, lines.get(cpu), "CPU " + cpu + ": the note's registers, and drgn's trace of the"
                        + " task running there");
            }
        }
    }

    /** Returns rip of each NT_PRSTATUS note in QEMU's dump, in note order (cpu 0, 1, …), as "0x…". */
    private static List<String> qemuRips(Path qemuElf) throws IOException {
        Readelf.Phdr note = Readelf.programHeaders(qemuElf).stream().filter(p -> p.type().equals("NOTE")).findFirst()
                .orElseThrow();
        ByteBuffer b = ByteBuffer.allocate((int) note.filesz());
        try (FileChannel ch = FileChannel.open(qemuElf, StandardOpenOption.READ)) {
            ch.read(b, note.offset());
        }
        List<String> rips = new ArrayList<>();
        for (ElfNote n : ElfNotes.read(b.array(), ByteOrder.LITTLE_ENDIAN).notes()) {
            if (n.name().equals("CORE") && n.type() == ElfNote.NT_PRSTATUS) {
                // x86_64_elf_prstatus: user_regs_struct at 112, rip its 17th word
                rips.add("0x" + Long.toHexString(n.descBuffer().getLong(112 + 16 * 8)));
            }
        }
        return rips;
    }
}

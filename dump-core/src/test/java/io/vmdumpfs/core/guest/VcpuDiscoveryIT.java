package io.vmdumpfs.core.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.NotePids;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.testing.Crash;
import io.vmdumpfs.core.testing.GuestFacts;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.Readelf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * vCPU discovery on real QEMU process cores, judged against QEMU's own dump-guest-memory of the same stopped guest:
 * the PT_NOTE segment of our vmcore.elf (every vCPU's NT_PRSTATUS, every vCPU's "QEMU" note, then VMCOREINFO) must
 * equal QEMU's byte for byte, and our kdump files' note section must equal the one in QEMU's kdump-zlib file —
 * except each NT_PRSTATUS's pr_pid, where we write the pid of the task the CPU was running, as the kernel does
 * (NotePids says why QEMU's cpu + 1 is wrong): that must be what crash's {@code ps} shows active on that CPU in
 * QEMU's own dump. QEMU's files are read with readelf and a small reader of the flattened kdump format, and the
 * running tasks by crash, not with our code. Idle, busy (a dd on each CPU) and panicked guests.
 */
class VcpuDiscoveryIT {

    @Test
    void notes_pc256_byteIdenticalToQemusDump() throws IOException {
        check(QemuFixture.pc256());
    }

    @Test
    void notes_q35With3GiB_byteIdenticalToQemusDump() throws IOException {
        check(QemuFixture.q35big());
    }

    @Test
    void notes_busyGuest_prPidIsEachCpusDd() throws IOException {
        check(QemuFixture.pc256Busy());
    }

    @Test
    void notes_panickedGuest_prPidIsThePanickingShell() throws IOException {
        check(QemuFixture.pc256Panicked());
    }

    @Test
    void notes_kernelWrittenCore_sameAsFromGcore() throws IOException {
        check(QemuFixture.pc256KernelCore());
    }

    /**
     * The idle aarch64 guest (qemu-system-aarch64 7.2, -smp 2, cortex-a57, Debian's cloud-arm64 6.1): QEMU writes
     * NT_PRSTATUS and NT_PRFPREG per vCPU, and so do we: the whole PT_NOTE (the vCPU notes, then VMCOREINFO) and the
     * kdump file's vCPU notes equal QEMU's byte for byte. The registers are also checked against QEMU's own "info
     * registers" of the stopped guest (qemu-registers.txt: PC, SP, PSTATE and the mode it names).
     */
    @Test
    void notes_aarch64_byteIdenticalToQemusDump() throws IOException {
        checkAarch64(QemuFixture.aarch64());
    }

    /** The busy aarch64 guest (a dd pinned to each CPU, in the kernel when stopped): as the idle one. */
    @Test
    void notes_aarch64Busy_byteIdenticalToQemusDump() throws IOException {
        QemuFixture f = QemuFixture.aarch64Busy();
        assertEquals(2, GuestFacts.read(f.dir().resolve("guest-facts.txt")).values("busy").size(),
                "a dd on each CPU");
        checkAarch64(f);
    }

    /**
     * Checks the aarch64 notes of {@code f}.
     *
     * <p>pr_pid stays QEMU's cpu + 1, and NotePids says why: Debian's arm64 kernels (cloud-arm64 and arm64 6.1) are
     * built without CONFIG_KALLSYMS_ALL, so their kallsyms has no data symbols (runqueues, __per_cpu_offset,
     * __start_BTF), and their packages' System.map is a placeholder (the real one is in the -dbg package). The
     * vCPU → kernel CPU mapping by TPIDR_EL1 is tested on synthetic vCPUs (NotePidsTest).
     */
    private static void checkAarch64(QemuFixture f) throws IOException {
        try (GuestDump d = GuestDumps.open(f.core(), Optional.empty())) {
            Vcpus v = d.vcpus();
            assertEquals(Optional.empty(), v.failure(), "vCPUs found");
            assertEquals(Integer.parseInt(f.get("SMP")), v.list().size(), "one per -smp");
            assertEquals(List.of(0, 1), v.list().stream().map(Vcpu::index).toList(), "CPU_FOREACH order");
            assertTrue(v.exactness().startsWith("exact (TCG"), v.exactness());
            List<String> qemuRegs = qemuRegisters(f);
            for (Vcpu cpu : v.list()) {
                Aarch64Registers r = (Aarch64Registers) cpu.registers();
                String line = qemuRegs.get(cpu.index());
                assertTrue(line.contains(String.format(" PC=%016x ", r.pc())), line);
                assertTrue(line.contains(String.format(" SP=%016x", r.sp())), line);
                assertTrue(line.contains(String.format("PSTATE=%08x ", r.pstate())), line);
                assertTrue(line.contains(" " + r.mode() + " "), "QEMU names the mode: " + line);
                assertEquals("cortex-a57-arm-cpu", cpu.type());
                assertEquals(Aarch64EnvLayout.QEMU.headBytes(), r.sysregsAt());
                assertEquals((Aarch64CpuTarget.ZREGS_BY_BUILD.values().iterator().next() - r.sysregsAt()) / 8,
                        r.sysregs().length, "the system register words up to the FP/SIMD block are read");
            }
            byte[] qemuNotes = qemuElfNotes(f.qemuDumpElf());
            assertEquals(List.of("CORE/1", "CORE/2", "CORE/1", "CORE/2", "VMCOREINFO/0"), noteKinds(qemuNotes),
                    "QEMU's order: each vCPU's NT_PRSTATUS and NT_PRFPREG, then VMCOREINFO");
            assertEquals(List.of(1, 2), prPids(qemuNotes), "QEMU's convention: cpu_index + 1");
            byte[] qemuKdumpNotes = flattenedKdumpNotes(f.dir().resolve("qemu-dump.kdump-zlib"));

            NotePids alone = NotePids.of(d);
            assertFalse(alone.fromKernel(), alone.describe());
            assertTrue(alone.describe().contains("CONFIG_KALLSYMS_ALL"), alone.describe());
            byte[] ours = segment(DumpFormat.ELF.open(d, FormatContext.uncached()), noteOffset(d));
            assertEquals(HexFormat.of().formatHex(qemuNotes), HexFormat.of().formatHex(ours),
                    "vmcore.elf's PT_NOTE equals QEMU's byte for byte");
            View kdump = DumpFormat.KDUMP_ZLIB.open(d, FormatContext.uncached());
            assertArrayEquals(cpuNotes(qemuKdumpNotes), cpuNotes(kdumpNotes(kdump)),
                    "the kdump note section's NT_PRSTATUS and NT_PRFPREG notes equal QEMU's");
            ByteBuffer h = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
            kdump.read(0, h);
            assertEquals(2, h.getInt(460), "disk_dump_header.nr_cpus");
        }
    }

    /** Returns QEMU's "info registers" of each vCPU, one line each from "CPU#n" to its PSTATE. */
    private static List<String> qemuRegisters(QemuFixture f) throws IOException {
        String text = java.nio.file.Files.readString(f.dir().resolve("qemu-registers.txt"));
        List<String> out = new java.util.ArrayList<>();
        for (String cpu : text.split("CPU#")) {
            if (!cpu.isBlank()) {
                int end = cpu.indexOf("FPCR=");
                out.add(cpu.substring(0, end < 0 ? cpu.length() : end).replace('\n', ' ') + " ");
            }
        }
        return out;
    }

    private static List<String> noteKinds(byte[] section) {
        return ElfNotes.read(section, ByteOrder.LITTLE_ENDIAN).notes().stream().map(n -> n.name() + "/" + n.type())
                .toList();
    }

    /**
     * Offset of pr_pid in x86_64's and arm64's elf_prstatus: siginfo (12), pr_cursig + pad (4), pr_sigpend,
     * pr_sighold.
     */
    private static final int PR_PID = 32;

    private static void check(QemuFixture f) throws IOException {
        try (GuestDump d = GuestDumps.open(f.core(), Optional.empty())) {
            Vcpus v = d.vcpus();
            assertEquals(Optional.empty(), v.failure(), "vCPUs found");
            assertEquals(2, v.list().size(), "the fixture runs -smp 2");
            assertEquals(List.of(0, 1), v.list().stream().map(Vcpu::index).toList(), "CPU_FOREACH order");
            assertTrue(v.exactness().startsWith("exact (TCG"), v.exactness());

            byte[] qemuNotes = qemuElfNotes(f.qemuDumpElf());
            byte[] ours = segment(DumpFormat.ELF.open(d, FormatContext.uncached()), noteOffset(d));
            List<Integer> running = runningPids(f);
            assertEquals(running, prPids(ours), "pr_pid: the task each CPU ran, as crash's ps shows them");
            assertEquals(List.of(1, 2), prPids(qemuNotes), "QEMU's convention: cpu_index + 1");
            assertEquals(HexFormat.of().formatHex(withQemuPids(qemuNotes)), HexFormat.of().formatHex(withQemuPids(ours)),
                    "vmcore.elf's PT_NOTE equals QEMU's but for pr_pid");

            View kdump = DumpFormat.KDUMP_ZLIB.open(d, FormatContext.uncached());
            byte[] qemuKdumpNotes = flattenedKdumpNotes(f.dir().resolve("qemu-dump.kdump-zlib"));
            byte[] ourKdumpNotes = kdumpNotes(kdump);
            assertTrue(cpuNotes(ourKdumpNotes).length > 0, "the kdump files carry the vCPU notes");
            assertEquals(running, prPids(ourKdumpNotes), "the kdump notes' pr_pid");
            assertArrayEquals(cpuNotes(withQemuPids(qemuKdumpNotes)), cpuNotes(withQemuPids(ourKdumpNotes)),
                    "the kdump note section's NT_PRSTATUS and QEMU notes equal QEMU's but for pr_pid");
            assertArrayEquals(withQemuPids(qemuKdumpNotes), withQemuPids(ourKdumpNotes),
                    "the whole kdump note section equals QEMU's but for pr_pid");
            ByteBuffer h = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
            kdump.read(0, h);
            assertEquals(2, h.getInt(460), "disk_dump_header.nr_cpus");
        }
    }

    /**
     * Returns the pid of the task each CPU was running, in CPU order, as crash's {@code ps} marks them (">") on
     * QEMU's own ELF dump.
     */
    private static List<Integer> runningPids(QemuFixture f) {
        String ps = Crash.run(Crash.vmlinux(f.get("UNAME")), f.qemuDumpElf(), List.of("ps")).get("ps");
        java.util.TreeMap<Integer, Integer> byCpu = new java.util.TreeMap<>();
        // ">  1234      1   0  ffff8880…  RU   0.1 …  dd": PID, PPID (crash may show -1), CPU
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^>\\s+(\\d+)\\s+-?\\d+\\s+(\\d+)\\s")
                .matcher(ps);
        while (m.find()) {
            assertEquals(null, byCpu.put(Integer.parseInt(m.group(2)), Integer.parseInt(m.group(1))), ps);
        }
        assertEquals(List.of(0, 1), List.copyOf(byCpu.keySet()), "one active task per CPU:\n" + ps);
        return List.copyOf(byCpu.values());
    }

    /** Returns the pr_pid of each NT_PRSTATUS note of a note section, in order. */
    private static List<Integer> prPids(byte[] section) {
        return ElfNotes.read(section, ByteOrder.LITTLE_ENDIAN).notes().stream()
                .filter(n -> n.name().equals("CORE") && n.type() == 1)
                .map(n -> ByteBuffer.wrap(n.desc()).order(ByteOrder.LITTLE_ENDIAN).getInt(PR_PID)).toList();
    }

    /** Returns {@code section} with the n-th NT_PRSTATUS note's pr_pid set to QEMU's n + 1, all else as it is. */
    private static byte[] withQemuPids(byte[] section) {
        ByteBuffer out = ByteBuffer.allocate(section.length);
        int cpu = 0;
        for (ElfNote n : ElfNotes.read(section, ByteOrder.LITTLE_ENDIAN).notes()) {
            byte[] desc = n.desc().clone();
            if (n.name().equals("CORE") && n.type() == 1) {
                ByteBuffer.wrap(desc).order(ByteOrder.LITTLE_ENDIAN).putInt(PR_PID, ++cpu);
            }
            out.put(ElfNotes.write(n.name(), n.type(), desc, ByteOrder.LITTLE_ENDIAN));
        }
        assertEquals(section.length, out.position(), "the note section is notes only, re-written to the same size");
        return out.array();
    }

    /** Returns {offset, size} of vmcore.elf's PT_NOTE: the first program header. */
    private static long[] noteOffset(GuestDump d) {
        View elf = DumpFormat.ELF.open(d, FormatContext.uncached());
        ByteBuffer ph = ByteBuffer.allocate(56).order(ByteOrder.LITTLE_ENDIAN);
        elf.read(64, ph);
        assertEquals(4, ph.getInt(0), "PT_NOTE first");
        return new long[] {ph.getLong(8), ph.getLong(32)};
    }

    private static byte[] segment(View v, long[] at) {
        ByteBuffer b = ByteBuffer.allocate((int) at[1]);
        while (b.hasRemaining()) {
            v.read(at[0] + b.position(), b);
        }
        return b.array();
    }

    /** Returns the bytes of QEMU's PT_NOTE, located with readelf. */
    private static byte[] qemuElfNotes(Path elf) throws IOException {
        Readelf.Phdr note = Readelf.programHeaders(elf).stream().filter(p -> p.type().equals("NOTE")).findFirst()
                .orElseThrow();
        ByteBuffer b = ByteBuffer.allocate((int) note.filesz());
        try (FileChannel ch = FileChannel.open(elf, StandardOpenOption.READ)) {
            while (b.hasRemaining()) {
                if (ch.read(b, note.offset() + b.position()) < 0) {
                    throw new AssertionError("QEMU's dump ends inside its notes");
                }
            }
        }
        return b.array();
    }

    /** Returns the note section of one of our kdump files: offset_note, size_note in the sub-header. */
    private static byte[] kdumpNotes(View kdump) {
        ByteBuffer sub = ByteBuffer.allocate(104).order(ByteOrder.LITTLE_ENDIAN);
        kdump.read(4096, sub);
        return segment(kdump, new long[] {sub.getLong(48), sub.getLong(56)}); // offset_note, size_note
    }

    /**
     * Returns the note section of QEMU 7.2's kdump file, which is in makedumpfile's flattened format: a 4 KiB
     * header, then records {be64 offset, be64 size, data} of the file it stands for. Rebuilds the first MiB.
     */
    private static byte[] flattenedKdumpNotes(Path file) throws IOException {
        byte[] logical = new byte[1 << 20]; // QEMU's aarch64 kdump has 64 KiB blocks: the sub-header is at 64 KiB
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long pos = 4096;
            ByteBuffer rec = ByteBuffer.allocate(16).order(ByteOrder.BIG_ENDIAN);
            while (true) {
                rec.clear();
                if (ch.read(rec, pos) < 16) {
                    break;
                }
                long off = rec.getLong(0);
                long size = rec.getLong(8);
                if (off < 0 || off >= logical.length) {
                    break; // past the headers: page data
                }
                ByteBuffer data = ByteBuffer.wrap(logical, (int) off, (int) Math.min(size, logical.length - off));
                ch.read(data, pos + 16);
                pos += 16 + size;
            }
        }
        ByteBuffer b = ByteBuffer.wrap(logical).order(ByteOrder.LITTLE_ENDIAN);
        int blockSize = b.getInt(428);                 // disk_dump_header.block_size
        long offsetNote = b.getLong(blockSize + 48);   // kdump_sub_header.offset_note
        long sizeNote = b.getLong(blockSize + 56);     // kdump_sub_header.size_note
        byte[] out = new byte[(int) sizeNote];
        System.arraycopy(logical, (int) offsetNote, out, 0, out.length);
        return out;
    }

    /** Returns the CORE and QEMU notes of a note section, concatenated as they are. */
    private static byte[] cpuNotes(byte[] section) {
        ByteBuffer out = ByteBuffer.allocate(section.length);
        for (ElfNote n : ElfNotes.read(section, ByteOrder.LITTLE_ENDIAN).notes()) {
            if (n.name().equals("CORE") || n.name().equals("QEMU")) {
                out.put(ElfNotes.write(n.name(), n.type(), n.desc(), ByteOrder.LITTLE_ENDIAN));
            }
        }
        return java.util.Arrays.copyOf(out.array(), out.position());
    }
}

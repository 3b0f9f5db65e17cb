package io.vmdumpfs.core.guest;

import static io.vmdumpfs.core.testing.SyntheticCore.MiB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.format.DumpNotes;
import io.vmdumpfs.core.format.ElfLayout;
import io.vmdumpfs.core.testing.SyntheticCore;
import io.vmdumpfs.core.testing.SyntheticCpu;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * VcpuDiscovery on synthetic QEMU cores: the vCPUs, their registers and QEMU's order when every hop holds, and for
 * each hop a damaged core that yields no vCPU and a reason (never an exception, never a wrong register).
 */
class VcpuDiscoveryTest {

    @TempDir
    Path dir;

    private SyntheticCore write(SyntheticCore.Builder spec) {
        return spec.write(dir.resolve("core"));
    }

    private static SyntheticCore.Builder guest() {
        return SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB);
    }

    private static Vcpus discover(SyntheticCore c) {
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            return VcpuDiscovery.discover(pc, GuestArch.X86_64, RamDiscovery.discover(pc).addressSpaceVaddr());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static void assertSameRegisters(X86Registers want, CpuRegisters got) {
        X86Registers x = (X86Registers) got;
        assertArrayEquals(want.regs(), x.regs(), "regs");
        assertEquals(want.eip(), x.eip(), "eip");
        assertEquals(want.eflags(), x.eflags(), "eflags");
        assertEquals(want.hflags(), x.hflags(), "hflags");
        assertEquals(List.of(want.segs()), List.of(x.segs()), "segs");
        assertEquals(List.of(want.ldt(), want.tr(), want.gdt(), want.idt()), List.of(x.ldt(), x.tr(), x.gdt(), x.idt()));
        assertArrayEquals(want.cr(), x.cr(), "cr");
        assertEquals(want.kernelGsBase(), x.kernelGsBase(), "kernel_gs_base");
    }

    /** No registers, for a reason containing {@code phrase}; no count either (no valid AddressSpace to count). */
    private static void assertNone(Vcpus v, String phrase) {
        assertNotRead(v, phrase, 0);
    }

    /**
     * No registers, for a reason containing {@code phrase}; {@code counted} vCPUs still counted by their
     * AddressSpaces (the kdump header's nr_cpus), or none when 0.
     */
    private static void assertNotRead(Vcpus v, String phrase, int counted) {
        assertTrue(v.list().isEmpty(), "no vCPU: " + v);
        assertTrue(v.failure().orElseThrow().contains(phrase), v.failure().get());
        assertEquals(counted, v.count().orElse(0), "counted: " + v.describe());
    }

    /** A target without a register layout yet: its vCPUs are counted (for nr_cpus), their registers not read. */
    @Test
    void discover_targetWithoutRegisterLayout_countsTheAddressSpaces() throws IOException {
        SyntheticCore c = write(SyntheticCore.qemu().executable("/usr/bin/qemu-system-s390x")
                .ram("s390.ram", 0, 2 * MiB).vcpuOrder(0, 1, 2));
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            RamDiscovery.Result r = RamDiscovery.discover(pc);
            Vcpus v = VcpuDiscovery.discover(pc, GuestArch.S390X, r.addressSpaceVaddr(),
                    new GuestMemory(pc.file(), r.blocks()));
            assertTrue(v.list().isEmpty(), "no registers read: " + v);
            assertEquals(3, v.count().orElse(-1));
            assertTrue(v.describe().startsWith("3, registers not read (no register layout for s390x"),
                    v.describe());
        }
    }

    @Test
    void discover_targetWithoutRegisterLayoutNorAddressSpaces_none() throws IOException {
        SyntheticCore c = write(SyntheticCore.qemu().ram("s390.ram", 0, 2 * MiB));
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            Vcpus v = VcpuDiscovery.discover(pc, GuestArch.S390X, RamDiscovery.discover(pc).addressSpaceVaddr());
            assertNone(v, "no register layout for s390x vCPUs yet");
        }
    }

    @Test
    void discover_twoVcpus_registersInIndexOrder() {
        SyntheticCore c = write(guest().vcpus(2));
        Vcpus v = discover(c);
        assertEquals(List.of(0, 1), v.list().stream().map(Vcpu::index).toList());
        for (Vcpu cpu : v.list()) {
            assertEquals("qemu64-x86_64-cpu", cpu.type());
            assertEquals(c.cpuState(cpu.index()).hostVaddr(), cpu.cpuStateVaddr());
            assertEquals(c.cpuEnv(cpu.index()).hostVaddr(), cpu.envVaddr());
            assertSameRegisters(SyntheticCpu.x86_64Registers(cpu.index()), cpu.registers());
            assertEquals("long", cpu.registers().mode());
        }
        assertTrue(v.exactness().startsWith("exact (TCG"), v.exactness());
    }

    @Test
    void discover_listOrderDiffersFromIndexes_followsQemusList() {
        SyntheticCore c = write(guest().vcpuOrder(2, 0, 1));
        assertEquals(List.of(2, 0, 1), discover(c).list().stream().map(Vcpu::index).toList());
    }

    @Test
    void discover_envAfterCpuState_foundWithoutEnvPtr() {
        SyntheticCore c = write(guest().vcpus(2).envAfterCpuState());
        Vcpus v = discover(c);
        assertEquals(2, v.list().size(), v.describe());
        assertEquals(c.cpuState(1).hostVaddr() + SyntheticCore.CPU_STATE_SIZE, v.list().get(1).envVaddr());
        assertSameRegisters(SyntheticCpu.x86_64Registers(1), v.list().get(1).registers());
    }

    @Test
    void discover_kvmVcpuMappings_stale() {
        SyntheticCore c = write(guest().vcpus(1).segment(0x7e0000000000L, 0x3000, SyntheticCore.RW, 0x3000)
                .mappedFile("anon_inode:kvm-vcpu:0", 0x7e0000000000L, 0x7e0000003000L));
        Vcpus v = discover(c);
        assertEquals(1, v.list().size());
        assertEquals("stale (KVM, last register sync unknown)", v.exactness());
        assertEquals("stale", v.verdict());
    }

    @Test
    void discover_threadInTranslatedCode_lagging() {
        // TCG's code buffer: an anonymous executable mapping; a vCPU thread stopped inside it
        long jit = 0x7e1000000000L;
        SyntheticCore c = write(guest().vcpus(1).segment(jit, 0x10000, SyntheticCore.RX | SyntheticCore.PF_W, 0x1000)
                .thread(jit + 0x1234));
        assertTrue(discover(c).exactness().startsWith("lagging (TCG"), discover(c).exactness());
    }

    @Test
    void discover_threadInQemusOwnCode_exact() {
        SyntheticCore c = write(guest().vcpus(1).thread(SyntheticCore.ENTRY));
        assertTrue(discover(c).exactness().startsWith("exact (TCG"), discover(c).exactness());
    }

    @Test
    void discover_noVcpus_reason() {
        assertNone(discover(write(guest())), "no \"cpu-memory-N\" AddressSpace");
    }

    @Test
    void discover_wrongTypeName_none() {
        SyntheticCore c = write(guest().vcpus(2));
        c.putBytes(c.typeName("x86_64-cpu").fileOffset(), "arm-cpu\0".getBytes(StandardCharsets.US_ASCII));
        assertNotRead(discover(c), "is a qemu64-x86_64-cpu, not a x86_64-cpu", 2);
    }

    @Test
    void discover_notACpu_none() {
        SyntheticCore c = write(guest().vcpus(1));
        c.putBytes(c.typeName("cpu").fileOffset(), "bus\0".getBytes(StandardCharsets.US_ASCII));
        assertNotRead(discover(c), "is not a CPU", 1);
    }

    @Test
    void discover_cpuStateBackPointerMismatch_none() {
        SyntheticCore c = write(guest().vcpus(2));
        c.putU64(c.cpuState(0).at(SyntheticCore.CPU_ASES), c.cpuAddressSpace(0).hostVaddr() + 64);
        assertNotRead(discover(c), "does not point back to its CPUAddressSpace", 2);
    }

    @Test
    void discover_listedVcpuWithForeignCpuAddressSpace_none() {
        // vCPU 0 validates; vCPU 1, reached through the list, points at vCPU 0's CPUAddressSpace.
        SyntheticCore c = write(guest().vcpus(2));
        c.putU64(c.cpuState(1).at(SyntheticCore.CPU_ASES), c.cpuAddressSpace(0).hostVaddr());
        c.putU64(c.cpuAddressSpace(1).at(8), 0);
        assertNotRead(discover(c), "does not point back to it", 2);
    }

    @Test
    void discover_shapeCheckFails_none() {
        SyntheticCore c = write(guest().vcpus(1));
        c.putU64(c.cpuEnv(0).at(X86EnvLayout.X86_64.cr()), 0x80050023L);   // cr0.ET cleared
        assertNotRead(discover(c), "fails its shape check (cr0.ET", 1);
    }

    @Test
    void discover_hflagsDisagreeWithCr0_none() {
        SyntheticCore c = write(guest().vcpus(1));
        c.putU32(c.cpuEnv(0).at(X86EnvLayout.X86_64.hflags()), 0);
        assertNotRead(discover(c), "hflags disagree with cr0", 1);
    }

    @Test
    void discover_listLoops_none() {
        SyntheticCore c = write(guest().vcpus(3));
        // the last vCPU's next points back at the first
        c.putU64(c.cpuState(2).at(SyntheticCore.CPU_LIST_LINK), c.cpuState(0).hostVaddr());
        assertNotRead(discover(c), "loops back", 3);
    }

    @Test
    void discover_listHeadDisagrees_none() {
        SyntheticCore c = write(guest().vcpus(2));
        c.putU64(c.cpuList().at(8), c.cpuState(0).hostVaddr() + SyntheticCore.CPU_LIST_LINK);
        assertNotRead(discover(c), "last-link pointer does not match", 2);
    }

    @Test
    void discover_cpuStateMemoryNotTheRoot_none() {
        SyntheticCore c = write(guest().vcpus(1));
        c.putU64(c.cpuState(0).at(SyntheticCore.CPU_ASES + 24), 0x1000);   // CPUState.memory
        assertNotRead(discover(c), "does not point back", 1);
    }

    @Test
    void discover_otherTarget_noLayoutYet() {
        SyntheticCore c = write(guest().vcpus(1));
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            Vcpus v = VcpuDiscovery.discover(pc, GuestArch.S390X, 0);
            assertTrue(v.list().isEmpty(), "no registers read: " + v);
            assertTrue(v.failure().orElseThrow().contains("no register layout for s390x"), v.failure().get());
            assertEquals(1, v.count().orElse(-1), "counted by their AddressSpaces");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void open_vcpuDiscoveryFails_mountsWithPlaceholderNoteAndReason() {
        SyntheticCore c = write(guest().vmcoreinfo(true).vcpus(2));
        c.putU64(c.cpuState(2 - 1).at(SyntheticCore.CPU_LIST_LINK), c.cpuState(0).hostVaddr());
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            assertTrue(d.vcpus().failure().isPresent());
            assertArrayEquals(ElfLayout.notes(d.vmcoreinfo(), ByteOrder.LITTLE_ENDIAN), DumpNotes.elf(d),
                    "VMCOREINFO and the placeholder, as before vCPU discovery");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void open_vcpusFound_notesInQemusOrder() {
        SyntheticCore c = write(guest().vmcoreinfo(true).vcpus(2));
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            List<String> names = io.vmdumpfs.core.elf.ElfNotes.read(DumpNotes.elf(d), ByteOrder.LITTLE_ENDIAN).notes()
                    .stream().map(n -> n.name() + "/" + n.type()).toList();
            assertEquals(List.of("CORE/1", "CORE/1", "QEMU/0", "QEMU/0", "VMCOREINFO/0"), names);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}

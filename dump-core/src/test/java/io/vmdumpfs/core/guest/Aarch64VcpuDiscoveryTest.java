package io.vmdumpfs.core.guest;

import static io.vmdumpfs.core.testing.SyntheticCore.MiB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.ElfNotes;
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
 * vCPU discovery of qemu-system-aarch64 (QEMU 7.2's CPUARMState) on synthetic cores: the registers QEMU's dump writes
 * (PSTATE as pstate_read() assembles it, FPSR/FPCR as vfp_get_fpsr/fpcr compute them) when every check holds; and
 * for each check, a core that fails it: no registers, the reason, the vCPUs still counted (nr_cpus) and the
 * placeholder note — never an exception, never a wrong note.
 */
class Aarch64VcpuDiscoveryTest {

    /** PlatformFinderTest's arm64 VMCOREINFO, so that GuestDumps sees an aarch64 guest. */
    private static final String ARM64 = PlatformFinderTest.ARM64;

    @TempDir
    Path dir;

    private static SyntheticCore.Builder guest(String model, int n) {
        return SyntheticCore.qemu().executable("/usr/bin/qemu-system-aarch64").ram("mach-virt.ram", 0x40000000L,
                2 * MiB).vcpus(n).aarch64Cpus(model);
    }

    private SyntheticCore write(SyntheticCore.Builder spec) {
        return spec.write(dir.resolve("core"));
    }

    private static Vcpus discover(SyntheticCore c) {
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            RamDiscovery.Result r = RamDiscovery.discover(pc);
            return VcpuDiscovery.discover(pc, GuestArch.AARCH64, r.addressSpaceVaddr(),
                    new GuestMemory(pc.file(), r.blocks()));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private SyntheticCore twoCortexA57() {
        return write(guest("cortex-a57-arm-cpu", 2));
    }

    /** No registers, for a reason containing {@code phrase}; both vCPUs still counted; the placeholder note. */
    private static void assertNotRead(Vcpus v, String phrase) {
        assertTrue(v.list().isEmpty(), "no vCPU: " + v);
        assertTrue(v.failure().orElseThrow().contains(phrase), v.failure().get());
        assertEquals(2, v.count().orElse(-1), "counted by their AddressSpaces: " + v.describe());
        assertArrayEquals(ElfLayout.notes(Optional.empty(), ByteOrder.LITTLE_ENDIAN),
                DumpNotes.of(v, Optional.empty(), ByteOrder.LITTLE_ENDIAN), "the placeholder note");
    }

    private static void assertSameRegisters(Aarch64Registers want, CpuRegisters got) {
        Aarch64Registers a = (Aarch64Registers) got;
        assertArrayEquals(want.x(), a.x(), "x0-x30, sp");
        assertEquals(want.pc(), a.pc(), "pc");
        assertEquals(Integer.toHexString(want.pstate()), Integer.toHexString(a.pstate()), "pstate");
        assertArrayEquals(want.vregs(), a.vregs(), "V0-V31");
        assertEquals(Integer.toHexString(want.fpsr()), Integer.toHexString(a.fpsr()), "fpsr");
        assertEquals(Integer.toHexString(want.fpcr()), Integer.toHexString(a.fpcr()), "fpcr");
    }

    @Test
    void derivedLayouts_matchQemu72CpuArmState() {
        // Measured on the aarch64 fixture's core (and QEMU's target/arm/cpu.h field order).
        Aarch64EnvLayout h = Aarch64EnvLayout.QEMU;
        assertEquals(List.of(64, 320, 328, 332, 333, 528, 532, 536, 540, 556, 560, 568),
                List.of(h.xregs(), h.pc(), h.pstate(), h.aarch64(), h.thumb(), h.cf(), h.vf(), h.nf(), h.zf(),
                        h.btype(), h.daif(), h.headBytes()));
        Aarch64VfpLayout v = Aarch64VfpLayout.qemu7_2(3184);
        assertEquals(List.of(3184, 11952, 11968, 11972, 11976, 12072, 14, 12100, 12128),
                List.of(v.zregs(), v.qc(), v.vecLen(), v.vecStride(), v.vfpXregs(), v.fpStatus(), v.floatStatusSize(),
                        v.standardFpStatus(), v.end()));
    }

    @Test
    void discover_twoCortexA57_registersAsQemusDumpComputesThem() {
        SyntheticCore c = twoCortexA57();
        Vcpus v = discover(c);
        assertEquals(List.of(0, 1), v.list().stream().map(Vcpu::index).toList(), v.describe());
        for (Vcpu cpu : v.list()) {
            assertEquals("cortex-a57-arm-cpu", cpu.type());
            assertEquals(c.cpuEnv(cpu.index()).hostVaddr(), cpu.envVaddr());
            assertSameRegisters(SyntheticCpu.aarch64Registers(cpu.index()), cpu.registers());
            assertEquals("EL1h", cpu.registers().mode());
            assertEquals("pc", cpu.registers().pcName());
        }
        Aarch64Registers one = (Aarch64Registers) v.list().get(1).registers();
        assertEquals(Aarch64EnvLayout.QEMU.headBytes(), one.sysregsAt(), "system registers follow the head");
        assertEquals((SyntheticCpu.ARM_ZREGS - one.sysregsAt()) / 8, one.sysregs().length, "up to the FP/SIMD block");
        assertEquals(SyntheticCpu.aarch64Tpidr(1), one.sysregs()[(SyntheticCpu.ARM_TPIDR_EL1 - one.sysregsAt()) / 8],
                "raw words, in place");
        // N, C, V from NF/CF/VF, Z clear (ZF != 0), BTYPE 2, EL1h
        assertEquals(0xb0000805, one.pstate());
        // FPSCR's FZ/DN go to FPCR; inexact, input- and output-denormal flags and QC to FPSR
        assertEquals(0x08000098, one.fpsr());
        assertEquals(0x03000000, one.fpcr());
        assertEquals(0xffff800008007e00L, one.sp());
        assertTrue(v.exactness().startsWith("exact (TCG"), v.exactness());
        assertTrue(!v.exactness().contains("SVE"), "cortex-a57 has no SVE: " + v.exactness());
    }

    @Test
    void discover_modelThatMayHaveSve_saysTheSveNoteIsNotWritten() {
        Vcpus v = discover(write(guest("max-arm-cpu", 2)));
        assertEquals(2, v.list().size(), v.describe());
        assertTrue(v.exactness().contains("max-arm-cpu may have SVE, whose NT_ARM_SVE note QEMU adds: not written"),
                v.exactness());
    }

    @Test
    void discover_wrongQomType_notRead() {
        SyntheticCore c = twoCortexA57();
        c.putBytes(c.typeName("aarch64-cpu").fileOffset(), "x86_64-cpu\0".getBytes(StandardCharsets.US_ASCII));
        assertNotRead(discover(c), "is a cortex-a57-arm-cpu, not a aarch64-cpu");
    }

    @Test
    void discover_nzcvInsidePstate_shapeCheckFails() {
        SyntheticCore c = twoCortexA57();
        c.putU32(c.cpuEnv(0).at(Aarch64EnvLayout.QEMU.pstate()), 0x60000005);
        assertNotRead(discover(c), "fails its shape check (NZCV, DAIF or BTYPE inside pstate)");
    }

    @Test
    void discover_reservedModeBits_shapeCheckFails() {
        SyntheticCore c = twoCortexA57();
        c.putU32(c.cpuEnv(1).at(Aarch64EnvLayout.QEMU.pstate()), 0x7);   // M[1] set: no AArch64 mode
        assertNotRead(discover(c), "PSTATE.M is no AArch64 mode");
    }

    @Test
    void discover_el0AtAKernelAddress_shapeCheckFails() {
        SyntheticCore c = twoCortexA57();
        c.putU32(c.cpuEnv(0).at(Aarch64EnvLayout.QEMU.pstate()), 0x0);   // EL0t, pc still in the kernel
        assertNotRead(discover(c), "EL0 at a kernel address");
    }

    @Test
    void discover_misalignedPc_shapeCheckFails() {
        SyntheticCore c = twoCortexA57();
        c.putU64(c.cpuEnv(0).at(Aarch64EnvLayout.QEMU.pc()), SyntheticCpu.aarch64Pc(0) + 2);
        assertNotRead(discover(c), "pc not 4-aligned");
    }

    @Test
    void discover_aarch32State_notRead() {
        SyntheticCore c = twoCortexA57();
        c.putBytes(c.cpuEnv(1).at(Aarch64EnvLayout.QEMU.aarch64()), new byte[] {0});
        assertNotRead(discover(c), "AArch32 state");
    }

    @Test
    void discover_fpBlockFailsItsShape_notRead() {
        SyntheticCore c = twoCortexA57();
        Aarch64VfpLayout v = Aarch64VfpLayout.qemu7_2(SyntheticCpu.ARM_ZREGS);
        c.putU32(c.cpuEnv(0).at(v.vfpXregs() + 4 * Aarch64VfpLayout.ARM_VFP_MVFR0), 0);
        c.putU32(c.cpuEnv(0).at(v.vfpXregs() + 4 * Aarch64VfpLayout.ARM_VFP_MVFR1), 0);
        assertNotRead(discover(c), "FP/SIMD registers at +3184 fail their shape check (MVFR0/MVFR1 are 0)");
    }

    /** Sets instance_size of the ARMCPU types to {@code size}: a QEMU build the table does not know. */
    private static void unmeasuredBuild(SyntheticCore c, long size) {
        for (String t : List.of("cortex-a57-arm-cpu", "aarch64-cpu", "arm-cpu")) {
            c.putU64(c.typeImpl(t).at(16), size);
        }
    }

    @Test
    void discover_unmeasuredBuild_findsTheFpBlockByItsShape() {
        SyntheticCore c = twoCortexA57();
        unmeasuredBuild(c, SyntheticCore.ARMCPU_SIZE - 64);
        Vcpus v = discover(c);
        assertEquals(2, v.list().size(), v.describe());
        assertSameRegisters(SyntheticCpu.aarch64Registers(1), v.list().get(1).registers());
    }

    @Test
    void discover_unmeasuredBuildWithoutAnFpBlock_notRead() {
        SyntheticCore c = twoCortexA57();
        unmeasuredBuild(c, SyntheticCore.ARMCPU_SIZE - 64);
        Aarch64VfpLayout v = Aarch64VfpLayout.qemu7_2(SyntheticCpu.ARM_ZREGS);
        c.putBytes(c.cpuEnv(1).at(v.fpStatus() + Aarch64VfpLayout.FS_TININESS_BEFORE_ROUNDING), new byte[] {0});
        assertNotRead(discover(c), "FP/SIMD registers not found; QEMU build CpuSizes[cpuState=824, cpu=87168]");
    }

    @Test
    void open_aarch64Guest_prstatusAndPrfpregPerVcpuThenVmcoreinfo() throws IOException {
        SyntheticCore c = write(guest("cortex-a57-arm-cpu", 2).vmcoreinfo(true).vmcoreinfoText(ARM64));
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            assertEquals(GuestArch.AARCH64, d.platform().arch());
            List<ElfNote> notes = ElfNotes.read(DumpNotes.elf(d), ByteOrder.LITTLE_ENDIAN).notes();
            assertEquals(List.of("CORE/1", "CORE/2", "CORE/1", "CORE/2", "VMCOREINFO/0"),
                    notes.stream().map(n -> n.name() + "/" + n.type()).toList());
            assertArrayEquals(DumpNotes.elf(d), DumpNotes.kdump(d), "the kdump files carry the same notes");
        }
    }

    @Test
    void open_aarch64RegistersUnreadable_placeholderNoteAndNrCpusKept() throws IOException {
        SyntheticCore c = write(guest("cortex-a57-arm-cpu", 2).vmcoreinfo(true).vmcoreinfoText(ARM64));
        c.putBytes(c.cpuEnv(0).at(Aarch64EnvLayout.QEMU.aarch64()), new byte[] {0});
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            assertTrue(d.vcpus().failure().orElseThrow().contains("AArch32"), d.vcpus().describe());
            assertEquals(2, d.vcpus().count().orElse(-1));
            assertArrayEquals(ElfLayout.notes(d.vmcoreinfo(), ByteOrder.LITTLE_ENDIAN), DumpNotes.elf(d),
                    "VMCOREINFO and the placeholder");
        }
    }
}

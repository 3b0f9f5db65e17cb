package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.guest.Aarch64Registers;
import io.vmdumpfs.core.guest.Vcpus;
import io.vmdumpfs.core.testing.SyntheticCpu;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The aarch64 notes' layouts, field by field, from target/arm/arch_dump.c's structs (aarch64_elf_prstatus with
 * user_pt_regs, aarch64_user_vfp_state) and their order. The real-core IT compares whole notes with QEMU's; this
 * covers what the fixture cannot: non-zero FPSR/FPCR and a big-endian guest (aarch64_be).
 */
class Aarch64NotesTest {

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ByteOrder BE = ByteOrder.BIG_ENDIAN;

    @Test
    void cpuNotes_twoVcpus_prstatusThenPrfpregPerVcpuWithQemusPids() {
        Vcpus v = SyntheticCpu.aarch64Vcpus(2);
        List<ElfNote> notes = ElfNotes.read(DumpNotes.of(v, Optional.empty(), LE), LE).notes();
        assertEquals(List.of("CORE/1", "CORE/2", "CORE/1", "CORE/2"),
                notes.stream().map(n -> n.name() + "/" + n.type()).toList());
        for (int cpu = 0; cpu < 2; cpu++) {
            Aarch64Registers r = SyntheticCpu.aarch64Registers(cpu);
            ByteBuffer p = ByteBuffer.wrap(notes.get(2 * cpu).desc()).order(LE);
            assertEquals(392, p.limit(), "sizeof(aarch64_elf_prstatus)");
            assertEquals(cpu + 1, p.getInt(32), "pr_pid: QEMU's cpu_index + 1");
            for (int i = 0; i < 31; i++) {
                assertEquals(SyntheticCpu.aarch64X(cpu, i), p.getLong(112 + 8 * i), "x" + i);
            }
            assertEquals(r.sp(), p.getLong(112 + 31 * 8), "sp");
            assertEquals(r.pc(), p.getLong(112 + 32 * 8), "pc");
            assertEquals(Integer.toUnsignedLong(SyntheticCpu.aarch64Pstate(cpu)), p.getLong(112 + 33 * 8), "pstate");
            assertEquals(1, p.getInt(384), "pr_fpvalid");

            ByteBuffer f = ByteBuffer.wrap(notes.get(2 * cpu + 1).desc()).order(LE);
            assertEquals(528, f.limit(), "sizeof(user_fpsimd_state)");
            assertEquals(SyntheticCpu.aarch64V(cpu, 0, 0), f.getLong(0), "V0 low half first");
            assertEquals(SyntheticCpu.aarch64V(cpu, 0, 1), f.getLong(8), "V0 high half");
            assertEquals(SyntheticCpu.aarch64V(cpu, 31, 1), f.getLong(31 * 16 + 8), "V31 high half");
            assertEquals(SyntheticCpu.aarch64FpsrFpcr(cpu)[0], f.getInt(512), "fpsr");
            assertEquals(SyntheticCpu.aarch64FpsrFpcr(cpu)[1], f.getInt(516), "fpcr");
            assertEquals(0, f.getLong(520), "padding");
        }
    }

    @Test
    void fpsimd_bigEndianGuest_eachVectorRegisterA128BitBigEndianInteger() {
        Aarch64Registers r = SyntheticCpu.aarch64Registers(1);
        ElfNote n = ElfNotes.read(Aarch64Notes.fpsimd(r, BE), BE).notes().get(0);
        ByteBuffer f = ByteBuffer.wrap(n.desc()).order(BE);
        // QEMU swaps each register's halves for a big-endian note: high half first
        assertEquals(SyntheticCpu.aarch64V(1, 5, 1), f.getLong(5 * 16), "V5 high half first");
        assertEquals(SyntheticCpu.aarch64V(1, 5, 0), f.getLong(5 * 16 + 8), "V5 low half");
        assertEquals(0x08000098, f.getInt(512), "fpsr");
        ByteBuffer p = ByteBuffer.wrap(ElfNotes.read(Aarch64Notes.prstatus(r, 7, BE), BE).notes().get(0).desc())
                .order(BE);
        assertEquals(7, p.getInt(32), "pr_pid");
        assertEquals(r.pc(), p.getLong(112 + 32 * 8), "pc");
    }
}

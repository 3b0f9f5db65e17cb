package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.guest.Vcpu;
import io.vmdumpfs.core.guest.Vcpus;
import io.vmdumpfs.core.guest.X86EnvLayout;
import io.vmdumpfs.core.guest.X86Registers;
import io.vmdumpfs.core.testing.SyntheticCpu;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/**
 * The x86 notes' layouts, field by field, from target/i386/arch_dump.c's structs (x86_64_elf_prstatus,
 * x86_elf_prstatus, QEMUCPUState). The real-core IT compares whole notes with QEMU's; this covers the layouts no
 * fixture has yet: a first vCPU outside long mode, and qemu-system-i386's 32-bit register file.
 */
class X86NotesTest {

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private static ElfNote only(byte[] note) {
        List<ElfNote> n = ElfNotes.read(note, LE).notes();
        assertEquals(1, n.size());
        return n.get(0);
    }

    /** A register file of the i386 target in real mode at the reset vector, built from its derived offsets. */
    private static byte[] i386RealModeEnv() {
        X86EnvLayout l = X86EnvLayout.I386;
        ByteBuffer b = ByteBuffer.allocate(l.headBytes()).order(LE);
        for (int r = 0; r < 8; r++) {
            b.putInt(4 * r, 0x100 + r);
        }
        b.putInt(l.eip(), 0xfff0).putInt(l.eflags(), 0x2);
        b.putInt(l.segs() + X86Registers.R_CS * l.segSize(), 0xf000);                 // CS selector
        b.putInt(l.segs() + X86Registers.R_CS * l.segSize() + 4, 0xffff0000);         // CS base
        b.putInt(l.segs() + X86Registers.R_SS * l.segSize(), 0x30);
        b.putInt(l.cr(), 0x60000010);
        return b.array();
    }

    @Test
    void derivedLayouts_matchQemusCpuX86State() {
        X86EnvLayout w64 = X86EnvLayout.X86_64;
        assertEquals(List.of(128, 136, 176, 184, 24, 328, 424, 464),
                List.of(w64.eip(), w64.eflags(), w64.hflags(), w64.segs(), w64.segSize(), w64.ldt(), w64.cr(),
                        w64.headBytes()));
        X86EnvLayout w32 = X86EnvLayout.I386;
        assertEquals(List.of(32, 36, 60, 68, 16, 164, 228, 248),
                List.of(w32.eip(), w32.eflags(), w32.hflags(), w32.segs(), w32.segSize(), w32.ldt(), w32.cr(),
                        w32.headBytes()));
    }

    @Test
    void prstatus_longMode_x86_64Layout() {
        X86Registers r = SyntheticCpu.x86_64Registers(1);
        ElfNote n = only(X86Notes.prstatus(r, 2, true, LE));
        assertEquals("CORE", n.name());
        assertEquals(ElfNote.NT_PRSTATUS, n.type());
        ByteBuffer d = ByteBuffer.wrap(n.desc()).order(LE);
        assertEquals(336, d.limit());
        assertEquals(2, d.getInt(32), "pr_pid");
        assertEquals(r.regs()[15], d.getLong(112), "r15 first");
        assertEquals(r.regs()[X86Registers.R_EAX], d.getLong(112 + 10 * 8), "rax");
        assertEquals(0, d.getLong(112 + 15 * 8), "orig_rax");
        assertEquals(r.eip(), d.getLong(112 + 16 * 8), "rip");
        assertEquals(0x10, d.getLong(112 + 17 * 8), "cs");
        assertEquals(r.regs()[X86Registers.R_ESP], d.getLong(112 + 19 * 8), "rsp");
        assertEquals(r.segs()[X86Registers.R_GS].base(), d.getLong(112 + 22 * 8), "gs_base");
        assertEquals(0, d.getLong(328), "pad3");
    }

    @Test
    void cpuNotes_firstVcpuNotInLongMode_i386PrstatusForEvery() {
        X86Registers real = X86Registers.read(ByteBuffer.wrap(i386RealModeEnv()).order(LE), X86EnvLayout.I386,
                OptionalLong.empty());
        assertEquals(List.of(), real.shapeFailures(), "a real-mode CPU passes the shape check");
        assertEquals("real", real.mode());
        Vcpus v = Vcpus.found(List.of(new Vcpu(0, "qemu32-i386-cpu", 0, 0, real),
                new Vcpu(1, "qemu32-i386-cpu", 0, 0, real)), "exact (test)");
        List<ElfNote> notes = ElfNotes.read(DumpNotes.of(v, Optional.empty(), LE), LE).notes();
        assertEquals(List.of("CORE", "CORE", "QEMU", "QEMU"), notes.stream().map(ElfNote::name).toList());
        ByteBuffer d = ByteBuffer.wrap(notes.get(1).desc()).order(LE);
        assertEquals(144, d.limit(), "sizeof(x86_elf_prstatus)");
        assertEquals(2, d.getInt(24), "pr_pid of cpu_index 1");
        assertEquals(0x103, d.getInt(72), "ebx first");
        assertEquals(0x100, d.getInt(96), "eax");
        assertEquals(0xfff0, d.getInt(120), "eip");
        assertEquals(0xf000, Short.toUnsignedInt(d.getShort(124)), "cs");
        assertEquals(0x2, d.getInt(128), "eflags");
        assertEquals(0x104, d.getInt(132), "esp");
        assertEquals(0x30, Short.toUnsignedInt(d.getShort(136)), "ss");

        ByteBuffer q = ByteBuffer.wrap(notes.get(2).desc()).order(LE);
        assertEquals(0, notes.get(2).type());
        assertEquals(440, q.limit(), "sizeof(QEMUCPUState)");
        assertEquals(1, q.getInt(0), "version");
        assertEquals(440, q.getInt(4), "size");
        assertEquals(0x100, q.getLong(8), "rax");
        assertEquals(0, q.getLong(8 + 8 * 8), "r8: none on i386");
        assertEquals(0xfff0, q.getLong(8 + 16 * 8), "rip");
        int cs = 8 + 18 * 8;
        assertEquals(0xf000, q.getInt(cs), "cs.selector");
        assertEquals(0xffff0000L, q.getLong(cs + 16), "cs.base");
        assertEquals(0x60000010L, q.getLong(cs + 10 * 24), "cr0");
        assertEquals(0, q.getLong(432), "kernel_gs_base");
    }
}

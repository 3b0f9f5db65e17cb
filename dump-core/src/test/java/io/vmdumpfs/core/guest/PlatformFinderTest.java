package io.vmdumpfs.core.guest;

import static io.vmdumpfs.core.testing.SyntheticCore.MiB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.testing.SyntheticCore;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PlatformFinder: the guest architecture from the QEMU executable, refused when we do not serve it. */
class PlatformFinderTest {

    @TempDir
    Path dir;

    private ProcessCore core(String exe) {
        return ProcessCore.open(SyntheticCore.qemu().executable(exe).ram("pc.ram", 0, 2 * MiB).vmcoreinfo(true)
                .write(dir.resolve("core")).path());
    }

    @Test
    void arch_qemuSystemX86_64_x86_64() throws IOException {
        try (ProcessCore pc = core("/usr/bin/qemu-system-x86_64")) {
            PlatformFinder.ArchEvidence a = PlatformFinder.arch(pc);
            assertEquals(GuestArch.X86_64, a.arch());
            assertEquals("executable qemu-system-x86_64", a.evidence());
        }
    }

    @Test
    void arch_riscv64_refusedNamingTheTarget() throws IOException {
        try (ProcessCore pc = core("/usr/bin/qemu-system-riscv64")) {
            BadCoreException e = assertThrows(BadCoreException.class, () -> PlatformFinder.arch(pc));
            assertEquals(Kind.UNSUPPORTED, e.kind());
            assertTrue(e.getMessage().contains("riscv64 guests are not supported"), e.getMessage());
            assertTrue(e.getMessage().startsWith(pc.path() + ": "), e.getMessage());
        }
    }

    @Test
    void arch_qemuKvm_hostArchitecture() throws IOException {
        try (ProcessCore pc = core("/usr/libexec/qemu-kvm")) {
            assertEquals(GuestArch.X86_64, PlatformFinder.arch(pc).arch());
        }
    }

    @Test
    void open_riscv64Core_refusedBeforeDiscovery() {
        Path p = SyntheticCore.qemu().executable("/usr/bin/qemu-system-riscv64").ram("riscv_virt_board.ram", 0,
                2 * MiB).write(dir.resolve("core")).path();
        BadCoreException e = assertThrows(BadCoreException.class, () -> GuestDumps.open(p, Optional.empty()));
        assertEquals(Kind.UNSUPPORTED, e.kind());
    }

    @Test
    void platform_pageSizeFromVmcoreinfo() {
        PlatformFinder.ArchEvidence a = new PlatformFinder.ArchEvidence(GuestArch.X86_64, "test");
        VmcoreInfo v = new VmcoreInfo(note("OSRELEASE=6.1\nPAGESIZE=16384\n"), 0, "test", ByteOrder.LITTLE_ENDIAN);
        GuestPlatform p = PlatformFinder.platform(a, Optional.of(v));
        assertEquals(16384, p.pageSize());
        assertEquals(ByteOrder.LITTLE_ENDIAN, p.byteOrder());
        assertEquals(4096, PlatformFinder.platform(a, Optional.empty()).pageSize());
    }

    private static byte[] note(String text) {
        byte[] t = text.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(24 + ((t.length + 3) & ~3)).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, 11).putInt(4, t.length).putInt(8, 0);
        b.put(12, "VMCOREINFO".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        b.put(24, t);
        return b.array();
    }
}

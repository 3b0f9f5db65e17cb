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
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PlatformFinder: the guest architecture from the QEMU executable, cross-checked with the guest's VMCOREINFO (byte
 * order of its note, PAGESIZE, pointer size, architecture-only keys) and the RAM block names; refused when the
 * evidence disagrees or the target is not served.
 */
class PlatformFinderTest {

    @TempDir
    Path dir;

    private static final Path CORE = Path.of("/cores/qemu.core");

    /** VMCOREINFO of Debian 6.1 kernels, cut to the keys that tell the architecture. */
    static final String ARM64 = "OSRELEASE=6.1.0-57-cloud-arm64\nPAGESIZE=4096\nSIZE(list_head)=16\n"
            + "NUMBER(VA_BITS)=48\nNUMBER(kimage_voffset)=0xffffbfa4a9200000\nKERNELOFFSET=3fa4e1400000\n";
    static final String X86_64 = "OSRELEASE=6.1.0-57-cloud-amd64\nPAGESIZE=4096\nSIZE(list_head)=16\n"
            + "NUMBER(phys_base)=-432013312\nKERNELOFFSET=24000000\n";
    static final String I386 = "OSRELEASE=6.1.0-57-686-pae\nPAGESIZE=4096\nSIZE(list_head)=8\nCONFIG_X86_PAE=y\n";
    static final String S390X = "OSRELEASE=6.1.0-50-s390x\nPAGESIZE=4096\nSIZE(list_head)=16\n"
            + "SYMBOL(lowcore_ptr)=1298208\nSAMODE31=1000\n";
    static final String PPC64 = "OSRELEASE=6.1.0-57-powerpc64le\nPAGESIZE=65536\nSIZE(list_head)=16\n"
            + "SYMBOL(mmu_psize_defs)=c0000000027593c8\n";

    private static ProcessCore core(Path dir, String exe) {
        return ProcessCore.open(SyntheticCore.qemu().executable(exe).ram("pc.ram", 0, 2 * MiB).vmcoreinfo(true)
                .write(dir.resolve("core")).path());
    }

    private static Optional<VmcoreInfo> vmcoreinfo(String text, ByteOrder order) {
        return Optional.of(new VmcoreInfo(note(text, order), 0x1000, "test", order));
    }

    private static List<GuestPhysBlock> blocks(String name) {
        return List.of(new GuestPhysBlock(0x40000000L, 0x50000000L, 0x7f0000000000L, 0x10000, name));
    }

    private static GuestPlatform platform(GuestArch exe, String text, ByteOrder order, String ramBlock) {
        return PlatformFinder.platform(CORE, new PlatformFinder.ArchEvidence(exe, "executable qemu-system-"
                + exe.qemuTarget), text == null ? Optional.empty() : vmcoreinfo(text, order), blocks(ramBlock));
    }

    private static BadCoreException refused(GuestArch exe, String text, ByteOrder order, String ramBlock) {
        BadCoreException e = assertThrows(BadCoreException.class, () -> platform(exe, text, order, ramBlock));
        assertEquals(Kind.UNSUPPORTED, e.kind());
        assertTrue(e.getMessage().startsWith(CORE + ": "), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    @Test
    void arch_qemuSystemX86_64_x86_64() throws IOException {
        try (ProcessCore pc = core(dir, "/usr/bin/qemu-system-x86_64")) {
            PlatformFinder.ArchEvidence a = PlatformFinder.arch(pc);
            assertEquals(GuestArch.X86_64, a.arch());
            assertEquals("executable qemu-system-x86_64", a.evidence());
        }
    }

    @Test
    void arch_everyServedTarget_itsArch() throws IOException {
        for (GuestArch a : GuestArch.values()) {
            try (ProcessCore pc = core(dir, "/usr/bin/qemu-system-" + a.qemuTarget)) {
                assertEquals(a, PlatformFinder.arch(pc).arch());
            }
        }
    }

    @Test
    void arch_debiansLibexecI386_i386() throws IOException {
        // Debian's qemu-system-i386 is a shell wrapper that execs /usr/libexec/qemu-system-i386.
        try (ProcessCore pc = core(dir, "/usr/libexec/qemu-system-i386")) {
            assertEquals(GuestArch.I386, PlatformFinder.arch(pc).arch());
        }
    }

    @Test
    void arch_riscv64_refusedNamingTheTarget() throws IOException {
        try (ProcessCore pc = core(dir, "/usr/bin/qemu-system-riscv64")) {
            BadCoreException e = assertThrows(BadCoreException.class, () -> PlatformFinder.arch(pc));
            assertEquals(Kind.UNSUPPORTED, e.kind());
            assertTrue(e.getMessage().contains("riscv64 guests are not supported"), e.getMessage());
            assertTrue(e.getMessage().startsWith(pc.path() + ": "), e.getMessage());
        }
    }

    @Test
    void arch_qemuKvm_hostArchitecture() throws IOException {
        try (ProcessCore pc = core(dir, "/usr/libexec/qemu-kvm")) {
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
    void platform_x86_64_fromEveryKindOfEvidence() {
        GuestPlatform p = platform(GuestArch.X86_64, X86_64, ByteOrder.LITTLE_ENDIAN, "pc.ram");
        assertEquals(GuestArch.X86_64, p.arch());
        assertEquals(ByteOrder.LITTLE_ENDIAN, p.byteOrder());
        assertEquals(4096, p.pageSize());
        assertEquals("x86_64", p.utsMachine());
        assertTrue(p.evidence().contains("executable qemu-system-x86_64"), p.evidence());
        assertTrue(p.evidence().contains("NUMBER(phys_base)"), p.evidence());
        assertTrue(p.evidence().contains("RAM block pc.ram"), p.evidence());
    }

    @Test
    void platform_aarch64_littleEndianNote() {
        GuestPlatform p = platform(GuestArch.AARCH64, ARM64, ByteOrder.LITTLE_ENDIAN, "mach-virt.ram");
        assertEquals(GuestArch.AARCH64, p.arch());
        assertEquals(ByteOrder.LITTLE_ENDIAN, p.byteOrder());
        assertEquals("aarch64", p.utsMachine());
        assertTrue(p.evidence().contains("NUMBER(kimage_voffset)"), p.evidence());
    }

    @Test
    void platform_aarch64BigEndianNote_bigEndian() {
        // An aarch64_be kernel: its note's header is big-endian.
        assertEquals(ByteOrder.BIG_ENDIAN,
                platform(GuestArch.AARCH64, ARM64, ByteOrder.BIG_ENDIAN, "mach-virt.ram").byteOrder());
    }

    @Test
    void platform_aarch64_64KiBPages() {
        assertEquals(65536, platform(GuestArch.AARCH64, ARM64.replace("PAGESIZE=4096", "PAGESIZE=65536"),
                ByteOrder.LITTLE_ENDIAN, "mach-virt.ram").pageSize());
    }

    @Test
    void platform_aarch64WithoutVmcoreinfo_littleEndianSaidToBeAssumed() {
        GuestPlatform p = platform(GuestArch.AARCH64, null, null, "mach-virt.ram");
        assertEquals(ByteOrder.LITTLE_ENDIAN, p.byteOrder());
        assertEquals(4096, p.pageSize());
        assertTrue(p.evidence().contains("little-endian assumed"), p.evidence());
    }

    @Test
    void platform_ppc64LittleEndianNote_ppc64le() {
        GuestPlatform p = platform(GuestArch.PPC64, PPC64, ByteOrder.LITTLE_ENDIAN, "ppc_spapr.ram");
        assertEquals(ByteOrder.LITTLE_ENDIAN, p.byteOrder());
        assertEquals("ppc64le", p.utsMachine());
        assertEquals(65536, p.pageSize());
    }

    @Test
    void platform_ppc64BigEndianNote_ppc64() {
        GuestPlatform p = platform(GuestArch.PPC64, PPC64, ByteOrder.BIG_ENDIAN, "ppc_spapr.ram");
        assertEquals(ByteOrder.BIG_ENDIAN, p.byteOrder());
        assertEquals("ppc64", p.utsMachine());
    }

    @Test
    void platform_ppc64WithoutVmcoreinfo_refused() {
        BadCoreException e = refused(GuestArch.PPC64, null, null, "ppc_spapr.ram");
        assertTrue(e.getMessage().contains("big- or little-endian"), e.getMessage());
    }

    @Test
    void platform_s390x_bigEndian() {
        GuestPlatform p = platform(GuestArch.S390X, S390X, ByteOrder.BIG_ENDIAN, "s390.ram");
        assertEquals(ByteOrder.BIG_ENDIAN, p.byteOrder());
        assertEquals("s390x", p.utsMachine());
        // Without VMCOREINFO: s390x has one byte order, nothing is assumed.
        assertEquals(ByteOrder.BIG_ENDIAN, platform(GuestArch.S390X, null, null, "s390.ram").byteOrder());
    }

    @Test
    void platform_s390xLittleEndianNote_refused() {
        BadCoreException e = refused(GuestArch.S390X, S390X, ByteOrder.LITTLE_ENDIAN, "s390.ram");
        assertTrue(e.getMessage().contains("little-endian"), e.getMessage());
    }

    @Test
    void platform_x86_64WithA32BitKernel_i386() {
        GuestPlatform p = platform(GuestArch.X86_64, I386, ByteOrder.LITTLE_ENDIAN, "pc.ram");
        assertEquals(GuestArch.I386, p.arch());
        assertEquals("i686", p.utsMachine());
        assertTrue(p.evidence().contains("32-bit kernel"), p.evidence());
    }

    @Test
    void platform_x86_64WithAKernelOfListHead8_i386() {
        // A non-PAE i386 kernel exports no key of its own; its pointers are 4 bytes.
        GuestPlatform p = platform(GuestArch.X86_64, "OSRELEASE=6.1\nPAGESIZE=4096\nSIZE(list_head)=8\n",
                ByteOrder.LITTLE_ENDIAN, "pc.ram");
        assertEquals(GuestArch.I386, p.arch());
    }

    @Test
    void platform_i386_i386() {
        assertEquals(GuestArch.I386, platform(GuestArch.I386, I386, ByteOrder.LITTLE_ENDIAN, "pc.ram").arch());
    }

    @Test
    void platform_i386ExecutableWithAnX86_64Kernel_refused() {
        BadCoreException e = refused(GuestArch.I386, X86_64, ByteOrder.LITTLE_ENDIAN, "pc.ram");
        assertTrue(e.getMessage().contains("a kernel for x86_64 (NUMBER(phys_base)"), e.getMessage());
    }

    @Test
    void platform_aarch64ExecutableWithAnX86_64Kernel_refused() {
        BadCoreException e = refused(GuestArch.AARCH64, X86_64, ByteOrder.LITTLE_ENDIAN, "mach-virt.ram");
        assertTrue(e.getMessage().contains("disagrees"), e.getMessage());
    }

    @Test
    void platform_x86_64ExecutableWithAnArm64Kernel_refused() {
        refused(GuestArch.X86_64, ARM64, ByteOrder.LITTLE_ENDIAN, "pc.ram");
    }

    @Test
    void platform_aarch64ExecutableWithA32BitKernel_refused() {
        BadCoreException e = refused(GuestArch.AARCH64, "OSRELEASE=6.1\nPAGESIZE=4096\nSIZE(list_head)=8\n",
                ByteOrder.LITTLE_ENDIAN, "mach-virt.ram");
        assertTrue(e.getMessage().contains("32-bit guests of aarch64 are not supported"), e.getMessage());
    }

    @Test
    void platform_x86ExecutableWithAnArmMachinesRam_refused() {
        BadCoreException e = refused(GuestArch.X86_64, X86_64, ByteOrder.LITTLE_ENDIAN, "mach-virt.ram");
        assertTrue(e.getMessage().contains("RAM block mach-virt.ram is the RAM of qemu-system-aarch64 machines"), e.getMessage());
    }

    @Test
    void platform_ramBlockOfABackend_tellsNothing() {
        // -object memory-backend-ram,id=m: the block is named after the backend.
        assertEquals(GuestArch.AARCH64, platform(GuestArch.AARCH64, ARM64, ByteOrder.LITTLE_ENDIAN, "m").arch());
    }

    @Test
    void platform_pageSizeNotTheArchitectures_refused() {
        BadCoreException e = refused(GuestArch.X86_64, X86_64.replace("PAGESIZE=4096", "PAGESIZE=65536"),
                ByteOrder.LITTLE_ENDIAN, "pc.ram");
        assertTrue(e.getMessage().contains("PAGESIZE=65536"), e.getMessage());
        refused(GuestArch.AARCH64, ARM64.replace("PAGESIZE=4096", "PAGESIZE=8192"), ByteOrder.LITTLE_ENDIAN,
                "mach-virt.ram");
    }

    @Test
    void platform_vmcoreinfoWithoutMarkers_executableDecides() {
        GuestPlatform p = platform(GuestArch.X86_64, "OSRELEASE=6.1\nPAGESIZE=4096\n", ByteOrder.LITTLE_ENDIAN,
                "pc.ram");
        assertEquals(GuestArch.X86_64, p.arch());
        assertEquals(4096, p.pageSize());
    }

    static byte[] note(String text, ByteOrder order) {
        byte[] t = text.getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = ByteBuffer.allocate(24 + ((t.length + 3) & ~3)).order(order);
        b.putInt(0, 11).putInt(4, t.length).putInt(8, 0);
        b.put(12, "VMCOREINFO".getBytes(StandardCharsets.US_ASCII));
        b.put(24, t);
        return b.array();
    }
}

package io.vmdumpfs.core.kernel;

import static io.vmdumpfs.core.testing.SyntheticCore.MiB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.testing.SyntheticCore;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Utsname.fromImage on synthetic QEMU cores of each architecture: init_uts_ns found through the kernel image's
 * linear map from VMCOREINFO, confirmed by sysname and release; nothing when it cannot be confirmed.
 */
class UtsnameTest {

    @TempDir
    Path dir;

    static final Utsname GUEST = new Utsname("Linux", "vmdumpfs-guest", "6.1.0-test", "#1 SMP Debian 6.1.0",
            "aarch64", "vmdumpfs.test");

    private static byte[] raw(Utsname u) {
        byte[] b = new byte[Utsname.SIZE];
        int i = 0;
        for (String f : u.fields()) {
            byte[] v = f.getBytes(StandardCharsets.ISO_8859_1);
            System.arraycopy(v, 0, b, i * Utsname.FIELD, v.length);
            i++;
        }
        return b;
    }

    /** A core of {@code exe} with one RAM block at {@code ramBase}, init_uts_ns at {@code utsPaddr}. */
    private Optional<Utsname> found(String exe, String ram, long ramBase, String vmcoreinfo, ByteOrder order,
            long utsPaddr, Utsname uts) throws IOException {
        SyntheticCore c = SyntheticCore.qemu().executable(exe).ram(ram, ramBase, 4 * MiB).vmcoreinfo(true)
                .vmcoreinfoDevice(false).vmcoreinfoText(vmcoreinfo).vmcoreinfoOrder(order)
                .vmcoreinfoAt(ramBase + 3 * MiB).write(dir.resolve("core"));
        c.putBytes(c.ram(ram).at((int) (utsPaddr - ramBase)), raw(uts));
        try (GuestDump d = GuestDumps.open(c.path(), Optional.empty())) {
            return Utsname.fromImage(d);
        }
    }

    @Test
    void fromImage_aarch64_throughKimageVoffset() throws IOException {
        String vi = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSIZE(list_head)=16\n"
                + "SYMBOL(init_uts_ns)=ffffbfa4eadc0840\nOFFSET(uts_namespace.name)=0\n"
                + "NUMBER(kimage_voffset)=0xffffbfa4aaa00000\n";
        // 0xffffbfa4eadc0840 - 0xffffbfa4aaa00000 = 0x403c0840
        assertEquals(Optional.of(GUEST), found("/usr/bin/qemu-system-aarch64", "mach-virt.ram", 0x40000000L, vi,
                ByteOrder.LITTLE_ENDIAN, 0x403c0840L, GUEST));
    }

    @Test
    void fromImage_i386_throughPageOffset_anyVmsplit() throws IOException {
        Utsname i686 = new Utsname("Linux", "n", "6.1.0-test", "#1 SMP", "i686", "(none)");
        String vi = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSIZE(list_head)=8\nCONFIG_X86_PAE=y\n"
                + "SYMBOL(init_uts_ns)=c0123a00\nOFFSET(uts_namespace.name)=4\n";
        assertEquals(Optional.of(i686), found("/usr/bin/qemu-system-i386", "pc.ram", 0, vi,
                ByteOrder.LITTLE_ENDIAN, 0x123a04L, i686));
        // CONFIG_VMSPLIT_2G: PAGE_OFFSET 0x80000000
        String vi2g = vi.replace("c0123a00", "80123a00");
        assertEquals(Optional.of(i686), found("/usr/bin/qemu-system-i386", "pc.ram", 0, vi2g,
                ByteOrder.LITTLE_ENDIAN, 0x123a04L, i686));
    }

    @Test
    void fromImage_ppc64BigEndian_throughPageOffset() throws IOException {
        Utsname ppc = new Utsname("Linux", "n", "6.1.0-test", "#1 SMP", "ppc64", "(none)");
        String vi = "OSRELEASE=6.1.0-test\nPAGESIZE=65536\nSIZE(list_head)=16\n"
                + "SYMBOL(init_uts_ns)=c0000000002ab3c0\nOFFSET(uts_namespace.name)=0\n"
                + "SYMBOL(mmu_psize_defs)=c0000000027593c8\n";
        assertEquals(Optional.of(ppc), found("/usr/bin/qemu-system-ppc64", "ppc_spapr.ram", 0, vi,
                ByteOrder.BIG_ENDIAN, 0x2ab3c0L, ppc));
    }

    @Test
    void fromImage_s390x_identity() throws IOException {
        Utsname s390 = new Utsname("Linux", "n", "6.1.0-test", "#1 SMP", "s390x", "(none)");
        String vi = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSIZE(list_head)=16\n"
                + "SYMBOL(init_uts_ns)=2f4898\nOFFSET(uts_namespace.name)=0\nSYMBOL(lowcore_ptr)=1298208\n";
        assertEquals(Optional.of(s390), found("/usr/bin/qemu-system-s390x", "s390.ram", 0, vi, ByteOrder.BIG_ENDIAN,
                0x2f4898L, s390));
    }

    @Test
    void fromImage_releaseNotVmcoreinfos_empty() throws IOException {
        String vi = "OSRELEASE=6.1.0-other\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffbfa4eadc0840\n"
                + "OFFSET(uts_namespace.name)=0\nNUMBER(kimage_voffset)=0xffffbfa4aaa00000\n";
        assertTrue(found("/usr/bin/qemu-system-aarch64", "mach-virt.ram", 0x40000000L, vi, ByteOrder.LITTLE_ENDIAN,
                0x403c0840L, GUEST).isEmpty());
    }

    @Test
    void fromImage_memberOffsetMissing_empty() throws IOException {
        // Before Linux 4.14 VMCOREINFO lacks OFFSET(uts_namespace.name), and the member's place is not assumed.
        String vi = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffbfa4eadc0840\n"
                + "NUMBER(kimage_voffset)=0xffffbfa4aaa00000\n";
        assertTrue(found("/usr/bin/qemu-system-aarch64", "mach-virt.ram", 0x40000000L, vi, ByteOrder.LITTLE_ENDIAN,
                0x403c0840L, GUEST).isEmpty());
    }

    @Test
    void fromImage_pointsOutsideRam_empty() throws IOException {
        String vi = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffbfa4eadc0840\n"
                + "OFFSET(uts_namespace.name)=0\nNUMBER(kimage_voffset)=0xffffbf0000000000\n";
        assertTrue(found("/usr/bin/qemu-system-aarch64", "mach-virt.ram", 0x40000000L, vi, ByteOrder.LITTLE_ENDIAN,
                0x403c0840L, GUEST).isEmpty());
    }

    @Test
    void fromImage_x86_64_leftToThePageTableWalk() throws IOException {
        Utsname x86 = new Utsname("Linux", "n", "6.1.0-test", "#1 SMP", "x86_64", "(none)");
        String vi = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff80123a00\n"
                + "OFFSET(uts_namespace.name)=0\nNUMBER(phys_base)=0\n";
        assertTrue(found("/usr/bin/qemu-system-x86_64", "pc.ram", 0, vi, ByteOrder.LITTLE_ENDIAN, 0x123a00L, x86)
                .isEmpty());
    }
}

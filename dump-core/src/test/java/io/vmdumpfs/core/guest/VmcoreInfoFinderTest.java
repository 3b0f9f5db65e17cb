package io.vmdumpfs.core.guest;

import static io.vmdumpfs.core.testing.SyntheticCore.GiB;
import static io.vmdumpfs.core.testing.SyntheticCore.KiB;
import static io.vmdumpfs.core.testing.SyntheticCore.MiB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.testing.SyntheticCore;
import io.vmdumpfs.core.testing.SyntheticCore.Flag;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** VmcoreInfoFinder on synthetic QEMU cores: through the vmcoreinfo device's struct, else by scanning guest RAM. */
@Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class VmcoreInfoFinderTest {

    @TempDir
    Path dir;

    private static Optional<VmcoreInfo> find(SyntheticCore c) {
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            RamDiscovery.Result r = RamDiscovery.discover(pc);
            GuestMemory g = new GuestMemory(pc.file(), r.blocks());
            return VmcoreInfoFinder.find(pc, g, r.addressSpaceVaddr());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static SyntheticCore.Builder guest() {
        return SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB).ram("pc.bios", 0xfffc0000L, 256 * KiB, Flag.ROM);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void find_viaDevice(int hostFormat) {
        SyntheticCore c = guest().vmcoreinfo(true).vmcoreinfoHostFormat(hostFormat).write(dir.resolve("core"));
        VmcoreInfo v = find(c).orElseThrow();
        assertEquals("vmcoreinfo device", v.source());
        assertEquals(c.vmcoreinfoPaddr(), v.guestPaddr());
        assertEquals(SyntheticCore.VMCOREINFO_TEXT, v.text());
        assertEquals("6.1.0-test", v.osRelease());
        assertEquals(4096, v.pageSize(0));
        assertEquals(OptionalLong.of(0x1a000000L), v.kernelOffset());
        assertEquals(OptionalLong.of(-201326592L), v.physBase());
        assertEquals(OptionalLong.of(0xffffffff82c1a4e0L), v.symbol("init_uts_ns"));
    }

    @Test
    void find_noteBytesAreTheKernelsNote() {
        SyntheticCore c = guest().vmcoreinfo(true).write(dir.resolve("core"));
        VmcoreInfo v = find(c).orElseThrow();
        byte[] text = SyntheticCore.VMCOREINFO_TEXT.getBytes(StandardCharsets.US_ASCII);
        assertEquals(24 + ((text.length + 3) & ~3), v.note().length);
        assertArrayEquals("VMCOREINFO\0".getBytes(StandardCharsets.US_ASCII),
                java.util.Arrays.copyOfRange(v.note(), 12, 23));
    }

    @Test
    void find_withoutDevice_viaRamScan() {
        SyntheticCore c = guest().vmcoreinfo(true).vmcoreinfoDevice(false).write(dir.resolve("core"));
        VmcoreInfo v = find(c).orElseThrow();
        assertEquals("guest RAM scan", v.source());
        assertEquals(c.vmcoreinfoPaddr(), v.guestPaddr());
        assertEquals("6.1.0-test", v.osRelease());
    }

    /** A 2 GiB guest whose RAM is holes but its first MiB and the note near its end, as a kernel-written core. */
    @Test
    void find_sparseGuestWithoutDevice_scanReadsTheDataNotTheHoles() throws IOException {
        long note = 2 * GiB - 64 * KiB;
        SyntheticCore c = SyntheticCore.qemu().ram("pc.ram", 0, 2 * GiB).vmcoreinfo(true).vmcoreinfoDevice(false)
                .vmcoreinfoAt(note).sparseRam().write(dir.resolve("core"));
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            RamDiscovery.Result r = RamDiscovery.discover(pc);
            GuestMemory g = new GuestMemory(pc.file(), r.blocks());
            assumeTrue(g.isHole(64 * MiB, 64 * MiB), "the file system keeps holes");
            long before = bytesRead();
            VmcoreInfo v = VmcoreInfoFinder.scanGuestRam(g).orElseThrow();
            long read = bytesRead() - before;
            assertEquals(note, v.guestPaddr());
            if (before >= 0) {
                assertTrue(read < 16 * MiB, "the scan read " + read + " bytes of a guest with 5 MiB of data");
            }
        }
    }

    /** Returns the bytes this process has read (rchar of /proc/self/io), or -1 where there is no such file. */
    private static long bytesRead() {
        try {
            for (String l : java.nio.file.Files.readAllLines(Path.of("/proc/self/io"))) {
                if (l.startsWith("rchar:")) {
                    return Long.parseLong(l.substring(6).strip());
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
    }

    @Test
    void find_noteInSecondBlock_viaRamScan() {
        SyntheticCore c = guest().vmcoreinfo(true).vmcoreinfoDevice(false).vmcoreinfoAt(0xfffc0000L + 0x3000)
                .write(dir.resolve("core"));
        VmcoreInfo v = find(c).orElseThrow();
        assertEquals(0xfffc3000L, v.guestPaddr());
    }

    @Test
    void find_devicePointsAtGarbage_fallsBackToRamScan() {
        SyntheticCore c = guest().vmcoreinfo(true).write(dir.resolve("core"));
        c.putU64(c.vmcoreinfoDevice().at(8), 0x1000);   // paddr: a page of plain RAM
        VmcoreInfo v = find(c).orElseThrow();
        assertEquals("guest RAM scan", v.source());
        assertEquals(c.vmcoreinfoPaddr(), v.guestPaddr());
    }

    @Test
    void find_devicePointsOutsideRam_fallsBackToRamScan() {
        SyntheticCore c = guest().vmcoreinfo(true).write(dir.resolve("core"));
        c.putU64(c.vmcoreinfoDevice().at(8), 0x7fff_ffff_f000L);
        assertEquals("guest RAM scan", find(c).orElseThrow().source());
    }

    @Test
    void find_notPageAligned_foundByDeviceOnly() {
        SyntheticCore c = guest().vmcoreinfo(true).vmcoreinfoAt(0x10040).write(dir.resolve("core"));
        assertEquals(0x10040, find(c).orElseThrow().guestPaddr());
        SyntheticCore noDevice = guest().vmcoreinfo(true).vmcoreinfoDevice(false).vmcoreinfoAt(0x10040)
                .write(dir.resolve("core2"));
        assertTrue(find(noDevice).isEmpty(), "the scan looks at page starts only");
    }

    @Test
    void find_bigEndianNote_viaRamScan_inTheGuestsOrder() {
        // An s390x guest: no fw_cfg, and the kernel wrote its note big-endian.
        SyntheticCore c = guest().vmcoreinfo(true).vmcoreinfoDevice(false).vmcoreinfoOrder(ByteOrder.BIG_ENDIAN)
                .write(dir.resolve("core"));
        VmcoreInfo v = find(c).orElseThrow();
        assertEquals("guest RAM scan", v.source());
        assertEquals(ByteOrder.BIG_ENDIAN, v.byteOrder());
        assertEquals(SyntheticCore.VMCOREINFO_TEXT, v.text());
        assertEquals("6.1.0-test", v.osRelease());
    }

    @Test
    void find_bigEndianNote_viaDevice_inTheGuestsOrder() {
        // FWCfgVMCoreInfo stays little-endian whatever the guest; the note it points at is the guest's.
        SyntheticCore c = guest().vmcoreinfo(true).vmcoreinfoOrder(ByteOrder.BIG_ENDIAN).write(dir.resolve("core"));
        VmcoreInfo v = find(c).orElseThrow();
        assertEquals("vmcoreinfo device", v.source());
        assertEquals(ByteOrder.BIG_ENDIAN, v.byteOrder());
        assertEquals(SyntheticCore.VMCOREINFO_TEXT, v.text());
    }

    @Test
    void find_littleEndianNote_reportsLittleEndian() {
        assertEquals(ByteOrder.LITTLE_ENDIAN, find(guest().vmcoreinfo(true).write(dir.resolve("core")))
                .orElseThrow().byteOrder());
    }

    @Test
    void find_deviceInAHeapLargerThan64MiB_viaDevice() {
        // QEMU's main heap under TCG: 65 MiB for a 256 MiB arm64 guest. The device must be found there, not by
        // the RAM scan.
        long heap = 0x560000000000L;
        SyntheticCore c = guest().segment(heap, 70 * MiB, SyntheticCore.RW, 70 * MiB).vmcoreinfo(true)
                .vmcoreinfoDeviceAt(heap + 66 * MiB).write(dir.resolve("core"));
        VmcoreInfo v = find(c).orElseThrow();
        assertEquals("vmcoreinfo device", v.source());
        assertEquals(c.vmcoreinfoPaddr(), v.guestPaddr());
    }

    @Test
    void find_noNote_empty() {
        assertTrue(find(guest().write(dir.resolve("core"))).isEmpty());
    }

    @Test
    void find_noteTextNotKernels_empty() {
        SyntheticCore c = guest().vmcoreinfo(true).write(dir.resolve("core"));
        c.putBytes(c.vmcoreinfoNote().at(24), "OSRELEASE:".getBytes(StandardCharsets.US_ASCII));
        assertTrue(find(c).isEmpty());
    }

    @Test
    void find_noteDescszHuge_empty() {
        SyntheticCore c = guest().vmcoreinfo(true).write(dir.resolve("core"));
        c.putU32(c.vmcoreinfoNote().at(4), 0xfffffff0L);
        assertTrue(find(c).isEmpty());
    }

    @Test
    void find_noteRunsOffTheEndOfRam_empty() {
        // The note starts on the last page of pc.ram and its text would run past the block.
        SyntheticCore c = SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB).vmcoreinfo(true)
                .vmcoreinfoAt(2 * MiB - 4096).write(dir.resolve("core"));
        c.putU32(c.vmcoreinfoNote().at(4), 8000);
        assertTrue(find(c).isEmpty());
    }
}

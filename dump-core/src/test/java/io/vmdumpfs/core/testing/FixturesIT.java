package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The test helpers other tests judge by, checked on the real pc 256 MiB fixture: libkdumpfile's reads agree with the
 * bytes of QEMU's own dumps, the guest's facts agree with its dump, a truncated copy is the core's head.
 */
class FixturesIT {

    @Test
    void open_qemuElf_x86GuestAsTheGuestSaw() {
        QemuFixture f = QemuFixture.pc256();
        Libkdumpfile.Info info = Libkdumpfile.open(f.qemuDumpElf());
        assertEquals("elf", info.format());
        assertEquals("x86_64", info.arch());
        assertEquals(ByteOrder.LITTLE_ENDIAN, info.byteOrder());
        assertEquals(4096, info.pageSize());
        assertEquals(f.get("UNAME"), info.osRelease().orElse("none"));
        assertEquals(f.get("UNAME"), info.vmcoreinfo().get("OSRELEASE"));
        assertEquals(2, info.cpus().orElse(-1), "one NT_PRSTATUS per vCPU");
        assertEquals(f.memBytes() / 4096 + 64, info.pageCount(), "guest RAM plus the 256 KiB BIOS below 4 GiB");
    }

    @Test
    void compareWithElf_qemuKdumpUnflattened_samePagesAsQemuElf(@TempDir Path tmp) {
        QemuFixture f = QemuFixture.pc256();
        Path flattened = f.qemuDump("kdump-zlib");
        assertTrue(Libkdumpfile.openError(flattened).orElse("opened").contains("Unknown file format"),
                "libkdumpfile 0.5.1 does not read the flattened format QEMU 7.2 writes");
        Path kdump = QemuFixture.unflattened(flattened, tmp);
        Libkdumpfile.Info info = Libkdumpfile.open(kdump);
        assertEquals("diskdump", info.format());
        assertNull(info.arch(), "QEMU leaves utsname.nodename and version empty: libkdumpfile finds no arch");

        Libkdumpfile.Comparison c = Libkdumpfile.compareWithElf(kdump, f.qemuDumpElf());
        assertEquals(f.memBytes() + (256 << 10), c.bytesEqual(), "every page of both QEMU dumps: " + c);
        assertEquals(0, c.bytesAbsent(), c.absentWhy());
    }

    @Test
    void read_outsideGuestRam_absentWithReason() {
        QemuFixture f = QemuFixture.pc256();
        long end = f.memBytes();
        List<String> seen = new ArrayList<>();
        Libkdumpfile.read(f.qemuDumpElf(), Libkdumpfile.Space.MACHPHYS, List.of(new long[] {end - 8192, 16384}),
                new Libkdumpfile.PageVisitor() {
                    @Override
                    public void data(long address, ByteBuffer bytes) {
                        seen.add("data 0x" + Long.toHexString(address) + "+" + bytes.remaining());
                    }

                    @Override
                    public void absent(long address, long length, String why) {
                        seen.add("absent 0x" + Long.toHexString(address) + "+" + length + " "
                                + why.substring(0, why.indexOf(':')));
                    }
                });
        assertEquals(List.of("data 0x" + Long.toHexString(end - 8192) + "+8192",
                "absent 0x" + Long.toHexString(end) + "+8192 NoDataException"), seen);
    }

    @Test
    void guestFacts_vmcoreinfoNoteAddress_holdsTheNoteInQemuElf() {
        QemuFixture f = QemuFixture.pc256();
        GuestFacts facts = f.guestFacts();
        assertEquals(f.get("UNAME"), facts.release());
        assertEquals(f.get("NODENAME"), facts.nodename());
        assertEquals("vmdumpfs-" + f.get("TOKEN").substring(0, 8), facts.nodename());
        assertEquals("vmdumpfs.test", facts.domainname());
        assertEquals(2, facts.nproc());
        assertEquals("x86_64", facts.machine());
        assertTrue(facts.version().contains("Debian"), facts.version());
        assertTrue(facts.kallsyms("init_uts_ns").isPresent(), "x86_64's cloud kernel lists data symbols");
        assertEquals(1, facts.iomem("Kernel code").size(), facts.lines().toString());

        // /sys/kernel/vmcoreinfo's address holds an ELF note named VMCOREINFO whose text starts with OSRELEASE.
        long paddr = facts.vmcoreinfoNote().orElseThrow();
        ByteBuffer note = ByteBuffer.wrap(Libkdumpfile.read(f.qemuDumpElf(), Libkdumpfile.Space.MACHPHYS, paddr, 64))
                .order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(11, note.getInt(0), "n_namesz of \"VMCOREINFO\\0\"");
        assertEquals("VMCOREINFO", new String(note.array(), 12, 10, StandardCharsets.US_ASCII));
        assertEquals("OSRELEASE=" + f.get("UNAME"), new String(note.array(), 24, 10 + f.get("UNAME").length(),
                StandardCharsets.US_ASCII));
    }

    @Test
    void truncatedCopy_half_isTheCoresHead(@TempDir Path tmp) throws IOException {
        QemuFixture f = QemuFixture.pc256();
        long cut = Files.size(f.core()) / 2 + 12345;
        Path copy = f.truncatedCopy(tmp, cut);
        assertEquals(cut, Files.size(copy));
        try (FileChannel a = FileChannel.open(f.core(), StandardOpenOption.READ);
                FileChannel b = FileChannel.open(copy, StandardOpenOption.READ)) {
            for (long at : new long[] {0, cut / 2, cut - 4096}) {
                ByteBuffer x = ByteBuffer.allocate(4096);
                ByteBuffer y = ByteBuffer.allocate(4096);
                a.read(x, at);
                b.read(y, at);
                assertArrayEquals(x.array(), y.array(), "bytes at " + at);
            }
        }
    }
}

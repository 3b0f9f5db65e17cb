package io.vmdumpfs.core.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.View;
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
 * equal QEMU's byte for byte, and our kdump files' note section must equal the one in QEMU's kdump-zlib file.
 * QEMU's files are read with readelf and a small reader of the flattened kdump format, not with our code.
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

    private static void check(QemuFixture f) throws IOException {
        try (GuestDump d = GuestDumps.open(f.core(), Optional.empty())) {
            Vcpus v = d.vcpus();
            assertEquals(Optional.empty(), v.failure(), "vCPUs found");
            assertEquals(2, v.list().size(), "the fixture runs -smp 2");
            assertEquals(List.of(0, 1), v.list().stream().map(Vcpu::index).toList(), "CPU_FOREACH order");
            assertTrue(v.exactness().startsWith("exact (TCG"), v.exactness());

            byte[] qemuNotes = qemuElfNotes(f.qemuDumpElf());
            byte[] ours = segment(DumpFormat.ELF.open(d, FormatContext.uncached()), noteOffset(d));
            assertEquals(HexFormat.of().formatHex(qemuNotes), HexFormat.of().formatHex(ours),
                    "vmcore.elf's PT_NOTE equals QEMU's");

            View kdump = DumpFormat.KDUMP_ZLIB.open(d, FormatContext.uncached());
            byte[] qemuKdumpNotes = flattenedKdumpNotes(f.dir().resolve("qemu-dump.kdump-zlib"));
            byte[] ourKdumpNotes = kdumpNotes(kdump);
            assertTrue(cpuNotes(ourKdumpNotes).length > 0, "the kdump files carry the vCPU notes");
            assertArrayEquals(cpuNotes(qemuKdumpNotes), cpuNotes(ourKdumpNotes),
                    "the kdump note section's NT_PRSTATUS and QEMU notes equal QEMU's");
            assertArrayEquals(qemuKdumpNotes, ourKdumpNotes, "the whole kdump note section equals QEMU's");
            ByteBuffer h = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
            kdump.read(0, h);
            assertEquals(2, h.getInt(460), "disk_dump_header.nr_cpus");
        }
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
     * header, then records {be64 offset, be64 size, data} of the file it stands for. Rebuilds the first 64 KiB.
     */
    private static byte[] flattenedKdumpNotes(Path file) throws IOException {
        byte[] logical = new byte[64 << 10];
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

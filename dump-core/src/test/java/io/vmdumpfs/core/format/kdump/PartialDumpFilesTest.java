package io.vmdumpfs.core.format.kdump;

import static io.vmdumpfs.core.testing.SyntheticCore.KiB;
import static io.vmdumpfs.core.testing.SyntheticCore.MiB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.testing.Readelf;
import io.vmdumpfs.core.testing.SyntheticCore;
import io.vmdumpfs.core.testing.SyntheticCore.Flag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The dump files of a core cut short in the middle of guest RAM: what the core holds is served byte for byte, the
 * rest is absent from every file (no PT_LOAD in vmcore.elf, clear bits in both kdump bitmaps), never zeros.
 */
@Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PartialDumpFilesTest {

    /** pc.ram holds its first 3 MiB; the core ends 0x123 bytes into the next page. */
    private static final long HELD = 3 * MiB;

    @TempDir
    Path dir;
    /** The bytes of guest RAM the core holds, read from the core file itself. */
    private byte[] held;

    private GuestDump open() throws IOException {
        SyntheticCore c = SyntheticCore.qemu()
                .ram("pc.ram", 0, 4 * MiB)
                .ram("pc.bios", 0xfffc0000L, 256 * KiB, Flag.ROM)
                .vmcoreinfo(true)
                .write(dir.resolve("core"));
        long ram = c.ram("pc.ram").fileOffset();
        c.truncate(ram + HELD + 0x123);
        held = Arrays.copyOfRange(Files.readAllBytes(c.path()), (int) ram, (int) (ram + HELD));
        return GuestDumps.open(c.path(), Optional.empty());
    }

    private static byte[] readAll(View v) {
        byte[] out = new byte[(int) v.size()];
        ByteBuffer dst = ByteBuffer.allocate(1 << 20);
        for (long pos = 0; pos < out.length; ) {
            dst.clear();
            int n = v.read(pos, dst);
            assertTrue(n > 0, "short read at " + pos);
            System.arraycopy(dst.array(), 0, out, (int) pos, n);
            pos += n;
        }
        return out;
    }

    @Test
    void vmcoreElf_ptLoadsCoverExactlyTheHeldPages() throws IOException {
        try (GuestDump d = open()) {
            Path elf = Files.write(dir.resolve("vmcore.elf"),
                    readAll(DumpFormat.ELF.open(d, FormatContext.uncached())));
            List<Readelf.Phdr> loads = Readelf.loads(elf);
            assertEquals(1, loads.size(), "one PT_LOAD, for the held part of pc.ram; none for the rest or pc.bios");
            Readelf.Phdr ph = loads.get(0);
            assertEquals(0, ph.paddr());
            assertEquals(HELD, ph.filesz());
            assertEquals(HELD, ph.memsz(), "no p_memsz beyond the data: that would read as zeros");
            byte[] file = Files.readAllBytes(elf);
            assertArrayEquals(held, Arrays.copyOfRange(file, (int) ph.offset(), (int) (ph.offset() + HELD)));
        }
    }

    @ParameterizedTest
    @EnumSource(KdumpCodec.class)
    void kdump_absentPagesClearInBothBitmaps_heldPagesEqualTheCore(KdumpCodec codec) throws IOException {
        try (GuestDump d = open()) {
            KdumpReader r = new KdumpReader(readAll(KdumpView.open(d, FormatContext.uncached(), codec)));
            long heldPages = HELD / 4096;
            assertEquals(heldPages, r.maxMapnr, "max_mapnr: one past the last page the core holds");
            for (long pfn = 0; pfn < heldPages; pfn++) {
                assertTrue(r.inBitmap1(pfn) && r.inBitmap2(pfn), "pfn 0x" + Long.toHexString(pfn));
                int at = (int) pfn * 4096;
                assertArrayEquals(Arrays.copyOfRange(held, at, at + 4096), r.page(r.desc((int) pfn)),
                        "pfn 0x" + Long.toHexString(pfn));
            }
            // The bitmap's last block reaches past max_mapnr: those bits, the partly held page's among them, are clear.
            for (long pfn = heldPages; pfn < r.bitmapLen * 8; pfn++) {
                assertFalse(r.inBitmap1(pfn) || r.inBitmap2(pfn), "absent pfn 0x" + Long.toHexString(pfn));
            }
        }
    }

    @Test
    void blocksTxt_tellsWhatIsAbsent() throws IOException {
        try (GuestDump d = open()) {
            String text = new String(readAll(DumpFormat.BLOCKS.open(d, FormatContext.uncached())),
                    StandardCharsets.UTF_8);
            assertTrue(text.contains("\n# partial: 3 of 4.3 MiB in the core; 1.3 MiB absent: core truncated at offset"),
                    text);
            assertTrue(text.contains(String.format("# %016x %016x ", HELD, 4 * MiB)), text);
            assertTrue(text.contains(String.format("# %016x %016x ", 0xfffc0000L, 1L << 32)), text);
        }
    }
}

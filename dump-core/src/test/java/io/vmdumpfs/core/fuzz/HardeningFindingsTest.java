package io.vmdumpfs.core.fuzz;

import static io.vmdumpfs.core.testing.SyntheticCore.L;
import static io.vmdumpfs.core.testing.SyntheticCore.MiB;
import static io.vmdumpfs.core.testing.SyntheticCore.assertBadCore;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.guest.VmcoreInfo;
import io.vmdumpfs.core.testing.SyntheticCore;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the hardening corpus (fusefs io.vmdumpfs.hardening.BadInputCorpusIT) and the fuzzers found, one test each,
 * on synthetic cores so they run in every build.
 */
@Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HardeningFindingsTest {

    @TempDir
    Path dir;

    private SyntheticCore qemu() {
        return SyntheticCore.qemu().ram("pc.ram", 0, 2 * MiB).write(dir.resolve("core"));
    }

    /** Corpus "absurd/FlatRange0.start=-4096": was an IllegalArgumentException ("internal error") from the block. */
    @Test
    void open_ramRangeWrapsPast2pow64_corrupt() {
        SyntheticCore c = qemu();
        c.putU64(c.flatRange(0).at(L.flatRange().start()), -4096L);
        assertBadCore(Kind.CORRUPT, c.path(), "wraps past the end of the address space",
                () -> GuestDumps.open(c.path(), Optional.empty()));
    }

    /** Corpus "absurd/RAM p_offset=0": guest RAM would have been the ELF header and whatever follows it. */
    @Test
    void open_loadDataOverlapsElfHeader_corrupt() {
        SyntheticCore c = qemu();
        int ram = c.segments().indexOf(c.segments().stream()
                .filter(s -> s.hostVaddr() == c.ram("pc.ram").hostVaddr()).findFirst().orElseThrow()) + 1;
        c.putU64(c.phdr(ram) + SyntheticCore.P_OFFSET, 0);
        assertBadCore(Kind.CORRUPT, c.path(), "the ELF header and program header " + ram + " overlap in the file",
                () -> GuestDumps.open(c.path(), Optional.empty()));
    }

    /** Two PT_LOADs claiming the same file bytes: one of them serves the other's memory. */
    @Test
    void open_loadDataOverlapEachOther_corrupt() {
        SyntheticCore c = qemu();
        c.putU64(c.phdr(2) + SyntheticCore.P_OFFSET, c.segments().get(0).fileOffset());
        assertBadCore(Kind.CORRUPT, c.path(), "overlap in the file",
                () -> GuestDumps.open(c.path(), Optional.empty()));
    }

    /** Corpus "not-a-core/a name with a newline": the error was two lines. */
    @Test
    void open_pathWithNewline_oneLineMessage() throws Exception {
        Path p = Files.write(dir.resolve("new\nline\u001b[31m.core"), new byte[0]);
        BadCoreException e = assertBadCore(Kind.UNSUPPORTED, Path.of(dir + "/new\\nline\\x1b[31m.core"),
                "empty file", () -> GuestDumps.open(p, Optional.empty()));
        assertFalse(e.getMessage().contains("\u001b"), "no terminal escape");
    }

    /** A hostile core's program name (NT_PRPSINFO pr_fname) lands in the message: no newline, no escape. */
    @Test
    void open_programNameWithControlCharacters_oneLineMessage() {
        SyntheticCore c = SyntheticCore.process("ev\nil\u001b]0;x\u0007").write(dir.resolve("core"));
        BadCoreException e = assertBadCore(Kind.UNSUPPORTED, c.path(), "not of a QEMU process",
                () -> GuestDumps.open(c.path(), Optional.empty()));
        assertTrue(e.getMessage().contains("ev\\nil\\x1b]0;x\\x07"), e.getMessage());
    }

    /** Fuzz finding (VmcoreInfoFuzzTest, the empty input): text() threw IndexOutOfBoundsException. */
    @Test
    void vmcoreinfoText_noteShorterThanItsHeaderOrSizes_clipped() {
        assertEquals("", new VmcoreInfo(new byte[0], 0, "t", ByteOrder.LITTLE_ENDIAN).text());
        assertEquals("", new VmcoreInfo(new byte[11], 0, "t", ByteOrder.LITTLE_ENDIAN).text());
        byte[] note = new byte[24 + 8];
        note[0] = 11;                 // namesz
        note[4] = (byte) 0xff;        // descsz 255, far past the 8 bytes there are
        System.arraycopy("A=1\nB=2\n".getBytes(StandardCharsets.US_ASCII), 0, note, 24, 8);
        VmcoreInfo v = new VmcoreInfo(note, 0, "t", ByteOrder.LITTLE_ENDIAN);
        assertEquals("A=1\nB=2\n", v.text());
        assertEquals("2", v.get("B"));
        byte[] hugeName = new byte[16];
        hugeName[0] = hugeName[1] = hugeName[2] = hugeName[3] = (byte) 0xff;   // namesz 2^32-1
        assertEquals("", new VmcoreInfo(hugeName, 0, "t", ByteOrder.LITTLE_ENDIAN).text());
    }
}

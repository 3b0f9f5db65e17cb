package io.vmdumpfs.core.elf;

import static io.vmdumpfs.core.testing.SyntheticCore.E_MACHINE;
import static io.vmdumpfs.core.testing.SyntheticCore.E_PHENTSIZE;
import static io.vmdumpfs.core.testing.SyntheticCore.E_PHNUM;
import static io.vmdumpfs.core.testing.SyntheticCore.E_PHOFF;
import static io.vmdumpfs.core.testing.SyntheticCore.E_SHOFF;
import static io.vmdumpfs.core.testing.SyntheticCore.E_TYPE;
import static io.vmdumpfs.core.testing.SyntheticCore.EI_CLASS;
import static io.vmdumpfs.core.testing.SyntheticCore.EI_DATA;
import static io.vmdumpfs.core.testing.SyntheticCore.N_DESCSZ;
import static io.vmdumpfs.core.testing.SyntheticCore.P_FILESZ;
import static io.vmdumpfs.core.testing.SyntheticCore.P_OFFSET;
import static io.vmdumpfs.core.testing.SyntheticCore.RW;
import static io.vmdumpfs.core.testing.SyntheticCore.SH_INFO;
import static io.vmdumpfs.core.testing.SyntheticCore.assertBadCore;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.testing.SyntheticCore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** ProcessCore on synthetic cores: what a good core yields, and one test per kind of malformed file. */
@Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ProcessCoreTest {

    @TempDir
    Path dir;

    /** A process core with a couple of extra mappings: the baseline the negative tests damage. */
    private SyntheticCore sample() {
        return SyntheticCore.process("sleep")
                .segment(0x7f1234560000L, 0x3000, RW, 0x3000)
                .write(dir.resolve("core"));
    }

    @Test
    void open_processCore_readsHeaderNotesAndSegments() throws IOException {
        SyntheticCore c = SyntheticCore.qemu().ram("pc.ram", 0, 64 * SyntheticCore.KiB).write(dir.resolve("core"));
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            assertEquals(Elf64Header.ET_CORE, pc.header().eType());
            assertEquals(c.segments().size(), pc.loads().size());
            for (int i = 1; i < pc.loads().size(); i++) {
                assertTrue(Long.compareUnsigned(pc.loads().get(i - 1).pVaddr(), pc.loads().get(i).pVaddr()) < 0,
                        "loads sorted by address");
            }
            assertEquals(SyntheticCore.QEMU_COMM, pc.programName().orElseThrow());
            assertEquals(1, pc.threadCount());
            assertEquals(OptionalLong.of(SyntheticCore.ENTRY), pc.auxv(9));
            assertEquals(OptionalLong.of(4096), pc.auxv(6));
            assertEquals(OptionalLong.empty(), pc.auxv(33));
            assertEquals(List.of(
                    new MappedFile(SyntheticCore.EXE_TEXT, SyntheticCore.EXE_DATA, 0, SyntheticCore.QEMU_EXE),
                    new MappedFile(SyntheticCore.EXE_DATA, SyntheticCore.EXE_DATA + SyntheticCore.EXE_DATA_SIZE, 16,
                            SyntheticCore.QEMU_EXE)),
                    pc.mappedFiles());
            Elf64Phdr text = pc.loads().get(0);
            assertEquals(SyntheticCore.EXE_TEXT, text.pVaddr());
            assertEquals(4096, text.pFilesz(), "only the first page of text is dumped");
            assertEquals(SyntheticCore.EXE_TEXT_SIZE, text.pMemsz());
            assertFalse(text.writable());
        }
    }

    @Test
    void open_elfWithoutNotes_hasNoProgramName() throws IOException {
        SyntheticCore c = SyntheticCore.elf().segment(0x10000, 0x1000, RW, 0x1000).write(dir.resolve("core"));
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            assertTrue(pc.notes().isEmpty());
            assertTrue(pc.programName().isEmpty());
            assertTrue(pc.mappedFiles().isEmpty());
            assertEquals(OptionalLong.empty(), pc.auxv(9));
            assertEquals(0, pc.threadCount());
        }
    }

    @Test
    void open_extendedNumbering_readsCountFromSectionHeader() throws IOException {
        SyntheticCore c = SyntheticCore.process("sleep").extendedNumbering().write(dir.resolve("core"));
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            assertEquals(Elf64Header.PN_XNUM, pc.header().ePhnum());
            assertEquals(c.phnum() - 1, pc.loads().size());
            assertEquals("sleep", pc.programName().orElseThrow());
        }
    }

    @Test
    void open_notesOfOtherOwners_areKeptButNotUsedAsCore() throws IOException {
        byte[] desc = new byte[136];
        System.arraycopy("impostor".getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0, desc, 40, 8);
        SyntheticCore c = SyntheticCore.elf().note("LINUX", ElfNote.NT_PRPSINFO, desc).programName("real")
                .segment(0x10000, 0x1000, RW, 0x1000).write(dir.resolve("core"));
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            assertEquals(2, pc.notes().size());
            assertEquals("real", pc.programName().orElseThrow());
            assertTrue(pc.notes().stream().anyMatch(n -> n.name().equals("LINUX")));
        }
    }

    @Test
    void open_truncatedCore_opensWithTheMissingTailAbsent() throws IOException {
        SyntheticCore c = sample();
        SyntheticCore.Segment last = c.segments().get(c.segments().size() - 1);
        c.truncate(last.fileOffset() + 0x1000);
        try (ProcessCore pc = ProcessCore.open(c.path())) {
            assertTrue(pc.memory().isPresent(last.hostVaddr(), 0x1000));
            assertFalse(pc.memory().isPresent(last.hostVaddr() + 0x1000, 1));
            assertTrue(pc.memory().isMapped(last.hostVaddr() + 0x1000));
        }
    }

    // ---------------------------------------------------------------- malformed files

    @Test
    void open_emptyFile_unsupported() throws IOException {
        Path p = Files.createFile(dir.resolve("empty"));
        assertBadCore(Kind.UNSUPPORTED, p, "empty file", () -> ProcessCore.open(p));
    }

    @Test
    void open_notElf_unsupported() throws IOException {
        Path p = Files.writeString(dir.resolve("text"), "#!/bin/sh\necho this is a script, not a core dump\n".repeat(4));
        assertBadCore(Kind.UNSUPPORTED, p, "not an ELF file", () -> ProcessCore.open(p));
    }

    @Test
    void open_shortNonElf_unsupported() throws IOException {
        Path p = Files.writeString(dir.resolve("short"), "hello");
        assertBadCore(Kind.UNSUPPORTED, p, "not an ELF file", () -> ProcessCore.open(p));
    }

    @Test
    void open_truncatedElfHeader_corrupt() throws IOException {
        SyntheticCore c = sample().truncate(40);
        assertBadCore(Kind.CORRUPT, c.path(), "truncated ELF header (40 bytes)", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_executableNotCore_unsupported() {
        SyntheticCore c = sample().putU16(E_TYPE, 2); // ET_EXEC
        assertBadCore(Kind.UNSUPPORTED, c.path(), "not a core dump (e_type 2)", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_elf32_unsupported() {
        SyntheticCore c = sample().putU8(EI_CLASS, 1); // ELFCLASS32
        assertBadCore(Kind.UNSUPPORTED, c.path(), "not a 64-bit little-endian ELF (class 1, data 1)",
                () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_bigEndian_unsupported() {
        SyntheticCore c = sample().putU8(EI_DATA, 2); // ELFDATA2MSB
        assertBadCore(Kind.UNSUPPORTED, c.path(), "(class 2, data 2)", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_otherMachine_unsupported() {
        SyntheticCore c = sample().putU16(E_MACHINE, 183); // EM_AARCH64
        assertBadCore(Kind.UNSUPPORTED, c.path(), "e_machine 183", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_phdrTableBeyondEof_corrupt() {
        SyntheticCore c = sample();
        c.putU64(E_PHOFF, c.size() - 100);
        assertBadCore(Kind.CORRUPT, c.path(), "program header table at offset", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_phoffHuge_corruptWithoutOverflow() {
        SyntheticCore c = sample().putU64(E_PHOFF, Long.MAX_VALUE - 10);
        assertBadCore(Kind.CORRUPT, c.path(), "lies beyond the end of the file", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_maxPhnumBeyondEof_corrupt() {
        SyntheticCore c = sample().putU16(E_PHNUM, 0xfffe);
        assertBadCore(Kind.CORRUPT, c.path(), "program header table", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_absurdPhnumViaXnum_corrupt() {
        SyntheticCore c = SyntheticCore.process("sleep").extendedNumbering().write(dir.resolve("core"));
        c.putU32(c.phdr(c.phnum()) + SH_INFO, 0xffffffffL); // section header 0 follows the program headers
        assertBadCore(Kind.CORRUPT, c.path(), "absurd program header count 4294967295",
                () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_xnumWithoutSectionHeader_corrupt() {
        SyntheticCore c = SyntheticCore.process("sleep").extendedNumbering().write(dir.resolve("core"));
        c.putU64(E_SHOFF, 0);
        assertBadCore(Kind.CORRUPT, c.path(), "PN_XNUM but there is no section header",
                () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_xnumSectionHeaderBeyondEof_corrupt() {
        SyntheticCore c = SyntheticCore.process("sleep").extendedNumbering().write(dir.resolve("core"));
        c.putU64(E_SHOFF, c.size() - 10);
        assertBadCore(Kind.CORRUPT, c.path(), "section header 0 at offset", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_noProgramHeaders_corrupt() {
        SyntheticCore c = sample().putU16(E_PHNUM, 0);
        assertBadCore(Kind.CORRUPT, c.path(), "no program headers", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_wrongPhentsize_corrupt() {
        SyntheticCore c = sample().putU16(E_PHENTSIZE, 32);
        assertBadCore(Kind.CORRUPT, c.path(), "e_phentsize is 32", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_noteRunsPastSegment_corrupt() {
        SyntheticCore c = sample();
        c.putU32(c.notesOffset() + N_DESCSZ, 0x10000);
        assertBadCore(Kind.CORRUPT, c.path(), "note 0 at offset 0x" + Long.toHexString(c.notesOffset())
                + " runs past its segment", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_noteDescszNearFourGiB_corruptWithoutOverflow() {
        SyntheticCore c = sample();
        c.putU32(c.notesOffset() + N_DESCSZ, 0xfffffffdL);
        assertBadCore(Kind.CORRUPT, c.path(), "runs past its segment", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_noteSegmentBeyondEof_corrupt() {
        SyntheticCore c = sample();
        c.putU64(c.phdr(0) + P_OFFSET, c.size() - 16);
        assertBadCore(Kind.CORRUPT, c.path(), "note segment (program header 0)", () -> ProcessCore.open(c.path()));
        assertBadCore(Kind.CORRUPT, c.path(), "the core is truncated (gdb's gcore writes its notes last: a gcore cut"
                + " short cannot be read)", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_overlappingSegments_corrupt() {
        SyntheticCore c = SyntheticCore.elf()
                .segment(0x10000, 0x3000, RW, 0x3000)
                .segment(0x12000, 0x2000, RW, 0x2000)
                .write(dir.resolve("core"));
        assertBadCore(Kind.CORRUPT, c.path(), "program headers 1 and 2 overlap", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_fileszAboveMemsz_corrupt() {
        SyntheticCore c = sample();
        c.putU64(c.phdr(1) + P_FILESZ, SyntheticCore.EXE_TEXT_SIZE + 1);
        assertBadCore(Kind.CORRUPT, c.path(), "program header 1: p_filesz > p_memsz", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_mappingWrapsAround_corrupt() {
        SyntheticCore c = SyntheticCore.elf().segment(0xfffffffffff00000L, 0x200000, RW, 0).write(dir.resolve("core"));
        assertBadCore(Kind.CORRUPT, c.path(), "mapping wraps around", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_missingFile_io() {
        Path p = dir.resolve("nonexistent");
        assertBadCore(Kind.IO, p, "no such file", () -> ProcessCore.open(p));
    }

    @Test
    void open_directory_io() {
        assertBadCore(Kind.IO, dir, "is a directory", () -> ProcessCore.open(dir));
    }

    @Test
    void open_fifo_failsFastInsteadOfBlocking() throws Exception {
        Path fifo = dir.resolve("fifo");
        Process mk = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        assumeTrue(mk.waitFor() == 0, "mkfifo not available");
        // Opening a FIFO for reading blocks until a writer appears: a hang here is the bug.
        assertTimeoutPreemptively(Duration.ofSeconds(2),
                () -> assertBadCore(Kind.IO, fifo, "not a regular file", () -> ProcessCore.open(fifo)));
    }

    @Test
    void open_unreadable_io() throws IOException {
        assumeFalse("root".equals(System.getProperty("user.name")), "root can read any file");
        SyntheticCore c = sample();
        Files.setPosixFilePermissions(c.path(), PosixFilePermissions.fromString("-w-------"));
        assumeFalse(Files.isReadable(c.path()), "this user can read a mode 0200 file");
        assertBadCore(Kind.IO, c.path(), "permission denied", () -> ProcessCore.open(c.path()));
    }

    @Test
    void open_sampleBeforeDamage_isFine() throws IOException {
        // Guards the negative tests above: each one fails only because of its own damage.
        try (ProcessCore pc = ProcessCore.open(sample().path())) {
            assertEquals(5, pc.loads().size());
            assertEquals(Arrays.asList("CORE", "CORE", "CORE", "CORE"), pc.notes().stream().map(ElfNote::name).toList());
        }
    }
}

package io.vmdumpfs.core.elf;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * An ELF64 little-endian process core (gdb's gcore, the kernel's core dumper): its program headers, notes and host
 * memory. Parsing validates every count and size against the file length before allocating, and keeps notes inside
 * their segment, so a damaged or hostile core fails with a one-line {@link BadCoreException}.
 *
 * <p>Limits: x86_64 hosts only (ELFCLASS64, little-endian); one PT_NOTE segment's notes are held in memory, capped at
 * {@link #MAX_NOTES_BYTES}.
 */
public final class ProcessCore implements Closeable {

    /** AT_ENTRY in the auxiliary vector: the executable's entry point. */
    static final long AT_ENTRY = 9;

    /** A core with more mappings than this is not one a QEMU process produces (vm.max_map_count is 65530). */
    static final int MAX_PHDRS = 1 << 22;
    /** Notes are thread registers and file lists: tens of KB per thread; 64 MiB covers thousands of threads. */
    static final long MAX_NOTES_BYTES = 64L << 20;

    private final CoreFile file;
    private final Elf64Header header;
    private final List<Elf64Phdr> loads;
    private final List<ElfNote> notes;
    private final HostMemory memory;
    private final long describedBytes;

    private ProcessCore(CoreFile file, Elf64Header header, List<Elf64Phdr> loads, List<ElfNote> notes,
            long describedBytes) {
        this.file = file;
        this.header = header;
        this.loads = loads;
        this.notes = notes;
        this.memory = new HostMemory(file, loads);
        this.describedBytes = describedBytes;
    }

    /** Opens and validates {@code path} as a process core. */
    public static ProcessCore open(Path path) {
        CoreFile file = CoreFile.open(path);
        try {
            return parse(file);
        } catch (RuntimeException e) {
            try {
                file.close();
            } catch (IOException ignored) {
                // the parse error is the one worth reporting
            }
            throw e;
        }
    }

    /** Parses an already opened core file; the returned core owns {@code file}. */
    public static ProcessCore parse(CoreFile file) {
        Path p = file.path();
        if (file.size() == 0) {
            throw new BadCoreException(Kind.UNSUPPORTED, p, "empty file, not a core");
        }
        if (file.size() < Elf64Header.SIZE) {
            ByteBuffer head = file.read(0, (int) file.size());
            throw new BadCoreException(Elf64Header.hasMagic(head) ? Kind.CORRUPT : Kind.UNSUPPORTED, p,
                    Elf64Header.hasMagic(head) ? "truncated ELF header (" + file.size() + " bytes)" : "not an ELF file");
        }
        ByteBuffer hb = file.read(0, Elf64Header.SIZE);
        if (!Elf64Header.hasMagic(hb)) {
            throw new BadCoreException(Kind.UNSUPPORTED, p, "not an ELF file");
        }
        Elf64Header h = Elf64Header.parse(hb);
        if (h.eiClass() != Elf64Header.ELFCLASS64 || h.eiData() != Elf64Header.ELFDATA2LSB) {
            throw new BadCoreException(Kind.UNSUPPORTED, p, "not a 64-bit little-endian ELF (class " + h.eiClass()
                    + ", data " + h.eiData() + "); only x86_64 host cores are supported");
        }
        if (h.eType() != Elf64Header.ET_CORE) {
            throw new BadCoreException(Kind.UNSUPPORTED, p, "ELF file is not a core dump (e_type " + h.eType()
                    + "); expected a core of a qemu-system process, e.g. from gcore or systemd-coredump");
        }
        if (h.eMachine() != Elf64Header.EM_X86_64) {
            throw new BadCoreException(Kind.UNSUPPORTED, p, "core of a host with e_machine " + h.eMachine()
                    + "; only x86_64 hosts are supported");
        }
        long phnum = h.ePhnum();
        if (phnum == Elf64Header.PN_XNUM) {
            phnum = readXnum(file, h);
        }
        if (phnum == 0) {
            throw new BadCoreException(Kind.CORRUPT, p, "core has no program headers");
        }
        if (h.ePhentsize() != Elf64Phdr.SIZE) {
            throw new BadCoreException(Kind.CORRUPT, p, "e_phentsize is " + h.ePhentsize() + ", expected 56");
        }
        if (phnum > MAX_PHDRS) {
            throw new BadCoreException(Kind.CORRUPT, p, "absurd program header count " + phnum);
        }
        long phBytes = phnum * Elf64Phdr.SIZE;
        requireInFile(file, h.ePhoff(), phBytes, "program header table");
        ByteBuffer pb = file.read(h.ePhoff(), (int) phBytes);
        List<Elf64Phdr> loads = new ArrayList<>();
        List<Elf64Phdr> noteSegs = new ArrayList<>();
        for (int i = 0; i < phnum; i++) {
            Elf64Phdr ph = Elf64Phdr.parse(i, pb, i * Elf64Phdr.SIZE);
            if (ph.pType() == Elf64Phdr.PT_LOAD) {
                if (Long.compareUnsigned(ph.pFilesz(), ph.pMemsz()) > 0) {
                    throw new BadCoreException(Kind.CORRUPT, p, "program header " + i + ": p_filesz > p_memsz");
                }
                // Unsigned: x86_64 maps [vsyscall] above 2^63. An end of exactly 2^64 wraps to 0 and is allowed.
                long end = ph.pVaddr() + ph.pMemsz();
                if (Long.compareUnsigned(end, ph.pVaddr()) < 0 && end != 0) {
                    throw new BadCoreException(Kind.CORRUPT, p, "program header " + i + ": mapping wraps around");
                }
                loads.add(ph);
            } else if (ph.pType() == Elf64Phdr.PT_NOTE) {
                noteSegs.add(ph);
            }
        }
        List<ElfNote> notes = new ArrayList<>();
        long noteBytes = 0;
        for (Elf64Phdr ns : noteSegs) {
            // A core cut short is served for the guest RAM it holds, but not without its notes: they name the program
            // (and so the guest's architecture), its threads and its mapped files.
            requireInFile(file, ns.pOffset(), ns.pFilesz(), "note segment (program header " + ns.index() + ")",
                    " (gdb's gcore writes its notes last: a gcore cut short cannot be read)");
            noteBytes += ns.pFilesz();
            if (noteBytes > MAX_NOTES_BYTES) {
                throw new BadCoreException(Kind.CORRUPT, p, "notes larger than " + (MAX_NOTES_BYTES >> 20) + " MiB");
            }
            notes.addAll(parseNotes(file, ns));
        }
        loads.sort((a, b) -> Long.compareUnsigned(a.pVaddr(), b.pVaddr()));
        for (int i = 1; i < loads.size(); i++) {
            if (Long.compareUnsigned(loads.get(i - 1).vaddrEnd(), loads.get(i).pVaddr()) > 0) {
                throw new BadCoreException(Kind.CORRUPT, p, "program headers " + loads.get(i - 1).index() + " and "
                        + loads.get(i).index() + " overlap in the address space");
            }
        }
        requireDisjointInFile(file, h.ePhoff(), phBytes, loads, noteSegs);
        long described = h.ePhoff() + phBytes;
        for (Elf64Phdr ph : loads) {
            if (ph.pFilesz() != 0) {
                described = maxUnsigned(described, FileRange.of(ph.pOffset(), ph.pFilesz(), "").end());
            }
        }
        for (Elf64Phdr ns : noteSegs) {
            described = maxUnsigned(described, ns.pOffset() + ns.pFilesz());
        }
        return new ProcessCore(file, h, Collections.unmodifiableList(loads), Collections.unmodifiableList(notes),
                described);
    }

    private static long maxUnsigned(long a, long b) {
        return Long.compareUnsigned(a, b) >= 0 ? a : b;
    }

    /** A part of the file: [start, end), unsigned, end saturated at 2^64 - 1. */
    private record FileRange(long start, long end, String what) {
        static FileRange of(long start, long length, String what) {
            long end = start + length;
            return new FileRange(start, Long.compareUnsigned(end, start) < 0 ? -1L : end, what);
        }
    }

    /**
     * Rejects a core whose PT_LOAD data overlap each other, the ELF header, the program header table or a note
     * segment in the file. Core writers (the kernel, gdb) lay these out one after the other, so an overlap means a
     * damaged p_offset, and memory read through it would be some other part of the file served as guest RAM.
     */
    private static void requireDisjointInFile(CoreFile file, long phoff, long phBytes, List<Elf64Phdr> loads,
            List<Elf64Phdr> noteSegs) {
        List<FileRange> parts = new ArrayList<>();
        parts.add(FileRange.of(0, Elf64Header.SIZE, "the ELF header"));
        parts.add(FileRange.of(phoff, phBytes, "the program header table"));
        for (Elf64Phdr n : noteSegs) {
            if (n.pFilesz() != 0) {
                parts.add(FileRange.of(n.pOffset(), n.pFilesz(), "program header " + n.index() + " (notes)"));
            }
        }
        for (Elf64Phdr l : loads) {
            if (l.pFilesz() != 0) {
                parts.add(FileRange.of(l.pOffset(), l.pFilesz(), "program header " + l.index()));
            }
        }
        parts.sort((a, b) -> Long.compareUnsigned(a.start(), b.start()));
        for (int i = 1; i < parts.size(); i++) {
            FileRange a = parts.get(i - 1);
            FileRange b = parts.get(i);
            if (Long.compareUnsigned(a.end(), b.start()) > 0) {
                throw new BadCoreException(Kind.CORRUPT, file.path(), a.what() + " and " + b.what()
                        + " overlap in the file at offset 0x" + Long.toHexString(b.start()));
            }
        }
    }

    private static long readXnum(CoreFile file, Elf64Header h) {
        // With PN_XNUM the real count is sh_info of section header 0 (Elf64_Shdr.sh_info at +44).
        if (h.eShoff() == 0) {
            throw new BadCoreException(Kind.CORRUPT, file.path(), "e_phnum is PN_XNUM but there is no section header");
        }
        requireInFile(file, h.eShoff(), 64, "section header 0");
        return Integer.toUnsignedLong(file.read(h.eShoff(), 64).getInt(44));
    }

    static void requireInFile(CoreFile file, long offset, long length, String what) {
        requireInFile(file, offset, length, what, "");
    }

    /** As {@link #requireInFile(CoreFile, long, long, String)}, with {@code hint} after the message. */
    static void requireInFile(CoreFile file, long offset, long length, String what, String hint) {
        long end;
        try {
            end = Math.addExact(offset, length);
        } catch (ArithmeticException e) {
            end = -1;
        }
        if (offset < 0 || length < 0 || end < 0 || end > file.size()) {
            throw new BadCoreException(Kind.CORRUPT, file.path(), what + " at offset 0x" + Long.toHexString(offset)
                    + " (+0x" + Long.toHexString(length) + ") lies beyond the end of the file (0x"
                    + Long.toHexString(file.size()) + " bytes); the core is truncated" + hint);
        }
    }

    private static List<ElfNote> parseNotes(CoreFile file, Elf64Phdr seg) {
        // The host's notes, in the host's byte order (x86_64: little-endian).
        ElfNotes.Parsed parsed = ElfNotes.read(file.read(seg.pOffset(), (int) seg.pFilesz()), ByteOrder.LITTLE_ENDIAN,
                seg.pOffset());
        if (parsed.malformed()) {
            throw new BadCoreException(Kind.CORRUPT, file.path(), "note " + parsed.notes().size() + " at offset 0x"
                    + Long.toHexString(parsed.malformedAt()) + " runs past its segment");
        }
        return parsed.notes();
    }

    public CoreFile file() {
        return file;
    }

    public Path path() {
        return file.path();
    }

    public Elf64Header header() {
        return header;
    }

    /**
     * Returns how long the file should be: the end of the last data its program headers describe (segment data,
     * notes, the header table), unsigned, saturated at 2^64 - 1. A core cut short (a size limit, a full disk, an
     * interrupted copy) is shorter; {@link HostMemory#extents} says which memory that cost.
     */
    public long describedBytes() {
        return describedBytes;
    }

    /** Returns true when the file is shorter than its program headers describe ({@link #describedBytes()}). */
    public boolean isTruncated() {
        return Long.compareUnsigned(file.size(), describedBytes) < 0;
    }

    /** Returns the PT_LOAD segments sorted by host-virtual address. */
    public List<Elf64Phdr> loads() {
        return loads;
    }

    public List<ElfNote> notes() {
        return notes;
    }

    /** Returns the process's memory as it is in the core. */
    public HostMemory memory() {
        return memory;
    }

    /** Returns the first note of {@code type} owned by "CORE", if any. */
    public Optional<ElfNote> note(int type) {
        return notes.stream().filter(n -> n.type() == type && n.name().equals("CORE")).findFirst();
    }

    /** Returns the program name from NT_PRPSINFO (pr_fname, 16 bytes at +40 of the x86_64 elf_prpsinfo). */
    public Optional<String> programName() {
        return note(ElfNote.NT_PRPSINFO).filter(n -> n.desc().length >= 56).map(n -> {
            byte[] d = n.desc();
            int len = 0;
            while (len < 16 && d[40 + len] != 0) {
                len++;
            }
            return new String(d, 40, len, StandardCharsets.ISO_8859_1);
        });
    }

    /**
     * Returns the path of the executable, from NT_FILE: the mapped file that holds the entry point (AT_ENTRY). Empty
     * when the core lacks either note.
     */
    public Optional<String> executablePath() {
        OptionalLong entry = auxv(AT_ENTRY);
        if (entry.isEmpty()) {
            return Optional.empty();
        }
        for (MappedFile f : mappedFiles()) {
            if (Long.compareUnsigned(f.start(), entry.getAsLong()) <= 0
                    && Long.compareUnsigned(entry.getAsLong(), f.end()) < 0) {
                return Optional.of(f.path());
            }
        }
        return Optional.empty();
    }

    /** Returns the number of threads (NT_PRSTATUS notes). */
    public int threadCount() {
        return (int) notes.stream().filter(n -> n.type() == ElfNote.NT_PRSTATUS && n.name().equals("CORE")).count();
    }

    /** Returns the value of auxiliary vector entry {@code type} (e.g. AT_ENTRY = 9), if present. */
    public OptionalLong auxv(long type) {
        Optional<ElfNote> n = note(ElfNote.NT_AUXV);
        if (n.isEmpty()) {
            return OptionalLong.empty();
        }
        ByteBuffer d = n.get().descBuffer();
        for (int off = 0; off + 16 <= d.limit(); off += 16) {
            long t = d.getLong(off);
            if (t == 0) {
                break;
            }
            if (t == type) {
                return OptionalLong.of(d.getLong(off + 8));
            }
        }
        return OptionalLong.empty();
    }

    /** Returns the NT_FILE list of mapped files; empty when the note is missing or malformed. */
    public List<MappedFile> mappedFiles() {
        Optional<ElfNote> n = note(ElfNote.NT_FILE);
        if (n.isEmpty()) {
            return List.of();
        }
        ByteBuffer d = n.get().descBuffer();
        if (d.limit() < 16) {
            return List.of();
        }
        long count = d.getLong(0);
        if (count < 0 || count > (d.limit() - 16) / 24) {
            return List.of();
        }
        List<MappedFile> out = new ArrayList<>();
        int strPos = 16 + (int) count * 24;
        for (int i = 0; i < count; i++) {
            int e = 16 + i * 24;
            int end = strPos;
            while (end < d.limit() && d.get(end) != 0) {
                end++;
            }
            String name = new String(n.get().desc(), strPos, end - strPos, StandardCharsets.UTF_8);
            strPos = Math.min(end + 1, d.limit());
            out.add(new MappedFile(d.getLong(e), d.getLong(e + 8), d.getLong(e + 16), name));
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}

package io.vmdumpfs.hardening;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.QemuLayout;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.SyntheticCore;
import io.vmdumpfs.hardening.CoreAnatomy.Phdr;
import io.vmdumpfs.hardening.CoreAnatomy.Struct;
import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;

/**
 * The bad-input corpus: every way a core can be broken that we could think of, generated from one real QEMU core
 * ({@link CoreAnatomy} says where its structures are) plus files that are no QEMU core at all. Each {@link Case}
 * damages the shared {@link WorkCopy} in place (or names another file) and says what vmdumpfs must do with it.
 *
 * <p>Categories: truncation at every structural boundary; byte flips in the ELF header, program headers, notes, and
 * the AddressSpace/FlatView/FlatRange/MemoryRegion/RAMBlock structures discovery walks; absurd values (counts of
 * 2^31, pointers to themselves, overlapping ranges, sizes that wrap); files that are not QEMU cores (other
 * programs' cores, other ELF files, empty files, FIFOs, directories, devices, sockets, links, unreadable files);
 * and damage in guest RAM only, which must be served byte for byte.
 *
 * <p>Deterministic: flips come from a fixed seed, so a failing case has the same id on every run. {@code full} makes
 * all of it (about 830 cases); otherwise a spread sample of each category for CI (about 160).
 */
final class BadCoreCorpus {

    /** What vmdumpfs must do with a case. */
    enum Expect {
        /** A one-line error and exit 2. */
        ERROR,
        /** An error, or (harmless bytes) success with exactly the undamaged block table. */
        ERROR_OR_SAME,
        /**
         * An error, or success with a block table that may differ but only maps bytes that really are at those host
         * addresses in the core: damaged pointers and sizes can describe another valid memory map, which no
         * check without QEMU's debug symbols can tell from the real one. Counted and listed in the summary, by how
         * the table differs: ranges omitted (a FlatRange's region pointer now leads to some non-RAM region), names
         * changed, or remapped (none since discovery requires RAMBlock.host to start a mapping).
         */
        ERROR_OR_CONSISTENT,
        /** Damage in guest RAM only: the same block table, and the damaged bytes served as they are. */
        SAME,
        /**
         * Guest RAM the core no longer holds (a segment whose p_filesz shrank): served for what it holds, with exactly
         * {@link Case#held()} as the block table and the rest reported absent; an error fails the case.
         */
        PARTIAL
    }

    /** What a case hands to the command line; {@code ramPaddr}/{@code ramByte} name a flipped guest RAM byte. */
    record Target(Path core, long ramPaddr, byte ramByte) {
        static Target of(Path core) {
            return new Target(core, -1, (byte) 0);
        }
    }

    /** Makes a case's input: damages the work copy or creates another file. */
    @FunctionalInterface
    interface Setup {
        Target apply(Env env) throws Exception;
    }

    /** What setups work with. */
    record Env(WorkCopy work, Path scratch, CoreAnatomy anatomy) {
    }

    /** A case; {@code held} is the block table a {@link Expect#PARTIAL} case must be served with (else empty). */
    record Case(String id, String category, Expect expect, Setup setup, List<GuestPhysBlock> held) {
        Case(String id, String category, Expect expect, Setup setup) {
            this(id, category, expect, setup, List.of());
        }

        @Override
        public String toString() {
            return category + "/" + id;
        }
    }

    private final CoreAnatomy a;
    private final boolean full;
    private final Random random = new Random(0x5eed_c0deL);
    private final List<Case> cases = new ArrayList<>();

    private BadCoreCorpus(CoreAnatomy anatomy, boolean full) {
        this.a = anatomy;
        this.full = full;
    }

    /** Returns the cases for the core {@code anatomy} describes. */
    static List<Case> build(CoreAnatomy anatomy, boolean full) {
        BadCoreCorpus c = new BadCoreCorpus(anatomy, full);
        c.truncations();
        c.headerFlips();
        c.phdrFlips();
        c.noteFlips();
        c.structFlips();
        c.absurdValues();
        c.notACore();
        c.guestRamOnly();
        c.partialCores();
        return List.copyOf(c.cases);
    }

    // ------------------------------------------------------------------ helpers

    private void add(String category, String id, Expect expect, Setup setup) {
        cases.add(new Case(id, category, expect, setup));
    }

    private void add(String category, String id, Expect expect, List<GuestPhysBlock> held, Setup setup) {
        cases.add(new Case(id, category, expect, setup, List.copyOf(held)));
    }

    /** Keeps the cases added since {@code from} in full mode, else about {@code ciCount} of them. */
    private void keepSample(int from, int ciCount) {
        List<Case> added = new ArrayList<>(cases.subList(from, cases.size()));
        cases.subList(from, cases.size()).clear();
        cases.addAll(sample(added, ciCount));
    }

    /** Keeps every case in full mode, else about {@code ciCount} of {@code all}, evenly spread. */
    private <T> List<T> sample(List<T> all, int ciCount) {
        if (full || all.size() <= ciCount) {
            return all;
        }
        List<T> out = new ArrayList<>();
        for (int i = 0; i < ciCount; i++) {
            out.add(all.get((int) ((long) i * all.size() / ciCount)));
        }
        return out;
    }

    private static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }

    private int mask() {
        return 1 + random.nextInt(255);
    }

    private void flip(String category, String what, long offset, Expect expect) {
        int m = mask();
        add(category, what + "@" + hex(offset) + "^" + Integer.toHexString(m), expect, env -> {
            env.work().flip(offset, m);
            return Target.of(env.work().path());
        });
    }

    private void put(String category, String id, Expect expect, long offset, int width, long value) {
        add(category, id, expect, env -> {
            env.work().putLe(offset, width, value);
            return Target.of(env.work().path());
        });
    }

    // ------------------------------------------------------------------ truncation

    private void truncations() {
        Set<Long> points = new LinkedHashSet<>();
        for (long p : new long[] {1, 4, 16, 52, 63, 64, 65, 64 + 55, 64 + 56, 64 + 2 * 56}) {
            points.add(p);
        }
        int phnum = a.phdrs().size();
        for (int k : new int[] {10, 50, 100, phnum / 2, phnum - 1}) {
            points.add(a.phoff() + 56L * k);
            points.add(a.phoff() + 56L * k + 31);
        }
        points.add(a.phoff() + 56L * phnum - 1);
        points.add(a.phoff() + 56L * phnum);
        for (Struct s : a.structs()) {
            points.add(s.fileOffset());
            points.add(s.fileOffset() + 8);
            points.add(s.fileOffset() + s.length() - 1);
            Phdr seg = a.loadHolding(s.fileOffset());
            points.add(seg.offset());
            points.add(seg.fileEnd() - 1);
        }
        for (GuestPhysBlock b : a.blocks()) {
            points.add(b.fileOffset());
            points.add(b.fileOffset() + 1);
            points.add(b.fileOffset() + 4096);
            points.add(b.fileOffset() + b.size() / 2);
            points.add(b.fileOffset() + b.size() - 1);
            points.add(b.fileOffset() + b.size());
        }
        Phdr notes = a.noteSeg();
        points.add(notes.offset());
        points.add(notes.offset() + 1);
        for (ElfNote n : a.notes()) {
            points.add(n.fileOffset() + 6);
            points.add(n.fileOffset() + 12 + 3);
        }
        points.add(notes.fileEnd() - 1);
        points.add(a.size() - 1);
        // gdb ends the file with a section header table no program header describes: cutting only that is harmless.
        long described = a.phdrs().stream().filter(p -> p.filesz() > 0 && (p.type() == Phdr.PT_LOAD
                || p.type() == Phdr.PT_NOTE)).mapToLong(Phdr::fileEnd).max().orElse(a.size());
        points.add(described - 1);
        points.add(described);
        List<Long> sorted = points.stream().filter(p -> p > 0 && p < a.size()).sorted().toList();
        // Still errors now that partial cores are served: gdb's gcore (this corpus's core) writes its notes after all
        // memory, so every cut before `described` takes the notes (the program's name, hence the guest's
        // architecture, its threads and mapped files) with it. Kernel-written cores, notes first, are served cut
        // short (PartialCoreMountIT, DiscoveryIT); here a shrunk p_filesz makes the partial cases (partialCores).
        for (long p : sample(sorted, 24)) {
            add("truncation", "cut@" + hex(p), p < described ? Expect.ERROR : Expect.ERROR_OR_SAME,
                    env -> Target.of(env.work().truncated(p)));
        }
    }

    // ------------------------------------------------------------------ partial cores

    /**
     * Guest RAM's segment holding less than it maps, as the kernel's core dumper writes a mapping without data: the
     * core must be served for the rest, its table exactly the undamaged one without the pages the segment no longer
     * holds (a page partly held goes as a whole), never an error. Always run, not sampled: few and cheap.
     */
    private void partialCores() {
        Phdr ram = a.loadHolding(a.blocks().get(0).fileOffset());
        for (long filesz : new long[] {ram.memsz() / 2, ram.memsz() / 2 + 1234, 4096, 0}) {
            List<GuestPhysBlock> held = heldWith(ram, filesz);
            if (held.isEmpty()) {
                continue;   // nothing left: an error, as for dump-guest-core=off
            }
            add("partial", "RAM p_filesz=" + hex(filesz) + " of " + hex(ram.memsz()), Expect.PARTIAL, held,
                    env -> {
                        env.work().putLe(ram.at() + 32, 8, filesz);
                        return Target.of(env.work().path());
                    });
        }
    }

    /** Returns the undamaged blocks as they are when {@code seg} holds only its first {@code filesz} bytes. */
    private List<GuestPhysBlock> heldWith(Phdr seg, long filesz) {
        List<GuestPhysBlock> out = new ArrayList<>();
        for (GuestPhysBlock b : a.blocks()) {
            boolean inSeg = Long.compareUnsigned(b.hostVaddr() - seg.vaddr(), seg.memsz()) < 0;
            long keep = inSeg ? Math.max(0, Math.min(b.size(), seg.vaddr() + filesz - b.hostVaddr())) : b.size();
            long end = keep == b.size() ? b.guestPaddrEnd() : (b.guestPaddrStart() + keep) & ~4095L;
            if (Long.compareUnsigned(end, b.guestPaddrStart()) > 0) {
                out.add(new GuestPhysBlock(b.guestPaddrStart(), end, b.hostVaddr(), b.fileOffset(), b.name()));
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ byte flips

    private void headerFlips() {
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            all.add(i);
        }
        for (int i : sample(all, 12)) {
            flip("elf-header", "byte " + i, i, Expect.ERROR_OR_SAME);
        }
    }

    private void phdrFlips() {
        List<Long> all = new ArrayList<>();
        long table = a.phoff();
        int bytes = a.phdrs().size() * 56;
        for (int i = 0; i < 80; i++) {
            all.add(table + random.nextInt(bytes));
        }
        // Every field of the program headers that matter most: guest RAM's, and the heap structures'.
        Set<Phdr> key = new LinkedHashSet<>();
        key.add(a.loadHolding(a.blocks().get(0).fileOffset()));
        key.add(a.loadHolding(a.struct("AddressSpace").fileOffset()));
        key.add(a.loadHolding(a.struct("FlatView").fileOffset()));
        for (Phdr p : key) {
            for (int field : new int[] {0, 4, 8, 16, 32, 40}) {
                all.add(p.at() + field + random.nextInt(field >= 8 ? 6 : 4));
            }
        }
        for (long off : sample(all, 14)) {
            int index = (int) ((off - table) / 56);
            flip("program-headers", "phdr " + index + " +" + (off - table) % 56, off, Expect.ERROR_OR_CONSISTENT);
        }
    }

    private void noteFlips() {
        List<Long> all = new ArrayList<>();
        Phdr n = a.noteSeg();
        for (ElfNote note : a.notes()) {
            all.add(note.fileOffset() + random.nextInt(12));          // its header: namesz, descsz, type
        }
        for (int i = 0; i < 40; i++) {
            all.add(n.offset() + (long) (random.nextDouble() * n.filesz()));
        }
        for (long off : sample(all, 8)) {
            flip("notes", "note byte", off, Expect.ERROR_OR_SAME);
        }
    }

    private void structFlips() {
        // Every byte of the AddressSpace, its name and the FlatView header; random bytes of the rest.
        for (String name : List.of("AddressSpace", "AddressSpace.name", "FlatView")) {
            Struct s = a.struct(name);
            List<Integer> all = new ArrayList<>();
            for (int i = 0; i < s.length(); i++) {
                all.add(i);
            }
            Expect e = name.equals("FlatView") ? Expect.ERROR_OR_CONSISTENT : Expect.ERROR_OR_SAME;
            for (int i : sample(all, name.equals("AddressSpace.name") ? 2 : 6)) {
                flip("struct-flip", name + " +" + i, s.at(i), e);
            }
        }
        for (String prefix : List.of("FlatRange", "MemoryRegion", "RAMBlock")) {
            List<Struct> ss = a.structs(prefix);
            List<Long> all = new ArrayList<>();
            for (int i = 0; i < 60; i++) {
                Struct s = ss.get(random.nextInt(ss.size()));
                all.add(s.at(random.nextInt(s.length())));
            }
            for (long off : sample(all, 6)) {
                flip("struct-flip", prefix + " byte", off, Expect.ERROR_OR_CONSISTENT);
            }
        }
    }

    // ------------------------------------------------------------------ absurd values

    private void absurdValues() {
        QemuLayout l = a.layout();
        Struct as = a.struct("AddressSpace");
        Struct fv = a.struct("FlatView");
        Struct fr0 = a.struct("FlatRange 0");
        List<Struct> frs = a.structs("FlatRange");
        Struct frLast = frs.get(frs.size() - 1);
        Struct mrRam = a.structs("MemoryRegion").stream().filter(s -> s.name().endsWith("(RAM)")).findFirst().orElseThrow();
        List<Struct> rbs = a.structs("RAMBlock");
        Struct rb = rbs.get(0);
        Struct rbOther = rbs.get(rbs.size() - 1);
        Expect c = Expect.ERROR_OR_CONSISTENT;
        String k = "absurd";
        int from = cases.size();
        long fvNr = fv.at(l.flatView().nr());
        for (long nr : new long[] {0, 1L << 31, 0xffffffffL, 1L << 20, (1L << 20) + 1, frs.size() + 1L, 0x7fffffffL}) {
            put(k, "FlatView.nr=" + hex(nr), c, fvNr, 4, nr);
        }
        long fvRanges = fv.at(l.flatView().ranges());
        put(k, "FlatView.ranges=itself", c, fvRanges, 8, fv.hostVaddr());
        put(k, "FlatView.ranges=&ranges", c, fvRanges, 8, fv.hostVaddr() + l.flatView().ranges());
        put(k, "FlatView.ranges=AddressSpace", c, fvRanges, 8, as.hostVaddr());
        put(k, "FlatView.ranges=0", c, fvRanges, 8, 0);
        put(k, "FlatView.ranges=-8", c, fvRanges, 8, -8);
        put(k, "FlatView.ranges+8 (misaligned by a field)", c, fvRanges, 8, fr0.hostVaddr() + 8);
        put(k, "FlatView.ranges+64 (skips one)", c, fvRanges, 8, fr0.hostVaddr() + 64);
        put(k, "FlatView.root=0", c, fv.at(l.flatView().root()), 8, 0);
        put(k, "AddressSpace.current_map=itself", c, as.at(l.addressSpace().currentMap()), 8, as.hostVaddr());
        put(k, "AddressSpace.current_map=0", c, as.at(l.addressSpace().currentMap()), 8, 0);
        put(k, "AddressSpace.current_map=unmapped", c, as.at(l.addressSpace().currentMap()), 8, 0x10_0000_0000L);
        put(k, "AddressSpace.name=itself", c, as.at(l.addressSpace().name()), 8, as.hostVaddr());
        put(k, "AddressSpace.root=FlatView", c, as.at(l.addressSpace().root()), 8, fv.hostVaddr());
        put(k, "FlatRange0.mr=itself", c, fr0.at(0), 8, fr0.hostVaddr());
        put(k, "FlatRange0.mr=FlatView", c, fr0.at(0), 8, fv.hostVaddr());
        put(k, "FlatRange0.mr=0", c, fr0.at(0), 8, 0);
        put(k, "FlatRange1.start=FlatRange0.start (overlap)", c, frs.get(1).at(l.flatRange().start()), 8, 0);
        put(k, "FlatRangeLast.start=0 (unsorted)", c, frLast.at(l.flatRange().start()), 8, 0);
        put(k, "FlatRangeLast.size=2^63", c, frLast.at(l.flatRange().size()), 8, Long.MIN_VALUE);
        put(k, "FlatRangeLast.size.hi=1", c, frLast.at(l.flatRange().size() + 8), 8, 1);
        put(k, "FlatRangeLast.start.hi=1", c, frLast.at(l.flatRange().start() + 8), 8, 1);
        put(k, "FlatRange0.start=-4096", c, fr0.at(l.flatRange().start()), 8, -4096);
        put(k, "FlatRange0.offset_in_region=2^63", c, fr0.at(l.flatRange().offsetInRegion()), 8, Long.MIN_VALUE);
        put(k, "FlatRange0.offset_in_region=-4096", c, fr0.at(l.flatRange().offsetInRegion()), 8, -4096);
        put(k, "MemoryRegion.ram_block=itself", c, mrRam.at(l.memoryRegion().ramBlock()), 8, mrRam.hostVaddr());
        put(k, "MemoryRegion.ram_block=other RAMBlock", c, mrRam.at(l.memoryRegion().ramBlock()), 8, rbOther.hostVaddr());
        put(k, "MemoryRegion.ram_block=0", c, mrRam.at(l.memoryRegion().ramBlock()), 8, 0);
        put(k, "MemoryRegion.ram=2", c, mrRam.at(l.memoryRegion().ram()), 1, 2);
        put(k, "RAMBlock.mr=other MemoryRegion", c, rb.at(l.ramBlock().mr()), 8, a.struct("FlatView").hostVaddr());
        put(k, "RAMBlock.host=0", c, rb.at(l.ramBlock().host()), 8, 0);
        put(k, "RAMBlock.host=-4096", c, rb.at(l.ramBlock().host()), 8, -4096);
        put(k, "RAMBlock.host=itself", c, rb.at(l.ramBlock().host()), 8, rb.hostVaddr() & ~4095L);
        put(k, "RAMBlock.host+1 (unaligned)", c, rb.at(l.ramBlock().host()), 8, a.blocks().get(0).hostVaddr() + 1);
        put(k, "RAMBlock.host+4096 (shifted by a page)", c, rb.at(l.ramBlock().host()), 8, a.blocks().get(0).hostVaddr() + 4096);
        put(k, "RAMBlock.used_length=0", c, rb.at(l.ramBlock().usedLength()), 8, 0);
        put(k, "RAMBlock.used_length=2^63", c, rb.at(l.ramBlock().usedLength()), 8, Long.MIN_VALUE);
        put(k, "RAMBlock.used_length=4096", c, rb.at(l.ramBlock().usedLength()), 8, 4096);
        put(k, "RAMBlock.max_length=0", c, rb.at(l.ramBlock().maxLength()), 8, 0);
        put(k, "RAMBlock.idstr=unterminated", c, rb.at(l.ramBlock().idstr()), 8, 0x4141414141414141L);
        // The ELF side.
        put(k, "e_phnum=0", Expect.ERROR, 56, 2, 0);
        put(k, "e_phnum=PN_XNUM, no section header", Expect.ERROR, 56, 2, 0xffff);
        put(k, "e_phnum=65534", Expect.ERROR, 56, 2, 65534);
        put(k, "e_phoff=2^63", Expect.ERROR, 32, 8, Long.MIN_VALUE);
        put(k, "e_phoff=size-10", Expect.ERROR, 32, 8, a.size() - 10);
        put(k, "e_phoff=-1", Expect.ERROR, 32, 8, -1);
        put(k, "e_phentsize=0", Expect.ERROR, 54, 2, 0);
        put(k, "e_phentsize=0xffff", Expect.ERROR, 54, 2, 0xffff);
        Phdr ram = a.loadHolding(a.blocks().get(0).fileOffset());
        put(k, "RAM p_filesz=2^63", Expect.ERROR, ram.at() + 32, 8, Long.MIN_VALUE);
        put(k, "RAM p_filesz=p_memsz+4096", Expect.ERROR, ram.at() + 32, 8, ram.memsz() + 4096);
        put(k, "RAM p_memsz=2^64-1 (wraps)", Expect.ERROR, ram.at() + 40, 8, -1);
        put(k, "RAM p_offset=2^63", c, ram.at() + 8, 8, Long.MIN_VALUE);
        put(k, "RAM p_offset=size", c, ram.at() + 8, 8, a.size());
        put(k, "RAM p_offset=0 (overlaps the header)", c, ram.at() + 8, 8, 0);
        put(k, "RAM p_offset+4096 (into the next segment)", c, ram.at() + 8, 8, ram.offset() + 4096);
        put(k, "RAM p_vaddr=previous segment's (overlap)", Expect.ERROR, ram.at() + 16, 8,
                a.phdrs().get(ram.index() - 1).vaddr());
        put(k, "RAM p_type=PT_NULL", c, ram.at(), 4, 0);
        put(k, "RAM p_flags=0 (not writable)", c, ram.at() + 4, 4, 0);
        Phdr n = a.noteSeg();
        put(k, "PT_NOTE p_filesz=2^40", Expect.ERROR, n.at() + 32, 8, 1L << 40);
        put(k, "PT_NOTE p_filesz=64MiB+1", Expect.ERROR, n.at() + 32, 8, (64L << 20) + 1);
        put(k, "PT_NOTE p_offset=2^63", Expect.ERROR, n.at() + 8, 8, Long.MIN_VALUE);
        ElfNote first = a.notes().get(0);
        put(k, "note0 namesz=0xffffffff", Expect.ERROR, first.fileOffset(), 4, 0xffffffffL);
        put(k, "note0 descsz=0xfffffff0", Expect.ERROR, first.fileOffset() + 4, 4, 0xfffffff0L);
        put(k, "note0 descsz=0", c, first.fileOffset() + 4, 4, 0);
        for (ElfNote note : a.notes()) {
            if (note.type() == ElfNote.NT_FILE) {
                long desc = note.fileOffset() + 12 + ((note.name().length() + 1 + 3) & ~3);
                put(k, "NT_FILE count=2^62", c, desc, 8, 1L << 62);
                put(k, "NT_FILE count=-1", c, desc, 8, -1);
                put(k, "NT_FILE first start=-1", c, desc + 16, 8, -1);
            }
            if (note.type() == ElfNote.NT_PRPSINFO) {
                // A hostile program name that reaches the message once discovery fails (no "memory" name).
                long fname = note.fileOffset() + 12 + ((note.name().length() + 1 + 3) & ~3) + 40;
                add(k, "pr_fname with a newline and a terminal escape, no AddressSpace", Expect.ERROR, env -> {
                    env.work().put(fname, "ev\nl\u001b[2J\u0007\0".getBytes(StandardCharsets.ISO_8859_1));
                    env.work().putLe(a.struct("AddressSpace.name").fileOffset(), 8, 0x4141414141414141L);
                    return Target.of(env.work().path());
                });
            }
            if (note.type() == ElfNote.NT_AUXV) {
                long desc = note.fileOffset() + 12 + ((note.name().length() + 1 + 3) & ~3);
                put(k, "NT_AUXV type0=AT_ENTRY value=0", c, desc, 8, 9);
            }
        }
        keepSample(from, 26);
    }

    // ------------------------------------------------------------------ files that are not QEMU cores

    private Setup file(String name, byte[] bytes) {
        return env -> {
            Path p = env.scratch().resolve(name);
            Files.write(p, bytes);
            return Target.of(p);
        };
    }

    private Setup headerOf(String name, int length, int patchAt, byte[] patch) {
        return env -> {
            Path p = env.scratch().resolve(name);
            byte[] head = env.work().read(0, length);
            if (patch != null) {
                System.arraycopy(patch, 0, head, patchAt, patch.length);
            }
            Files.write(p, head);
            return Target.of(p);
        };
    }

    private void notACore() {
        String k = "not-a-core";
        Expect e = Expect.ERROR;
        add(k, "empty file", e, file("empty", new byte[0]));
        add(k, "one byte", e, file("one", new byte[] {0x7f}));
        add(k, "ELF magic only", e, file("magic", new byte[] {0x7f, 'E', 'L', 'F'}));
        add(k, "63-byte ELF header", e, headerOf("h63", 63, 0, null));
        add(k, "ELF header, no program headers", e, headerOf("h64", 64, 0, null));
        add(k, "ELF header and 3 program headers", e, headerOf("h232", 64 + 3 * 56, 0, null));
        add(k, "32-bit ELF", e, headerOf("elf32", 4096, 4, new byte[] {1}));
        add(k, "big-endian ELF", e, headerOf("elfbe", 4096, 5, new byte[] {2}));
        add(k, "ELF executable, not a core", e, headerOf("exec", 4096, 16, new byte[] {2, 0}));
        add(k, "core of an aarch64 host", e, headerOf("arm", 4096, 18, new byte[] {(byte) 183, 0}));
        add(k, "text file", e, file("text", "hello\nthis is not a core\n".getBytes(StandardCharsets.UTF_8)));
        add(k, "gzip file", e, env -> {
            Path p = env.scratch().resolve("core.gz");
            try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(p))) {
                out.write(env.work().read(0, 1 << 16));
            }
            return Target.of(p);
        });
        add(k, "a jar (zip)", e, env -> Target.of(Cli.jar()));
        add(k, "/bin/sh (ELF, not a core)", e, env -> Target.of(Path.of("/bin/sh").toRealPath()));
        add(k, "/etc/passwd", e, env -> Target.of(Path.of("/etc/passwd")));
        add(k, "/dev/null (character device)", e, env -> Target.of(Path.of("/dev/null")));
        add(k, "/dev/zero (endless device)", e, env -> Target.of(Path.of("/dev/zero")));
        add(k, "/proc/self/status (size 0)", e, env -> Target.of(Path.of("/proc/self/status")));
        add(k, "a directory", e, env -> Target.of(Files.createDirectories(env.scratch().resolve("dir.core"))));
        add(k, "a FIFO with no writer", e, env -> {
            Path p = env.scratch().resolve("fifo.core");
            Files.deleteIfExists(p);
            Process mk = new ProcessBuilder("mkfifo", p.toString()).start();
            mk.waitFor(10, TimeUnit.SECONDS);
            return Target.of(p);
        });
        add(k, "a unix socket", e, env -> {
            Path p = env.scratch().resolve("sock.core");
            Files.deleteIfExists(p);
            ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            s.bind(UnixDomainSocketAddress.of(p));
            return Target.of(p);   // the socket stays bound until the JVM exits: only its path matters
        });
        add(k, "a symlink loop", e, env -> {
            Path p = env.scratch().resolve("loop.core");
            Files.deleteIfExists(p);
            Files.createSymbolicLink(p, p.getFileName());
            return Target.of(p);
        });
        add(k, "a dangling symlink", e, env -> {
            Path p = env.scratch().resolve("dangling.core");
            Files.deleteIfExists(p);
            Files.createSymbolicLink(p, env.scratch().resolve("nowhere"));
            return Target.of(p);
        });
        add(k, "no such file", e, env -> Target.of(env.scratch().resolve("missing.core")));
        add(k, "a name with a newline", e, file("new\nline.core", new byte[0]));
        add(k, "mode 000 (root still reads it)", e, env -> {
            Path p = env.scratch().resolve("unreadable.core");
            Files.write(p, "secret, not a core\n".getBytes(StandardCharsets.UTF_8));
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("---------"));
            return Target.of(p);
        });
        add(k, "a 64 GiB sparse file of zeros", e, env -> {
            Path p = env.scratch().resolve("sparse.core");
            try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
                f.setLength(64L << 30);
            }
            return Target.of(p);
        });
        add(k, "the real core's first 16 MiB, then holes to full size", Expect.ERROR, env -> {
            Path p = env.scratch().resolve("holes.core");
            Files.deleteIfExists(p);
            WorkCopy.copyRange(env.work().path(), 0, p, 0, 16L << 20);
            try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
                f.setLength(env.work().size());
            }
            return Target.of(p);
        });
        add(k, "core of a process that is not QEMU (synthetic bash)", e, env -> Target.of(
                SyntheticCore.process("bash").write(env.scratch().resolve("bash.core")).path()));
        add(k, "QEMU core with its RAM absent (synthetic)", e, env -> Target.of(SyntheticCore.qemu()
                .ram("pc.ram", 0, SyntheticCore.MiB).absent("pc.ram").write(env.scratch().resolve("absent.core")).path()));
        add(k, "gcore of sleep(1)", e, env -> Target.of(gcoreOfSleep(env.scratch())));
        add(k, "QEMU's own dump-guest-memory ELF", e, env -> Target.of(QemuFixture.pc256().qemuDumpElf()));
        add(k, "QEMU's own kdump-zlib", e, env -> Target.of(QemuFixture.pc256().dir().resolve("qemu-dump.kdump-zlib")));
        add(k, "QEMU core with dump-guest-core=off", e, env -> Target.of(QemuFixture.pc256NoGuestCore().core()));
    }

    /** Returns a gdb core of a sleeping process (made once per scratch directory). */
    private static Path gcoreOfSleep(Path scratch) throws IOException, InterruptedException {
        Path core = scratch.resolve("sleep.core");
        if (Files.isRegularFile(core)) {
            return core;
        }
        QemuFixture.requireCommand("gdb", "apt-get install gdb");
        Process sleep = new ProcessBuilder("sleep", "600").start();
        try {
            Process g = new ProcessBuilder("gdb", "--nx", "--batch", "-iex", "set debuginfod enabled off",
                    "-ex", "attach " + sleep.pid(), "-ex", "gcore " + core, "-ex", "detach", "-ex", "quit")
                    .redirectErrorStream(true).redirectOutput(scratch.resolve("gcore.log").toFile()).start();
            if (!g.waitFor(120, TimeUnit.SECONDS) || !Files.isRegularFile(core)) {
                g.destroyForcibly();
                throw new IOException("gcore of sleep failed: " + Files.readString(scratch.resolve("gcore.log")));
            }
        } finally {
            sleep.destroyForcibly();
        }
        return core;
    }

    // ------------------------------------------------------------------ guest RAM only

    private void guestRamOnly() {
        List<long[]> flips = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            GuestPhysBlock b = a.blocks().get(random.nextInt(a.blocks().size()));
            long paddr = b.guestPaddrStart() + (long) (random.nextDouble() * b.size());
            flips.add(new long[] {paddr, mask()});
        }
        if (a.vmcoreinfoPaddr() >= 0) {
            for (int i = 0; i < 10; i++) {
                flips.add(new long[] {a.vmcoreinfoPaddr() + random.nextInt(24 + 64), mask()});
            }
        }
        for (long[] f : sample(flips, 6)) {
            long paddr = f[0];
            int m = (int) f[1];
            add("guest-ram", "paddr " + hex(paddr) + "^" + Integer.toHexString(m), Expect.SAME, env -> {
                long off = env.anatomy().fileOffsetOfPaddr(paddr);
                byte b = env.work().flip(off, m);
                return new Target(env.work().path(), paddr, b);
            });
        }
    }
}

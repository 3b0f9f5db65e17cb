package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.QemuLayout;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.function.Executable;

/**
 * A small ELF64 x86_64 process core (ET_CORE) written from a few lines of spec, and where each structure in it landed
 * so that tests can damage single fields afterwards.
 *
 * <pre>
 * SyntheticCore core = SyntheticCore.qemu()
 *         .ram("pc.ram", 0, 2 * MiB)
 *         .ram("pc.bios", 0xfffc0000L, 256 * KiB, Flag.ROM)
 *         .vmcoreinfo(true)
 *         .write(dir.resolve("core"));
 * core.putU64(core.ramBlock("pc.ram").at(L.ramBlock().mr()), 0);   // break the back-pointer
 * </pre>
 *
 * <p>Three starting points: {@link #elf()} is an empty core (only the segments and notes you add),
 * {@link #process(String)} adds what the kernel writes for any process (executable text and data, heap, stack,
 * NT_PRSTATUS, NT_PRPSINFO, NT_AUXV with AT_ENTRY, NT_FILE), and {@link #qemu()} adds QEMU's memory map laid out
 * with {@link QemuLayout#QEMU_6_2_TO_10}: the AddressSpace "memory" in the executable's data segment (next to a
 * decoy "I/O" one), its FlatView, FlatRanges, MemoryRegions and RAMBlocks in the heap, and one PT_LOAD per RAMBlock
 * filled with {@link #ramWord}.
 *
 * <p>File layout: ELF header, program headers (PT_NOTE first, then PT_LOADs in the order added; the process
 * segments ascending), section header 0 when {@link Builder#extendedNumbering()}, notes, then each PT_LOAD's present
 * bytes at the next page boundary. Segments added one after the other are therefore file-contiguous when their
 * present sizes are page multiples.
 *
 * <p>Limits: segments start 8-aligned; content is the pattern plus the bytes poked into it, written in 1 MiB chunks,
 * so a 64 MiB guest costs 64 MiB of disk but little heap. Not thread-safe; a written core is a plain file.
 */
public final class SyntheticCore {

    public static final long KiB = 1024;
    public static final long MiB = 1024 * KiB;
    public static final long GiB = 1024 * MiB;
    /** The layout the QEMU structures are written with. */
    public static final QemuLayout L = QemuLayout.QEMU_6_2_TO_10;
    /** QEMU 7.2's sizeof(CPUState), sizeof(X86CPU) and offsets in them, as on the fixtures' cores. */
    public static final int CPU_STATE_SIZE = 824;
    public static final int X86CPU_SIZE = 20480;
    public static final int CPU_ASES = 512;
    public static final int CPU_LIST_LINK = 584;
    public static final int ENV_IN_X86CPU = 5040;
    /** QEMU 7.2's sizeof(ARMCPU) (qemu-system-aarch64) and the offset of its register file, as on the fixture's core. */
    public static final int ARMCPU_SIZE = 87232;
    public static final int ENV_IN_ARMCPU = 7888;
    /** Where STAR lies in the register file (7.2: +11312); KERNEL_GS_BASE is 40 bytes after it. */
    public static final int STAR_IN_ENV = 11312;

    /** Elf64_Ehdr field offsets, for damaging a written header. */
    public static final int EI_CLASS = 4;
    public static final int EI_DATA = 5;
    public static final int E_TYPE = 16;
    public static final int E_MACHINE = 18;
    public static final int E_PHOFF = 32;
    public static final int E_SHOFF = 40;
    public static final int E_PHENTSIZE = 54;
    public static final int E_PHNUM = 56;
    /** Elf64_Phdr field offsets. */
    public static final int P_OFFSET = 8;
    public static final int P_VADDR = 16;
    public static final int P_FILESZ = 32;
    public static final int P_MEMSZ = 40;
    /** Elf64_Nhdr.n_descsz. */
    public static final int N_DESCSZ = 4;
    /** Elf64_Shdr.sh_info, where PN_XNUM cores keep the real program header count. */
    public static final int SH_INFO = 44;

    public static final int PF_X = 1;
    public static final int PF_W = 2;
    public static final int PF_R = 4;
    public static final int RW = PF_R | PF_W;
    public static final int RX = PF_R | PF_X;

    /** Where {@link #process} maps things: a PIE executable, its heap, QEMU's RAM and the stack, as on x86_64. */
    public static final long EXE_TEXT = 0x555555554000L;
    public static final long EXE_TEXT_SIZE = 0x10000;
    public static final long EXE_DATA = EXE_TEXT + EXE_TEXT_SIZE;
    public static final long EXE_DATA_SIZE = 0x10000;
    public static final long HEAP = 0x555556000000L;
    public static final long HEAP_SIZE = MiB;
    /** RAMBlock k is mapped at RAM_BASE + k * RAM_STRIDE unless {@link Builder#hostAt} says otherwise. */
    public static final long RAM_BASE = 0x7f0000000000L;
    public static final long RAM_STRIDE = 4 * GiB;
    public static final long STACK = 0x7ffffffde000L;
    public static final long STACK_SIZE = 0x21000;
    /** AT_ENTRY: inside the executable's text, which is how RamDiscovery tells the executable in NT_FILE. */
    public static final long ENTRY = EXE_TEXT + 0x6040;
    public static final String QEMU_EXE = "/usr/bin/qemu-system-x86_64";
    /** pr_fname holds the 15-character comm, so "qemu-system-x86_64" appears cut like this. */
    public static final String QEMU_COMM = "qemu-system-x86";

    /** The VMCOREINFO text of the synthetic guest kernel. */
    public static final String VMCOREINFO_TEXT = "OSRELEASE=6.1.0-test\n"
            + "PAGESIZE=4096\n"
            + "SYMBOL(init_uts_ns)=ffffffff82c1a4e0\n"
            + "SYMBOL(swapper_pg_dir)=ffffffff82c0a000\n"
            + "KERNELOFFSET=1a000000\n"
            + "NUMBER(phys_base)=-201326592\n"
            + "CRASHTIME=1700000000\n";
    /** FWCfgVMCoreInfo.size as the guest driver writes it: the note's reserved size, a page plus headers. */
    public static final int VMCOREINFO_NOTE_SIZE = 4096 + 36;

    static final int NT_PRSTATUS = 1;
    static final int NT_PRPSINFO = 3;
    static final int NT_AUXV = 6;
    static final int NT_FILE = 0x46494c45;
    static final long PAGE = 4096;
    private static final int CHUNK = (int) MiB;

    /** What a region is, beyond plain RAM (QEMU's MemoryRegion flags). */
    public enum Flag {
        /** readonly: a ROM. Still RAM, still dumped. */
        ROM,
        /** nonvolatile (NVDIMM): RAM, but QEMU's dump leaves it out. */
        NONVOLATILE,
        /** ram_device (a VFIO BAR): RAM, but QEMU's dump leaves it out. */
        RAM_DEVICE
    }

    /** Where a structure landed: its host-virtual address in the dumped process and its offset in the core file. */
    public record Spot(long hostVaddr, long fileOffset) {

        /** Returns the file offset of the field at {@code fieldOffset} bytes into the structure. */
        public long at(int fieldOffset) {
            return fileOffset + fieldOffset;
        }

        /** Returns the host-virtual address of the field at {@code fieldOffset}. */
        public long vaddr(int fieldOffset) {
            return hostVaddr + fieldOffset;
        }
    }

    /** One PT_LOAD as written. */
    public record Segment(long hostVaddr, long memsz, long filesz, int flags, long fileOffset) {
    }

    private final Path path;
    private final List<Segment> segments;
    private final Map<String, Spot> spots;
    private final int phnum;
    private final long notesOffset;
    private final long vmcoreinfoPaddr;

    private SyntheticCore(Path path, List<Segment> segments, Map<String, Spot> spots, int phnum, long notesOffset,
            long vmcoreinfoPaddr) {
        this.path = path;
        this.segments = List.copyOf(segments);
        this.spots = spots;
        this.phnum = phnum;
        this.notesOffset = notesOffset;
        this.vmcoreinfoPaddr = vmcoreinfoPaddr;
    }

    /** Returns an empty core: an ELF header and only the segments and notes added. */
    public static Builder elf() {
        return new Builder(Mode.ELF, null);
    }

    /** Returns a core of a process called {@code comm} (NT_PRPSINFO) with the usual mappings and notes. */
    public static Builder process(String comm) {
        return new Builder(Mode.PROCESS, comm);
    }

    /** Returns a core of qemu-system-x86_64; add guest RAM with {@link Builder#ram}. */
    public static Builder qemu() {
        return new Builder(Mode.QEMU, QEMU_COMM);
    }

    // ---------------------------------------------------------------- the written core

    public Path path() {
        return path;
    }

    /** Returns the PT_LOADs in file order. */
    public List<Segment> segments() {
        return segments;
    }

    /** Returns the number of program headers (the PT_NOTE is number 0). */
    public int phnum() {
        return phnum;
    }

    /** Returns the file offset of program header {@code index}; 0 is the PT_NOTE, then the PT_LOADs in file order. */
    public long phdr(int index) {
        return 64L + index * 56L;
    }

    /** Returns the file offset of the first note header. */
    public long notesOffset() {
        return notesOffset;
    }

    /** Returns the file offset of host address {@code hostVaddr}, which must be in a present part of a segment. */
    public long fileOffsetOf(long hostVaddr) {
        for (Segment s : segments) {
            if (Long.compareUnsigned(hostVaddr, s.hostVaddr()) >= 0
                    && Long.compareUnsigned(hostVaddr - s.hostVaddr(), s.filesz()) < 0) {
                return s.fileOffset() + (hostVaddr - s.hostVaddr());
            }
        }
        throw new IllegalArgumentException("host 0x" + Long.toHexString(hostVaddr) + " is not present in " + path);
    }

    /** Returns address_space_memory (in the executable's data segment). */
    public Spot addressSpace() {
        return spot("as");
    }

    /** Returns the "memory\0" string the AddressSpace's name points at. */
    public Spot addressSpaceName() {
        return spot("as.name");
    }

    /** Returns the AddressSpace's current FlatView. */
    public Spot flatView() {
        return spot("fv");
    }

    /** Returns FlatRange {@code index} of the FlatView, in guest-physical order. */
    public Spot flatRange(int index) {
        return spot("fr" + index);
    }

    /** Returns the MemoryRegion of region {@code name}. */
    public Spot memoryRegion(String name) {
        return spot("mr:" + name);
    }

    /** Returns the RAMBlock of region {@code name}. */
    public Spot ramBlock(String name) {
        return spot("rb:" + name);
    }

    /** Returns the start of region {@code name}'s RAM (RAMBlock.host) and its file offset (if present). */
    public Spot ram(String name) {
        return spot("ram:" + name);
    }

    /** Returns vCPU {@code index}'s CPUState (the start of its X86CPU or ARMCPU object). */
    public Spot cpuState(int index) {
        return spot("cs" + index);
    }

    /** Returns vCPU {@code index}'s register file (CPUX86State or CPUARMState). */
    public Spot cpuEnv(int index) {
        return spot("env" + index);
    }

    /** Returns vCPU {@code index}'s CPUAddressSpace {cpu, as}. */
    public Spot cpuAddressSpace(int index) {
        return spot("cpuas" + index);
    }

    /** Returns the TypeImpl named {@code name} ("x86_64-cpu", "cpu", …) of the vCPUs' QOM type chain. */
    public Spot typeImpl(String name) {
        return spot("type:" + name);
    }

    /** Returns the string a TypeImpl's name points at. */
    public Spot typeName(String name) {
        return spot("typename:" + name);
    }

    /** Returns QEMU's global list of vCPUs (QTAILQ_HEAD cpus: {first, last link}). */
    public Spot cpuList() {
        return spot("cpus");
    }

    /** Returns the FWCfgVMCoreInfo struct inside the vmcoreinfo device's state. */
    public Spot vmcoreinfoDevice() {
        return spot("vmci.dev");
    }

    /** Returns the VMCOREINFO note in guest RAM (host side). */
    public Spot vmcoreinfoNote() {
        return spot("vmci.note");
    }

    /** Returns the guest-physical address of the VMCOREINFO note, or -1 when there is none. */
    public long vmcoreinfoPaddr() {
        return vmcoreinfoPaddr;
    }

    /**
     * Returns the block discovery should report for {@code size} bytes of region {@code name} at guest-physical
     * {@code guestPaddr}, {@code offsetInRegion} bytes into the region.
     */
    public GuestPhysBlock block(String name, long guestPaddr, long offsetInRegion, long size) {
        Spot r = ram(name);
        return new GuestPhysBlock(guestPaddr, guestPaddr + size, r.hostVaddr() + offsetInRegion,
                r.fileOffset() + offsetInRegion, name);
    }

    private Spot spot(String key) {
        Spot s = spots.get(key);
        if (s == null) {
            throw new IllegalArgumentException("no " + key + " in this synthetic core; have " + spots.keySet());
        }
        return s;
    }

    /** Overwrites one byte at {@code fileOffset}. */
    public SyntheticCore putU8(long fileOffset, int value) {
        return put(fileOffset, 1, value);
    }

    /** Overwrites a little-endian u16 at {@code fileOffset}. */
    public SyntheticCore putU16(long fileOffset, int value) {
        return put(fileOffset, 2, value);
    }

    /** Overwrites a little-endian u32 at {@code fileOffset}. */
    public SyntheticCore putU32(long fileOffset, long value) {
        return put(fileOffset, 4, value);
    }

    /** Overwrites a little-endian u64 at {@code fileOffset}. */
    public SyntheticCore putU64(long fileOffset, long value) {
        return put(fileOffset, 8, value);
    }

    /** Overwrites bytes at {@code fileOffset}. */
    public SyntheticCore putBytes(long fileOffset, byte[] bytes) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(bytes), fileOffset);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    private SyntheticCore put(long fileOffset, int width, long value) {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value);
        byte[] bytes = new byte[width];
        b.get(0, bytes);
        return putBytes(fileOffset, bytes);
    }

    /** Cuts the file to {@code size} bytes. */
    public SyntheticCore truncate(long size) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    /** Returns the file's current size. */
    public long size() {
        return path.toFile().length();
    }

    // ---------------------------------------------------------------- content patterns

    /** Returns the 8 bytes at {@code offsetInBlock} (a multiple of 8) of RAMBlock {@code idstr}. */
    public static long ramWord(String idstr, long offsetInBlock) {
        return mix((offsetInBlock >>> 3) + 0x9E3779B97F4A7C15L * (Integer.toUnsignedLong(idstr.hashCode()) + 1));
    }

    /** Returns {@code length} bytes of RAMBlock {@code idstr} from {@code offsetInBlock} (any alignment). */
    public static byte[] ramBytes(String idstr, long offsetInBlock, int length) {
        return bytes(v -> ramWord(idstr, v), offsetInBlock, length);
    }

    /** Returns the 8 bytes at 8-aligned {@code hostVaddr} of a segment added with {@link Builder#segment}. */
    public static long hostWord(long hostVaddr) {
        return mix(hostVaddr >>> 3);
    }

    /** Returns {@code length} bytes of {@link Builder#segment} content from {@code hostVaddr}. */
    public static byte[] hostBytes(long hostVaddr, int length) {
        return bytes(SyntheticCore::hostWord, hostVaddr, length);
    }

    private static byte[] bytes(Filler f, long from, int length) {
        byte[] out = new byte[length];
        for (int i = 0; i < length; i++) {
            long v = from + i;
            out[i] = (byte) (f.wordAt(v & ~7L) >>> (8 * (v & 7)));
        }
        return out;
    }

    /** splitmix64's finaliser: cheap, and no two nearby inputs give related outputs. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    // ---------------------------------------------------------------- assertions

    /**
     * Asserts that {@code call} throws a {@link BadCoreException} of {@code kind} whose message is one line, starts
     * with {@code file} and contains {@code phrase}; returns it.
     */
    public static BadCoreException assertBadCore(Kind kind, Path file, String phrase, Executable call) {
        BadCoreException e = assertThrows(BadCoreException.class, call);
        String m = e.getMessage();
        assertAll(m,
                () -> assertEquals(kind, e.kind(), "kind"),
                () -> assertTrue(m.startsWith(file + ": "), "names the file"),
                () -> assertFalse(m.contains("\n"), "one line"),
                () -> assertTrue(m.contains(phrase), "mentions '" + phrase + "'"));
        return e;
    }

    // ---------------------------------------------------------------- the builder

    private enum Mode { ELF, PROCESS, QEMU }

    @FunctionalInterface
    private interface Filler {
        /** Returns the 8 bytes at 8-aligned {@code vaddr}. */
        long wordAt(long vaddr);
    }

    private static final Filler ZERO = v -> 0;

    private record Poke(long hostVaddr, byte[] bytes) {
    }

    private static final class Seg {
        final long vaddr;
        final long memsz;
        final long filesz;
        final int flags;
        final Filler filler;
        final List<Poke> pokes = new ArrayList<>();
        long fileOffset;
        /** Only the first MiB and the pokes are written; the rest is left a hole. */
        boolean sparse;

        Seg(long vaddr, long memsz, long filesz, int flags, Filler filler) {
            if ((vaddr & 7) != 0) {
                throw new IllegalArgumentException("segment start must be 8-aligned: 0x" + Long.toHexString(vaddr));
            }
            this.vaddr = vaddr;
            this.memsz = memsz;
            this.filesz = filesz;
            this.flags = flags;
            this.filler = filler;
        }

        boolean holds(long v, long len) {
            return Long.compareUnsigned(v, vaddr) >= 0 && Long.compareUnsigned(v - vaddr + len, memsz) <= 0;
        }
    }

    private record Note(String name, int type, byte[] desc) {
    }

    private record Region(String name, long size, boolean ram, EnumSet<Flag> flags) {
    }

    private record Range(String region, long guestPaddr, long offsetInRegion, long size) {
    }

    /** The spec. Every method returns this builder; nothing is checked until {@link #write}. */
    public static final class Builder {
        private final Mode mode;
        private String comm;
        private final List<Seg> userSegs = new ArrayList<>();
        private final List<Poke> userPokes = new ArrayList<>();
        private final List<Note> userNotes = new ArrayList<>();
        private boolean xnum;
        private boolean fileNote = true;
        private final LinkedHashMap<String, Region> regions = new LinkedHashMap<>();
        private final List<Range> ranges = new ArrayList<>();
        private final Map<String, Long> hostAt = new HashMap<>();
        private final Map<String, Long> dumped = new HashMap<>();
        private final List<String> notInCore = new ArrayList<>();
        private int mrSizeOffset = 112;
        private boolean vmcoreinfo;
        private boolean sparseRam;
        private boolean vmcoreinfoDevice = true;
        private int vmcoreinfoHostFormat = 1;
        private long vmcoreinfoPaddr = -1;
        private int[] vcpuOrder = new int[0];
        private final Map<String, long[]> mappedFiles = new LinkedHashMap<>();
        private final List<Long> threadRips = new ArrayList<>();
        private boolean envAfterCpuState;
        private String armCpuModel;
        private String vmcoreinfoText = VMCOREINFO_TEXT;
        private ByteOrder vmcoreinfoOrder = ByteOrder.LITTLE_ENDIAN;
        private long vmcoreinfoDeviceAt = -1;
        private String flatViewRoot;

        private String exe;

        private Builder(Mode mode, String comm) {
            this.mode = mode;
            this.comm = comm;
        }

        /** Sets the executable's path in NT_FILE (default {@link #QEMU_EXE} for {@link #qemu()} cores). */
        public Builder executable(String path) {
            this.exe = path;
            return this;
        }

        /**
         * Adds a PT_LOAD of {@code size} bytes at {@code hostVaddr} whose first {@code present} bytes are in the file
         * (p_filesz), filled with {@link #hostWord}. Overlaps and odd sizes are written as given.
         */
        public Builder segment(long hostVaddr, long size, int flags, long present) {
            userSegs.add(new Seg(hostVaddr, size, present, flags, SyntheticCore::hostWord));
            return this;
        }

        /** Writes {@code bytes} at {@code hostVaddr}, which must lie in a segment. */
        public Builder poke(long hostVaddr, byte[] bytes) {
            userPokes.add(new Poke(hostVaddr, bytes.clone()));
            return this;
        }

        /** Adds an ELF note. */
        public Builder note(String name, int type, byte[] desc) {
            userNotes.add(new Note(name, type, desc.clone()));
            return this;
        }

        /** Sets the program name in NT_PRPSINFO (added to {@link #elf()} cores only when called). */
        public Builder programName(String comm) {
            this.comm = comm;
            return this;
        }

        /** Writes e_phnum = PN_XNUM and the real count in section header 0's sh_info, as for > 65534 mappings. */
        public Builder extendedNumbering() {
            this.xnum = true;
            return this;
        }

        /** Leaves out NT_FILE, so the executable's data segment cannot be told from the other mappings. */
        public Builder withoutFileNote() {
            this.fileNote = false;
            return this;
        }

        /** Adds a RAM region {@code name} of {@code size} bytes mapped whole at guest-physical {@code guestPaddr}. */
        public Builder ram(String name, long guestPaddr, long size, Flag... flags) {
            return region(name, size, flags).map(name, guestPaddr, 0, size);
        }

        /** Adds a RAM region (a MemoryRegion with its RAMBlock) without mapping it; see {@link #map}. */
        public Builder region(String name, long size, Flag... flags) {
            EnumSet<Flag> f = EnumSet.noneOf(Flag.class);
            f.addAll(List.of(flags));
            return addRegion(new Region(name, size, true, f));
        }

        /** Adds a non-RAM region (MMIO: ram = 0, no RAMBlock) mapped at {@code guestPaddr}. */
        public Builder io(String name, long guestPaddr, long size) {
            addRegion(new Region(name, size, false, EnumSet.noneOf(Flag.class)));
            return map(name, guestPaddr, 0, size);
        }

        private Builder addRegion(Region r) {
            if (regions.putIfAbsent(r.name(), r) != null) {
                throw new IllegalArgumentException("region " + r.name() + " added twice");
            }
            return this;
        }

        /** Adds a FlatRange: {@code size} bytes of region {@code name} from {@code offsetInRegion}, at {@code guestPaddr}. */
        public Builder map(String name, long guestPaddr, long offsetInRegion, long size) {
            ranges.add(new Range(name, guestPaddr, offsetInRegion, size));
            return this;
        }

        /** Places region {@code name}'s RAM at {@code hostVaddr} instead of RAM_BASE + k * RAM_STRIDE. */
        public Builder hostAt(String name, long hostVaddr) {
            hostAt.put(name, hostVaddr);
            return this;
        }

        /**
         * Leaves guest RAM as holes in the core file, as the kernel's core dumper does with pages the guest never
         * touched: of each RAM segment only the first MiB (the pattern) and what was poked (the VMCOREINFO note) is
         * written. A guest of any size then costs a few MiB of disk.
         */
        public Builder sparseRam() {
            this.sparseRam = true;
            return this;
        }

        /**
         * Writes region {@code name}'s RAM segment with p_filesz = 0, as the kernel's core dumper does with
         * dump-guest-core=off (MADV_DONTDUMP) and for a mapping never written to.
         */
        public Builder absent(String name) {
            return dumpedBytes(name, 0);
        }

        /** Writes region {@code name}'s RAM segment with p_filesz = {@code bytes}: only its start is in the file. */
        public Builder dumpedBytes(String name, long bytes) {
            dumped.put(name, bytes);
            return this;
        }

        /** Writes no PT_LOAD for region {@code name}'s RAM, as gdb's gcore leaves MADV_DONTDUMP mappings out. */
        public Builder notInCore(String name) {
            notInCore.add(name);
            return this;
        }

        /** Puts MemoryRegion.size at {@code offset} (one of the layout's candidates: 96, 112, 128). */
        public Builder mrSizeOffset(int offset) {
            this.mrSizeOffset = offset;
            return this;
        }

        /** Adds the guest kernel's VMCOREINFO note in guest RAM and the vmcoreinfo device's struct pointing at it. */
        public Builder vmcoreinfo(boolean on) {
            this.vmcoreinfo = on;
            return this;
        }

        /** Puts the VMCOREINFO note at {@code guestPaddr} instead of halfway into the first plain RAM range. */
        public Builder vmcoreinfoAt(long guestPaddr) {
            this.vmcoreinfoPaddr = guestPaddr;
            return this;
        }

        /** With false, writes the note but no FWCfgVMCoreInfo struct (no -device vmcoreinfo). */
        public Builder vmcoreinfoDevice(boolean on) {
            this.vmcoreinfoDevice = on;
            return this;
        }

        /** Sets FWCfgVMCoreInfo.host_format (QEMU leaves 1 = ELF, a guest write may leave 0). */
        public Builder vmcoreinfoHostFormat(int format) {
            this.vmcoreinfoHostFormat = format;
            return this;
        }

        /**
         * Adds {@code n} x86_64 vCPUs laid out as QEMU 7.2 has them ({@link #CPU_STATE_SIZE}, env_ptr): their
         * "cpu-memory-N" AddressSpaces, CPUAddressSpaces, X86CPU objects with QOM types, register files
         * ({@link SyntheticCpu}) and QEMU's list of vCPUs, in index order.
         */
        public Builder vcpus(int n) {
            int[] order = new int[n];
            for (int i = 0; i < n; i++) {
                order[i] = i;
            }
            return vcpuOrder(order);
        }

        /** Adds vCPUs with these cpu_indexes, on QEMU's list in this order. */
        public Builder vcpuOrder(int... indexes) {
            this.vcpuOrder = indexes.clone();
            return this;
        }

        /** Lists {@code path} in NT_FILE as mapped at [start, end), after the executable. */
        public Builder mappedFile(String path, long start, long end) {
            mappedFiles.put(path, new long[] {start, end});
            return this;
        }

        /** Adds a host thread (NT_PRSTATUS) stopped at {@code rip}. */
        public Builder thread(long rip) {
            threadRips.add(rip);
            return this;
        }

        /**
         * Makes the vCPUs aarch64 ones of qemu-system-aarch64 7.2: QOM type {@code model} (e.g. "cortex-a57-arm-cpu")
         * → aarch64-cpu → arm-cpu → cpu, ARMCPU objects of {@link #ARMCPU_SIZE} with the register file at
         * {@link #ENV_IN_ARMCPU} ({@link SyntheticCpu#aarch64Env}).
         */
        public Builder aarch64Cpus(String model) {
            this.armCpuModel = model;
            return this;
        }

        /** Puts the register file right after the CPUState, without env_ptr, as QEMU 8.0 and later do. */
        public Builder envAfterCpuState() {
            this.envAfterCpuState = true;
            return this;
        }

        /** Sets the VMCOREINFO note's text (default {@link #VMCOREINFO_TEXT}, an x86_64 kernel's). */
        public Builder vmcoreinfoText(String text) {
            this.vmcoreinfoText = text;
            return this;
        }

        /** Writes the VMCOREINFO note's header in {@code order}, the guest kernel's (default little-endian). */
        public Builder vmcoreinfoOrder(ByteOrder order) {
            this.vmcoreinfoOrder = order;
            return this;
        }

        /**
         * Puts the vmcoreinfo device's struct at {@code hostVaddr} (in a segment added with {@link #segment})
         * instead of the heap.
         */
        public Builder vmcoreinfoDeviceAt(long hostVaddr) {
            this.vmcoreinfoDeviceAt = hostVaddr;
            return this;
        }

        /**
         * Makes the FlatView's root region {@code name} (whose container is the AddressSpace's root "system"), as
         * QEMU renders a root holding nothing but one region that covers it (s390-ccw-virtio's s390.ram).
         */
        public Builder flatViewRoot(String name) {
            this.flatViewRoot = name;
            return this;
        }

        /** Writes the core to {@code path}, replacing it, and returns where everything landed. */
        public SyntheticCore write(Path path) {
            return new Writer(this).write(path);
        }
    }

    /** Lays out one Builder's spec and writes it. */
    private static final class Writer {
        private final Builder b;
        private final List<Seg> segs = new ArrayList<>();
        private final List<Note> notes = new ArrayList<>();
        private final Map<String, Long> vaddrs = new LinkedHashMap<>();
        private long heapNext = HEAP + 0x1000;
        private long vmcoreinfoPaddr = -1;
        /** Pokes into the user's segments, which exist only after the QEMU part is laid out. */
        private final List<Poke> late = new ArrayList<>();

        Writer(Builder b) {
            this.b = b;
        }

        SyntheticCore write(Path path) {
            if (b.mode != Mode.ELF) {
                addProcess();
            } else if (b.comm != null) {
                notes.add(prpsinfo(b.comm));
            }
            if (b.mode == Mode.QEMU) {
                addQemu();
            }
            segs.addAll(b.userSegs);
            for (Poke p : late) {
                poke(p.hostVaddr(), p.bytes());
            }
            for (Poke p : b.userPokes) {
                poke(p.hostVaddr(), p.bytes());
            }
            notes.addAll(b.userNotes);
            return emit(path);
        }

        // ------------------------------------------------------------ process

        private void addProcess() {
            // Only the first page of text is dumped (the kernel keeps ELF headers for build-id lookups).
            segs.add(new Seg(EXE_TEXT, EXE_TEXT_SIZE, PAGE, RX, ZERO));
            segs.add(new Seg(EXE_DATA, EXE_DATA_SIZE, EXE_DATA_SIZE, RW, ZERO));
            segs.add(new Seg(HEAP, HEAP_SIZE, HEAP_SIZE, RW, ZERO));
            segs.add(new Seg(STACK, STACK_SIZE, STACK_SIZE, RW, ZERO));
            String exe = b.exe != null ? b.exe : b.mode == Mode.QEMU ? QEMU_EXE : "/usr/bin/" + b.comm;

            ByteBuffer prstatus = le(336);
            prstatus.putInt(32, 4242); // pr_pid
            notes.add(new Note("CORE", NT_PRSTATUS, prstatus.array()));
            notes.add(prpsinfo(b.comm));
            ByteBuffer auxv = le(16 * 3);
            auxv.putLong(0, 6).putLong(8, PAGE);      // AT_PAGESZ
            auxv.putLong(16, 9).putLong(24, ENTRY);   // AT_ENTRY
            notes.add(new Note("CORE", NT_AUXV, auxv.array()));    // AT_NULL ends it
            for (long rip : b.threadRips) {
                ByteBuffer t = le(336);
                t.putInt(32, 4243); // pr_pid of another thread
                t.putLong(112 + 16 * 8, rip); // pr_reg.rip
                notes.add(new Note("CORE", NT_PRSTATUS, t.array()));
            }
            if (b.fileNote) {
                List<String> names = new ArrayList<>(List.of(exe, exe));
                List<long[]> ranges = new ArrayList<>(List.of(new long[] {EXE_TEXT, EXE_TEXT + EXE_TEXT_SIZE, 0},
                        new long[] {EXE_DATA, EXE_DATA + EXE_DATA_SIZE, EXE_TEXT_SIZE / PAGE}));
                for (Map.Entry<String, long[]> e : b.mappedFiles.entrySet()) {
                    names.add(e.getKey());
                    ranges.add(new long[] {e.getValue()[0], e.getValue()[1], 0});
                }
                int strings = names.stream().mapToInt(n -> n.getBytes(StandardCharsets.UTF_8).length + 1).sum();
                ByteBuffer f = le(16 + 24 * names.size() + strings);
                f.putLong(0, names.size()).putLong(8, PAGE);
                int at = 16 + 24 * names.size();
                for (int i = 0; i < names.size(); i++) {
                    f.putLong(16 + 24 * i, ranges.get(i)[0]).putLong(24 + 24 * i, ranges.get(i)[1])
                            .putLong(32 + 24 * i, ranges.get(i)[2]);
                    byte[] name = (names.get(i) + "\0").getBytes(StandardCharsets.UTF_8);
                    f.put(at, name);
                    at += name.length;
                }
                notes.add(new Note("CORE", NT_FILE, f.array()));
            }
        }

        private static Note prpsinfo(String comm) {
            ByteBuffer d = le(136);
            byte[] c = comm.getBytes(StandardCharsets.ISO_8859_1);
            d.put(40, c, 0, Math.min(15, c.length));   // pr_fname[16]
            d.put(56, c, 0, Math.min(79, c.length));   // pr_psargs[80]
            return new Note("CORE", NT_PRPSINFO, d.array());
        }

        // ------------------------------------------------------------ QEMU

        private void addQemu() {
            Map<String, Long> host = new HashMap<>();
            int k = 0;
            List<Seg> ram = new ArrayList<>();
            for (Region r : b.regions.values()) {
                if (!r.ram()) {
                    continue;
                }
                long h = b.hostAt.getOrDefault(r.name(), RAM_BASE + k++ * RAM_STRIDE);
                host.put(r.name(), h);
                String id = r.name();
                if (!b.notInCore.contains(id)) {
                    Seg seg = new Seg(h, r.size(), b.dumped.getOrDefault(id, r.size()), RW, v -> ramWord(id, v - h));
                    seg.sparse = b.sparseRam;
                    ram.add(seg);
                }
                vaddrs.put("ram:" + id, h);
            }
            ram.sort(Comparator.comparingLong(s -> s.vaddr));
            // Heap before RAM and stack in address order, as the kernel writes them.
            segs.addAll(segs.size() - 1, ram);

            long memoryName = string("memory");
            long ioName = string("I/O");
            long root = alloc(256);   // "system": a container, size 2^64
            poke8(root + b.mrSizeOffset + 8, 1);
            long ioRoot = alloc(256);
            long ioView = alloc(64);
            poke8(ioView + L.flatView().root(), ioRoot);

            Map<String, Long> mrs = new LinkedHashMap<>();
            long ramAddr = 0;
            for (Region r : b.regions.values()) {
                long mr = alloc(256);
                mrs.put(r.name(), mr);
                vaddrs.put("mr:" + r.name(), mr);
                int sz = b.mrSizeOffset;
                poke8(mr + sz, r.size());
                poke1(mr + sz + 40, 1);                                      // terminates
                if (!r.ram()) {
                    continue;
                }
                poke1(mr + L.memoryRegion().ram(), 1);
                poke1(mr + 43, r.flags().contains(Flag.ROM) ? 1 : 0);         // readonly
                poke1(mr + L.memoryRegion().nonvolatile(), r.flags().contains(Flag.NONVOLATILE) ? 1 : 0);
                poke1(mr + sz + 41, r.flags().contains(Flag.RAM_DEVICE) ? 1 : 0); // ram_device
                long rb = alloc(L.ramBlock().idstr() + QemuLayout.IDSTR_LEN);
                vaddrs.put("rb:" + r.name(), rb);
                poke8(mr + L.memoryRegion().ramBlock(), rb);
                poke8(rb + L.ramBlock().mr(), mr);
                poke8(rb + L.ramBlock().host(), host.get(r.name()));
                poke8(rb + 40, ramAddr);                                      // offset in ram_addr_t space
                poke8(rb + L.ramBlock().usedLength(), r.size());
                poke8(rb + L.ramBlock().maxLength(), r.size());
                poke(rb + L.ramBlock().idstr(), (r.name() + "\0").getBytes(StandardCharsets.ISO_8859_1));
                ramAddr += (r.size() + 0x7fffffL) & ~0x7fffffL;
            }

            List<Range> sorted = new ArrayList<>(b.ranges);
            sorted.sort((x, y) -> Long.compareUnsigned(x.guestPaddr(), y.guestPaddr()));
            long frs = alloc(Math.max(1, sorted.size()) * L.flatRange().stride());
            for (int i = 0; i < sorted.size(); i++) {
                Range r = sorted.get(i);
                Long mr = mrs.get(r.region());
                if (mr == null) {
                    throw new IllegalArgumentException("map of unknown region " + r.region());
                }
                long fr = frs + (long) i * L.flatRange().stride();
                vaddrs.put("fr" + i, fr);
                poke8(fr, mr);
                poke8(fr + L.flatRange().offsetInRegion(), r.offsetInRegion());
                poke8(fr + L.flatRange().start(), r.guestPaddr());
                poke8(fr + L.flatRange().size(), r.size());
                poke1(fr + 50, b.regions.get(r.region()).flags().contains(Flag.ROM) ? 1 : 0); // readonly
            }
            long fv = alloc(64);
            vaddrs.put("fv", fv);
            poke8(fv + L.flatView().ranges(), frs);
            poke4(fv + L.flatView().nr(), sorted.size());
            poke4(fv + L.flatView().nr() + 4, sorted.size());                          // nr_allocated
            poke8(fv + L.flatView().root(), root);
            if (b.flatViewRoot != null) {
                long lone = mrs.get(b.flatViewRoot);
                poke8(fv + L.flatView().root(), lone);
                poke8(lone + L.memoryRegion().containerCandidates().get(1), root);   // MemoryRegion.container
            }

            // address_space_io just before address_space_memory, as in QEMU's physmem.c.
            long ioAs = EXE_DATA + 0x2100;
            poke8(ioAs + L.addressSpace().name(), ioName);
            poke8(ioAs + L.addressSpace().root(), ioRoot);
            poke8(ioAs + L.addressSpace().currentMap(), ioView);
            long as = EXE_DATA + 0x2180;
            vaddrs.put("as", as);
            vaddrs.put("as.name", memoryName);
            poke8(as + L.addressSpace().name(), memoryName);
            poke8(as + L.addressSpace().root(), root);
            poke8(as + L.addressSpace().currentMap(), fv);

            if (b.vmcoreinfo) {
                addVmcoreinfo(sorted, host);
            }
            if (b.vcpuOrder.length > 0) {
                addVcpus();
            }
        }

        private void addVcpus() {
            long device = typeImpl("device", 160, 0);
            long cpu = typeImpl("cpu", CPU_STATE_SIZE, device);
            boolean arm = b.armCpuModel != null;
            int objectSize = arm ? ARMCPU_SIZE : X86CPU_SIZE;
            long leaf = arm
                    ? typeImpl(b.armCpuModel, ARMCPU_SIZE, typeImpl("aarch64-cpu", ARMCPU_SIZE,
                            typeImpl("arm-cpu", ARMCPU_SIZE, cpu)))
                    : typeImpl("qemu64-x86_64-cpu", X86CPU_SIZE, typeImpl("x86_64-cpu", X86CPU_SIZE, cpu));
            long objectClass = alloc(64);
            poke8(objectClass, leaf);                                       // ObjectClass.type
            long head = EXE_DATA + 0x3000;                                  // QTAILQ_HEAD cpus in .bss
            vaddrs.put("cpus", head);
            long prevLink = head;
            long last = 0;
            for (int index : b.vcpuOrder) {
                long rootMr = alloc(256);
                long fv = alloc(64);
                poke8(fv + L.flatView().root(), rootMr);
                long as = alloc(64);
                poke8(as + L.addressSpace().name(), string("cpu-memory-" + index));
                poke8(as + L.addressSpace().root(), rootMr);
                poke8(as + L.addressSpace().currentMap(), fv);
                long cpuAs = alloc(32);
                long cs = alloc(objectSize);
                vaddrs.put("cs" + index, cs);
                vaddrs.put("cpuas" + index, cpuAs);
                poke8(cpuAs, cs);                                           // CPUAddressSpace.cpu
                poke8(cpuAs + 8, as);                                       // CPUAddressSpace.as
                poke8(cs, objectClass);                                     // Object.class
                poke8(cs + CPU_ASES, cpuAs);                                // cpu_ases
                poke4(cs + CPU_ASES + 8, 1);                                // num_ases
                poke8(cs + CPU_ASES + 16, as);                              // as
                poke8(cs + CPU_ASES + 24, rootMr);                          // memory
                long env = cs + (b.envAfterCpuState ? CPU_STATE_SIZE : arm ? ENV_IN_ARMCPU : ENV_IN_X86CPU);
                if (!b.envAfterCpuState) {
                    poke8(cs + CPU_ASES + 32, env);                         // env_ptr
                }
                vaddrs.put("env" + index, env);
                if (arm) {
                    poke(env, SyntheticCpu.aarch64Env(index));
                } else {
                    poke(env, SyntheticCpu.x86_64Env(index));
                    poke(env + STAR_IN_ENV, SyntheticCpu.msrBlock(index));
                }
                // QTAILQ: next at +0, prev (the previous link) at +8
                poke8(prevLink, cs);
                poke8(cs + CPU_LIST_LINK + 8, prevLink);
                prevLink = cs + CPU_LIST_LINK;
                last = cs;
            }
            poke8(head + 8, last + CPU_LIST_LINK);                          // tql_prev: the last element's link
        }

        private long typeImpl(String name, long instanceSize, long parent) {
            long t = alloc(128);
            long n = string(name);
            vaddrs.put("type:" + name, t);
            vaddrs.put("typename:" + name, n);
            poke8(t, n);                                                    // TypeImpl.name
            poke8(t + 16, instanceSize);                                    // instance_size
            poke8(t + 96, parent);                                          // parent_type
            return t;
        }

        private void addVmcoreinfo(List<Range> sorted, Map<String, Long> host) {
            long pa = b.vmcoreinfoPaddr;
            Range in = null;
            for (Range r : sorted) {
                Region reg = b.regions.get(r.region());
                if (pa < 0 && reg.ram() && reg.flags().isEmpty() && r.size() >= 2 * PAGE) {
                    pa = (r.guestPaddr() + r.size() / 2) & -PAGE;
                }
                if (pa >= 0 && Long.compareUnsigned(pa - r.guestPaddr(), r.size()) < 0 && reg.ram()) {
                    in = r;
                    break;
                }
            }
            if (in == null) {
                throw new IllegalArgumentException("no RAM range for the VMCOREINFO note at 0x" + Long.toHexString(pa));
            }
            vmcoreinfoPaddr = pa;
            byte[] text = b.vmcoreinfoText.getBytes(StandardCharsets.US_ASCII);
            ByteBuffer note = le(12 + 12 + ((text.length + 3) & ~3)).order(b.vmcoreinfoOrder);
            note.putInt(0, 11).putInt(4, text.length).putInt(8, 0);
            note.put(12, "VMCOREINFO".getBytes(StandardCharsets.US_ASCII));
            note.put(24, text);
            long noteHost = host.get(in.region()) + in.offsetInRegion() + (pa - in.guestPaddr());
            poke(noteHost, note.array());
            vaddrs.put("vmci.note", noteHost);
            if (b.vmcoreinfoDevice) {
                // VMCoreInfoState: DeviceState (160 bytes), bool has_vmcoreinfo, then struct fw_cfg_vmcoreinfo,
                // naturally aligned (QEMU 2.12+ uses the kernel's unpacked struct).
                long state = b.vmcoreinfoDeviceAt >= 0 ? b.vmcoreinfoDeviceAt : alloc(192);
                long dev = state + 168;
                ByteBuffer s = le(16);
                s.putShort(0, (short) b.vmcoreinfoHostFormat).putShort(2, (short) 1);
                s.putInt(4, VMCOREINFO_NOTE_SIZE).putLong(8, pa);
                if (b.vmcoreinfoDeviceAt >= 0) {
                    late.add(new Poke(state + 160, new byte[] {1}));
                    late.add(new Poke(dev, s.array()));
                } else {
                    poke1(state + 160, 1);
                    poke(dev, s.array());
                }
                vaddrs.put("vmci.dev", dev);
            }
        }

        private long alloc(long size) {
            long at = heapNext;
            heapNext = (heapNext + size + 63) & ~63L;
            if (heapNext > HEAP + HEAP_SIZE) {
                throw new IllegalStateException("synthetic heap full");
            }
            return at;
        }

        private long string(String s) {
            byte[] bytes = (s + "\0").getBytes(StandardCharsets.ISO_8859_1);
            long at = alloc(bytes.length);
            poke(at, bytes);
            return at;
        }

        private void poke1(long v, int x) {
            poke(v, new byte[] {(byte) x});
        }

        private void poke4(long v, long x) {
            poke(v, le(4).putInt(0, (int) x).array());
        }

        private void poke8(long v, long x) {
            poke(v, le(8).putLong(0, x).array());
        }

        private void poke(long hostVaddr, byte[] bytes) {
            for (Seg s : segs) {
                if (s.holds(hostVaddr, bytes.length)) {
                    s.pokes.add(new Poke(hostVaddr, bytes));
                    return;
                }
            }
            throw new IllegalArgumentException("poke at 0x" + Long.toHexString(hostVaddr) + " is in no segment");
        }

        // ------------------------------------------------------------ the file

        private SyntheticCore emit(Path path) {
            int phnum = 1 + segs.size();
            long shoff = 64L + phnum * 56L;
            long notesOff = shoff + (b.xnum ? 64 : 0);
            ByteBuffer nb = le(notes.stream().mapToInt(n -> 12 + pad4(n.name().length() + 1) + pad4(n.desc().length))
                    .sum());
            for (Note n : notes) {
                byte[] name = n.name().getBytes(StandardCharsets.ISO_8859_1);
                nb.putInt(name.length + 1).putInt(n.desc().length).putInt(n.type());
                nb.put(name).position(nb.position() + pad4(name.length + 1) - name.length);
                nb.put(n.desc()).position(nb.position() + pad4(n.desc().length) - n.desc().length);
            }
            long off = (notesOff + nb.capacity() + PAGE - 1) & -PAGE;
            List<Segment> written = new ArrayList<>();
            for (Seg s : segs) {
                s.fileOffset = off;
                written.add(new Segment(s.vaddr, s.memsz, s.filesz, s.flags, off));
                off = (off + s.filesz + PAGE - 1) & -PAGE;
            }

            ByteBuffer head = le((int) notesOff);
            head.put(0, new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1});
            head.putShort(16, (short) 4).putShort(18, (short) 62).putInt(20, 1);
            head.putLong(32, 64).putLong(40, b.xnum ? shoff : 0);
            head.putShort(52, (short) 64).putShort(54, (short) 56);
            head.putShort(56, (short) (b.xnum ? 0xffff : phnum));
            head.putShort(58, (short) (b.xnum ? 64 : 0)).putShort(60, (short) (b.xnum ? 1 : 0));
            int p = 64;
            head.putInt(p, 4).putLong(p + 8, notesOff).putLong(p + 32, nb.capacity());   // PT_NOTE
            for (Seg s : segs) {
                p += 56;
                head.putInt(p, 1).putInt(p + 4, s.flags).putLong(p + 8, s.fileOffset).putLong(p + 16, s.vaddr)
                        .putLong(p + 32, s.filesz).putLong(p + 40, s.memsz).putLong(p + 48, PAGE);
            }
            if (b.xnum) {
                head.putInt((int) shoff + SH_INFO, phnum);
            }

            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(head.rewind(), 0);
                ch.write(nb.rewind(), notesOff);
                ByteBuffer chunk = le(CHUNK);
                long end = 0;
                for (Seg s : segs) {
                    end = Math.max(end, s.fileOffset + s.filesz);
                    for (long c = 0; c < s.filesz; c += CHUNK) {
                        long at = c;
                        if (s.sparse && c >= MiB && s.pokes.stream().noneMatch(pk -> overlaps(s, pk, at))) {
                            continue;
                        }
                        int len = (int) Math.min(CHUNK, s.filesz - c);
                        fill(s, c, chunk.clear().limit(len));
                        ch.write(chunk, s.fileOffset + c);
                    }
                }
                if (ch.size() < end) {
                    ch.write(ByteBuffer.allocate(1), end - 1); // a sparse segment's trailing hole
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }

            Map<String, Spot> spots = new HashMap<>();
            for (Map.Entry<String, Long> e : vaddrs.entrySet()) {
                spots.put(e.getKey(), new Spot(e.getValue(), fileOffsetIn(e.getValue())));
            }
            return new SyntheticCore(path, written, spots, phnum, notesOff, vmcoreinfoPaddr);
        }

        /** Returns the file offset of {@code v}, or -1 when that part of its segment is not in the file. */
        private long fileOffsetIn(long v) {
            for (Seg s : segs) {
                if (s.holds(v, 0) && Long.compareUnsigned(v - s.vaddr, s.filesz) < 0) {
                    return s.fileOffset + (v - s.vaddr);
                }
            }
            return -1;
        }

        /** Returns true when poke {@code pk} touches the CHUNK bytes of {@code s} from offset {@code c}. */
        private static boolean overlaps(Seg s, Poke pk, long c) {
            long lo = s.vaddr + c;
            return Long.compareUnsigned(pk.hostVaddr() + pk.bytes().length, lo) > 0
                    && Long.compareUnsigned(pk.hostVaddr(), lo + CHUNK) < 0;
        }

        private static void fill(Seg s, long from, ByteBuffer chunk) {
            int len = chunk.limit();
            long base = s.vaddr + from;
            for (int i = 0; i + 8 <= len; i += 8) {
                chunk.putLong(i, s.filler.wordAt(base + i));
            }
            for (int i = len & ~7; i < len; i++) {
                chunk.put(i, (byte) (s.filler.wordAt(base + (len & ~7)) >>> (8 * (i & 7))));
            }
            for (Poke p : s.pokes) {
                long lo = Math.max(p.hostVaddr(), base);
                long hi = Math.min(p.hostVaddr() + p.bytes().length, base + len);
                if (lo < hi) {
                    chunk.put((int) (lo - base), p.bytes(), (int) (lo - p.hostVaddr()), (int) (hi - lo));
                }
            }
        }

        private static int pad4(int n) {
            return (n + 3) & ~3;
        }
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }
}

package io.vmdumpfs.core.format;

import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.VmcoreInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The byte layout of vmcore.elf: where everything goes, and the header bytes themselves. Pure arithmetic over the
 * block list and the notes; it reads nothing from the core, so it can be built and checked without one.
 *
 * <p>The file is what QEMU's {@code dump-guest-memory} writes with {@code paging=false} (dump.c, and
 * scripts/dump-guest-memory.py for a QEMU that can no longer run): the data of each {@link GuestPhysBlock}, in
 * order, described by PT_LOAD program headers ({@link LoadSegment}s); plus, when the guest kernel is readable, what
 * kexec's /proc/vmcore headers give every reader (see {@link ElfLoads}):
 *
 * <pre>
 *   0              Elf64_Ehdr                       64 bytes (Elf32_Ehdr: 52)
 *   e_phoff = 64   Elf64_Phdr[1 + m]                PT_NOTE, then the m PT_LOADs (Elf32_Phdr: 32 bytes each)
 *   e_shoff        Elf64_Shdr[1]                    only with extended numbering, see below
 *   noteOffset     the notes ({@link DumpNotes}): per-vCPU NT_PRSTATUS and QEMU notes, then VMCOREINFO; without
 *                  vCPUs, VMCOREINFO (if found) then the NONE/EMPTY placeholder note
 *   memoryOffset   block 0's bytes, block 1's bytes, …   no padding anywhere
 * </pre>
 *
 * <p>Choices, each matching a reader we care about:
 * <ul>
 *   <li>The class is QEMU's ({@link ElfClass#of}): ELF64, or ELF32 for an i386 guest whose blocks all end below
 *       4 GiB, with the ELF32 structures in the same places. {@code e_machine} is the guest's.</li>
 *   <li>Every header field, and the notes, are in the byte order the guest ran in ({@code e_ident[EI_DATA]}), as
 *       QEMU's {@code cpu_to_dump*()} write them: big-endian for s390x. For a little-endian ppc64 guest QEMU 7.2
 *       writes big-endian headers: target/ppc/arch_dump.c asks {@code ppc_interrupts_little_endian(cpu,
 *       env.has_hv_mode)}, and a CPU model that has a hypervisor mode then answers from HID0[HILE], the
 *       hypervisor's interrupt endianness, not from LPCR[ILE], the pseries guest's (fixed upstream in 2023 by
 *       "target: ppc: Use MSR_HVB bit to get the target endianness for memory dump"). Ours are little-endian:
 *       right rather than identical, and crash, libkdumpfile and readelf read them.</li>
 *   <li>The program headers come right after the ELF header. makedumpfile reads them from there; QEMU 7.2 puts a
 *       section header table at offset 64 instead, and {@code makedumpfile --dump-dmesg} then fails with "Can't
 *       get the number of PT_LOAD".</li>
 *   <li>{@code p_flags} and {@code p_align} are 0 and PT_NOTE's addresses are 0: QEMU memsets each Elf64_Phdr and
 *       never sets them (checked against a QEMU 7.2 dump).</li>
 *   <li>Every PT_LOAD's {@code p_offset} points into its block's data: a segment never has bytes of its own, and a
 *       block may be described by several segments (RAM, the kernel image inside it, RAM again). {@link ElfLoads}
 *       keeps them from overlapping, so every guest-physical byte is in one PT_LOAD and in the file once.</li>
 *   <li>{@code p_vaddr} of a RAM segment is its kernel direct-map address when the guest kernel's direct map is
 *       known, else 0 ({@link ElfLoads} says why, and why not 0 when it is known). QEMU 2.x and the reference gdb
 *       script write 0 for {@code paging=false}; QEMU 4.0 and later (7.2 included) write {@code p_paddr} there
 *       instead (commit e17bebd049, so that gdb would not stack every segment at 0), which claims mappings that do
 *       not exist (the objection raised on qemu-devel in 2023): there is no kernel mapping of RAM at its physical
 *       address.</li>
 *   <li>Extended numbering (ELF gABI): when the program header count reaches {@link #PN_XNUM}, {@code e_phnum} is
 *       PN_XNUM and the real count is in {@code sh_info} of a single SHT_NULL section header, placed after the
 *       program headers as QEMU 2.x does, so the program headers still start at 64. QEMU 2.x switches one entry
 *       earlier (at 0xfffe); the gABI threshold is the one readers implement.</li>
 *   <li>When vCPU discovery found the vCPUs, the notes are QEMU's, byte for byte ({@link DumpNotes}). Else the
 *       placeholder note is the gdb script's contract: name "NONE", descriptor "EMPTY" (5 bytes, no NUL), type 0,
 *       "only to keep the ELF parser of crash happy" (the script's words): crash then has no per-CPU notes and
 *       cannot start backtraces of the active tasks from saved registers, but still opens the dump (ElfViewTest
 *       runs it). The VMCOREINFO note, if any, comes first, as in the gdb script.</li>
 * </ul>
 *
 * <p>Limits: the header must fit in one array, which caps the block count at about 38 million, far above the
 * handful a real guest has; an ELF32 file must end below 4 GiB (its offsets are 32-bit). Immutable and thread-safe.
 */
public final class ElfLayout {

    /** sizeof(Elf64_Ehdr); see {@link ElfClass} for ELF32's. */
    public static final int EHDR_SIZE = 64;
    /** sizeof(Elf64_Phdr). */
    public static final int PHDR_SIZE = 56;
    /** sizeof(Elf64_Shdr). */
    public static final int SHDR_SIZE = 64;
    /** e_phnum value meaning "the count is in section header 0's sh_info" (ELF gABI, extended numbering). */
    public static final int PN_XNUM = 0xffff;

    static final int ET_CORE = 4;
    static final int EV_CURRENT = 1;
    static final int PT_LOAD = 1;
    static final int PT_NOTE = 4;
    static final int ELFDATA2LSB = 1;
    static final int ELFDATA2MSB = 2;

    /** The placeholder note's name, descriptor and type, as scripts/dump-guest-memory.py writes them. */
    public static final String PLACEHOLDER_NAME = "NONE";
    public static final String PLACEHOLDER_DESC = "EMPTY";
    public static final int PLACEHOLDER_TYPE = 0;

    /** Largest header we build in one array; bounds the block count before anything is allocated. */
    private static final int MAX_HEADER_BYTES = Integer.MAX_VALUE - 64;

    private final List<GuestPhysBlock> blocks;
    private final List<LoadSegment> loads;
    private final ElfClass elfClass;
    private final int phdrCount;
    private final boolean extendedNumbering;
    private final int noteOffset;
    private final int noteSize;
    private final int memoryOffset;
    /** File offset of each PT_LOAD's data; one more entry than blocks, the last being the file size. */
    private final long[] segmentOffsets;
    private final byte[] header;

    private ElfLayout(List<GuestPhysBlock> blocks, GuestPlatform platform, byte[] notes, List<LoadSegment> loads) {
        this.blocks = List.copyOf(blocks);
        this.loads = List.copyOf(loads);
        this.elfClass = ElfClass.of(platform, this.blocks);
        int n = this.blocks.size();
        long phdrs = 1L + this.loads.size();
        this.extendedNumbering = phdrs >= PN_XNUM;
        long shdrEnd = elfClass.ehdrSize + elfClass.phdrSize * phdrs + (extendedNumbering ? elfClass.shdrSize : 0);
        long memStart = shdrEnd + notes.length;
        // Also keeps phdrs far below 2^32, the limit of sh_info.
        if (memStart > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException(n + " blocks need an ELF header of " + memStart
                    + " bytes; at most " + MAX_HEADER_BYTES + " are supported");
        }
        this.phdrCount = (int) phdrs;
        this.noteOffset = (int) shdrEnd;
        this.noteSize = notes.length;
        this.memoryOffset = (int) memStart;

        this.segmentOffsets = new long[n + 1];
        long off = memoryOffset;
        for (int i = 0; i < n; i++) {
            segmentOffsets[i] = off;
            off = Math.addExact(off, this.blocks.get(i).size());
        }
        segmentOffsets[n] = off;
        if (elfClass == ElfClass.ELF32 && off > ElfClass.ELF32_MAX) {
            throw new IllegalArgumentException("an ELF32 vmcore of these blocks would be " + off
                    + " bytes, past the 32-bit offsets of ELF32");
        }

        this.header = buildHeader(platform, notes);
    }

    /**
     * Returns the layout for {@code blocks} (sorted, as {@link io.vmdumpfs.core.guest.GuestMemory} keeps them) with
     * the notes from {@link #notes(Optional, ByteOrder)} and one PT_LOAD per block without a virtual address: the
     * file of a guest whose kernel is not readable.
     *
     * @throws IllegalArgumentException if the blocks need a header over 2 GiB, or their total size overflows a file
     *                                  offset (of ELF32: 4 GiB)
     */
    public static ElfLayout of(List<GuestPhysBlock> blocks, GuestPlatform platform, byte[] notes) {
        return new ElfLayout(blocks, platform, notes, ElfLoads.physicalOnly(blocks));
    }

    /**
     * Returns the layout for {@code blocks} with the program headers {@code loads}, in that order.
     *
     * @throws IllegalArgumentException as {@link #of(List, GuestPlatform, byte[])}, or if a load does not lie inside
     *                                  one block
     */
    public static ElfLayout of(List<GuestPhysBlock> blocks, GuestPlatform platform, byte[] notes,
            List<LoadSegment> loads) {
        return new ElfLayout(blocks, platform, notes, loads);
    }

    /**
     * Returns the bytes of the PT_NOTE segment: the VMCOREINFO note byte for byte (padded with NULs to a multiple
     * of 4 should it not be), then the placeholder note. The kdump formats carry the same notes.
     */
    public static byte[] notes(Optional<VmcoreInfo> vmcoreinfo, ByteOrder order) {
        byte[] vmci = vmcoreinfo.map(VmcoreInfo::note).orElse(new byte[0]);
        byte[] placeholder = placeholderNote(order);
        byte[] out = new byte[align4(vmci.length) + placeholder.length];
        System.arraycopy(vmci, 0, out, 0, vmci.length);
        System.arraycopy(placeholder, 0, out, align4(vmci.length), placeholder.length);
        return out;
    }

    /**
     * Returns the placeholder note: Elf64_Nhdr {n_namesz = 5, n_descsz = 5, n_type = 0}, "NONE\0" and "EMPTY",
     * each padded to 4 bytes (28 bytes).
     */
    public static byte[] placeholderNote(ByteOrder order) {
        return ElfNotes.write(PLACEHOLDER_NAME, PLACEHOLDER_TYPE, PLACEHOLDER_DESC.getBytes(StandardCharsets.US_ASCII),
                order);
    }

    /** Returns the file's ELF class. */
    public ElfClass elfClass() {
        return elfClass;
    }

    /** Returns the number of program headers: 1 (PT_NOTE) + the PT_LOADs. */
    public int phdrCount() {
        return phdrCount;
    }

    /** Returns true when e_phnum is {@link #PN_XNUM} and the count lives in the section header's sh_info. */
    public boolean extendedNumbering() {
        return extendedNumbering;
    }

    /** Returns e_shoff: the section header's offset, or 0 when there is none. */
    public long sectionHeaderOffset() {
        return extendedNumbering ? elfClass.ehdrSize + (long) elfClass.phdrSize * phdrCount : 0;
    }

    /** Returns the PT_NOTE segment's file offset. */
    public long noteOffset() {
        return noteOffset;
    }

    /** Returns the PT_NOTE segment's size. */
    public long noteSize() {
        return noteSize;
    }

    /** Returns the file offset of the first PT_LOAD's data, which is also the size of the header bytes. */
    public long memoryOffset() {
        return memoryOffset;
    }

    /** Returns the file size: header plus every block. */
    public long size() {
        return segmentOffsets[segmentOffsets.length - 1];
    }

    /** Returns the blocks whose data make up the file after the header, in file order. */
    public List<GuestPhysBlock> blocks() {
        return blocks;
    }

    /** Returns the PT_LOAD program headers, in header order. */
    public List<LoadSegment> loads() {
        return loads;
    }

    /** Returns the file offset of block {@code i}'s data; {@code i == blocks().size()} gives size(). */
    public long segmentOffset(int i) {
        return segmentOffsets[i];
    }

    /**
     * Returns the file offset of guest-physical {@code guestPaddr}'s byte: where in its block's data it lies.
     *
     * @throws IllegalArgumentException if no block holds it
     */
    public long fileOffsetOf(long guestPaddr) {
        int lo = 0;
        int hi = blocks.size() - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (Long.compareUnsigned(blocks.get(mid).guestPaddrStart(), guestPaddr) <= 0) {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (hi < 0 || !blocks.get(hi).contains(guestPaddr)) {
            throw new IllegalArgumentException("guest-physical 0x" + Long.toHexString(guestPaddr) + " is in no block");
        }
        return segmentOffsets[hi] + (guestPaddr - blocks.get(hi).guestPaddrStart());
    }

    /**
     * Returns the index of the block whose data holds {@code fileOffset}. O(log n).
     *
     * @throws IllegalArgumentException if {@code fileOffset} is in the header or at or past the end
     */
    public int segmentAt(long fileOffset) {
        if (fileOffset < memoryOffset || fileOffset >= size()) {
            throw new IllegalArgumentException("offset " + fileOffset + " is not in a PT_LOAD segment");
        }
        int i = Arrays.binarySearch(segmentOffsets, 0, blocks.size(), fileOffset);
        // Empty blocks cannot exist (GuestPhysBlock forbids them), so offsets are strictly increasing.
        return i >= 0 ? i : -i - 2;
    }

    /** Copies header bytes [{@code fileOffset}, {@code fileOffset + length}) into {@code dst} at its position. */
    void copyHeader(int fileOffset, int length, ByteBuffer dst) {
        dst.put(header, fileOffset, length);
    }

    /** Returns a copy of the header bytes (ELF header, program headers, section header, notes). */
    public byte[] header() {
        return header.clone();
    }

    private byte[] buildHeader(GuestPlatform platform, byte[] notes) {
        ByteOrder order = platform.byteOrder();
        ByteBuffer b = ByteBuffer.allocate(memoryOffset).order(order);
        boolean e64 = elfClass == ElfClass.ELF64;
        int ehsize = elfClass.ehdrSize;
        int phentsize = elfClass.phdrSize;

        // ElfN_Ehdr: the same fields in both classes; from e_entry on, ELF32's addresses and offsets are 4 bytes.
        b.put(0, (byte) 0x7f).put(1, (byte) 'E').put(2, (byte) 'L').put(3, (byte) 'F');
        b.put(4, (byte) elfClass.eiClass);                                             // e_ident[EI_CLASS]
        b.put(5, (byte) (order == ByteOrder.LITTLE_ENDIAN ? ELFDATA2LSB : ELFDATA2MSB)); // e_ident[EI_DATA]
        b.put(6, (byte) EV_CURRENT);                                                   // e_ident[EI_VERSION]
        b.putShort(16, (short) ET_CORE);                                               // e_type
        b.putShort(18, (short) platform.arch().elfMachine);                            // e_machine
        b.putInt(20, EV_CURRENT);                                                      // e_version
        int at = 24 + (e64 ? 8 : 4);                                                   // after e_entry
        putAddr(b, at, ehsize, e64);                                                   // e_phoff
        putAddr(b, at + (e64 ? 8 : 4), sectionHeaderOffset(), e64);                    // e_shoff
        at += e64 ? 20 : 12;                                                           // after e_flags
        b.putShort(at, (short) ehsize);                                                // e_ehsize
        b.putShort(at + 2, (short) phentsize);                                         // e_phentsize
        b.putShort(at + 4, (short) (extendedNumbering ? PN_XNUM : phdrCount));         // e_phnum
        if (extendedNumbering) {
            b.putShort(at + 6, (short) elfClass.shdrSize);                             // e_shentsize
            b.putShort(at + 8, (short) 1);                                             // e_shnum
        }

        putPhdr(b, ehsize, PT_NOTE, noteOffset, 0, 0, noteSize, e64);
        for (int i = 0; i < loads.size(); i++) {
            LoadSegment load = loads.get(i);
            long offset = fileOffsetOf(load.guestPaddr());
            if (Long.compareUnsigned(load.size() - 1, blocks.get(segmentAt(offset)).guestPaddrEnd() - 1
                    - load.guestPaddr()) > 0) {
                throw new IllegalArgumentException("PT_LOAD " + i + " at guest-physical 0x"
                        + Long.toHexString(load.guestPaddr()) + " (+0x" + Long.toHexString(load.size())
                        + ") runs past the end of its block");
            }
            putPhdr(b, ehsize + phentsize * (i + 1), PT_LOAD, offset, load.kernelVaddr(), load.guestPaddr(),
                    load.size(), e64);
        }

        if (extendedNumbering) {
            // ElfN_Shdr index 0, SHT_NULL, all zero but sh_info = the real program header count.
            b.putInt((int) sectionHeaderOffset() + (e64 ? 44 : 28), phdrCount);
        }

        b.put(noteOffset, notes);
        return b.array();
    }

    /**
     * Writes one program header at {@code at}; p_flags and p_align stay 0 (see the class comment).
     * Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
     * Elf32_Phdr: p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align.
     */
    private static void putPhdr(ByteBuffer b, int at, int type, long offset, long vaddr, long paddr, long size,
            boolean e64) {
        b.putInt(at, type);                                  // p_type
        if (e64) {
            b.putLong(at + 8, offset);                       // p_offset
            b.putLong(at + 16, vaddr);                       // p_vaddr
            b.putLong(at + 24, paddr);                       // p_paddr
            b.putLong(at + 32, size);                        // p_filesz
            b.putLong(at + 40, size);                        // p_memsz
        } else {
            b.putInt(at + 4, (int) offset);                  // p_offset
            b.putInt(at + 8, (int) vaddr);                   // p_vaddr
            b.putInt(at + 12, (int) paddr);                  // p_paddr
            b.putInt(at + 16, (int) size);                   // p_filesz
            b.putInt(at + 20, (int) size);                   // p_memsz
        }
    }

    /** Writes an address or offset field: 8 bytes in ELF64, 4 in ELF32 (whose values the constructor bounded). */
    private static void putAddr(ByteBuffer b, int at, long value, boolean e64) {
        if (e64) {
            b.putLong(at, value);
        } else {
            b.putInt(at, (int) value);
        }
    }

    static int align4(int n) {
        return (n + 3) & ~3;
    }
}

package io.vmdumpfs.fuse;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A tiny but real ELF process core (ET_CORE, EM_X86_64, one PT_LOAD per block) plus the matching block table, so the
 * real CLI can open it with {@code -o blocks=FILE} / {@code --blocks FILE} without QEMU. Guest RAM holds a VMCOREINFO
 * note at a page start (found by the RAM scan) and pages of three kinds so that compressing formats see zero,
 * repetitive and incompressible data.
 *
 * <pre>
 * block   guest-physical          size     name     core offset
 * 0       0x0        - 0x400000   4 MiB    pc.ram   0x1000
 * 1       0xfffc0000 - 0x100000000 256 KiB pc.bios  0x401000
 * </pre>
 *
 * @param core   the core file
 * @param blocks the block table, in blocks.txt format
 */
record TinyCore(Path core, Path blocks) {

    static final long HOST_BASE = 0x7f00_0000_0000L;
    static final long DATA_OFFSET = 0x1000;
    static final String VMCOREINFO_TEXT = "OSRELEASE=6.1.0-tiny\nPAGESIZE=4096\nKERNELOFFSET=1c000000\n"
            + "SYMBOL(init_uts_ns)=ffffffff82a12345\nNUMBER(phys_base)=0\n";
    /** Guest-physical address of the VMCOREINFO note. */
    static final long VMCOREINFO_PADDR = 0x3000;

    /** A block: guest-physical start, size, name. */
    record Block(long guestStart, long size, String name) {
    }

    static final List<Block> BLOCKS = List.of(
            new Block(0, 4 << 20, "pc.ram"),
            new Block(0xfffc0000L, 256 << 10, "pc.bios"));

    /** Writes the core and its block table into {@code dir}. */
    static TinyCore write(Path dir) throws IOException {
        Path core = dir.resolve("tiny.core");
        Path blocks = dir.resolve("tiny.blocks");
        int phnum = BLOCKS.size();
        ByteBuffer head = ByteBuffer.allocate((int) DATA_OFFSET).order(ByteOrder.LITTLE_ENDIAN);
        // Elf64_Ehdr
        head.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0});
        head.position(16);
        head.putShort((short) 4);      // e_type = ET_CORE
        head.putShort((short) 62);     // e_machine = EM_X86_64
        head.putInt(1);                // e_version
        head.putLong(0);               // e_entry
        head.putLong(64);              // e_phoff
        head.putLong(0);               // e_shoff
        head.putInt(0);                // e_flags
        head.putShort((short) 64);     // e_ehsize
        head.putShort((short) 56);     // e_phentsize
        head.putShort((short) phnum);  // e_phnum
        head.putShort((short) 64);     // e_shentsize
        head.putShort((short) 0);      // e_shnum
        head.putShort((short) 0);      // e_shstrndx
        StringBuilder table = new StringBuilder("# target_start target_end host_addr core_offset name\n");
        long fileOffset = DATA_OFFSET;
        for (int i = 0; i < phnum; i++) {
            Block b = BLOCKS.get(i);
            long hostVaddr = HOST_BASE + ((long) i << 28);
            // Elf64_Phdr
            head.putInt(1);            // p_type = PT_LOAD
            head.putInt(6);            // p_flags = PF_R | PF_W
            head.putLong(fileOffset);  // p_offset
            head.putLong(hostVaddr);   // p_vaddr
            head.putLong(0);           // p_paddr
            head.putLong(b.size());    // p_filesz
            head.putLong(b.size());    // p_memsz
            head.putLong(4096);        // p_align
            table.append(String.format("%016x %016x %016x %016x %s%n", b.guestStart(), b.guestStart() + b.size(),
                    hostVaddr, fileOffset, b.name()));
            fileOffset += b.size();
        }
        try (OutputStream out = Files.newOutputStream(core)) {
            out.write(head.array());
            for (Block b : BLOCKS) {
                byte[] data = new byte[(int) b.size()];
                fill(b.guestStart(), data);
                out.write(data);
            }
        }
        Files.writeString(blocks, table.toString(), StandardCharsets.UTF_8);
        return new TinyCore(core, blocks);
    }

    /** Fills guest RAM starting at {@code guestStart}: page kinds by index, and the note where it belongs. */
    static void fill(long guestStart, byte[] data) {
        for (int page = 0; page * 4096 < data.length; page++) {
            long paddr = guestStart + page * 4096L;
            int off = page * 4096;
            switch ((int) ((paddr >>> 12) % 4)) {
                case 0 -> { } // zero page
                case 1 -> {
                    long x = paddr * 0x9e3779b97f4a7c15L + 1;
                    for (int i = 0; i < 4096; i++) {
                        x ^= x << 13;
                        x ^= x >>> 7;
                        x ^= x << 17;
                        data[off + i] = (byte) x;
                    }
                }
                default -> {
                    byte[] line = String.format("page %016x of the tiny guest\n", paddr).getBytes(StandardCharsets.US_ASCII);
                    for (int i = 0; i < 4096; i++) {
                        data[off + i] = line[i % line.length];
                    }
                }
            }
            if (paddr == VMCOREINFO_PADDR) {
                byte[] note = vmcoreinfoNote(VMCOREINFO_TEXT);
                java.util.Arrays.fill(data, off, off + 4096, (byte) 0);
                System.arraycopy(note, 0, data, off, note.length);
            }
        }
    }

    /**
     * Returns a VMCOREINFO ELF note as the kernel lays it out (crash_core.c append_elf_note): n_namesz 11
     * ("VMCOREINFO\0"), n_descsz, n_type 0, then name and text each NUL-padded to 4 bytes.
     */
    static byte[] vmcoreinfoNote(String text) {
        byte[] name = "VMCOREINFO\0".getBytes(StandardCharsets.US_ASCII);
        byte[] desc = text.getBytes(StandardCharsets.UTF_8);
        int nameLen = (name.length + 3) & ~3;
        ByteBuffer b = ByteBuffer.allocate(12 + nameLen + ((desc.length + 3) & ~3)).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, name.length).putInt(4, desc.length).putInt(8, 0);
        b.put(12, name).put(12 + nameLen, desc);
        return b.array();
    }
}

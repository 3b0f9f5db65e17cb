package io.vmdumpfs.core.elf;

import java.nio.ByteBuffer;

/**
 * The fields of {@code Elf64_Ehdr} a core reader needs (ELF gABI). Values are widened to long/int without sign.
 *
 * <pre>
 * typedef struct { unsigned char e_ident[16]; Elf64_Half e_type, e_machine; Elf64_Word e_version;
 *   Elf64_Addr e_entry; Elf64_Off e_phoff, e_shoff; Elf64_Word e_flags;
 *   Elf64_Half e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx; } Elf64_Ehdr;
 * </pre>
 */
public record Elf64Header(int eiClass, int eiData, int eType, int eMachine, long ePhoff, long eShoff,
        int ePhentsize, int ePhnum, int eShentsize, int eShnum) {

    public static final int SIZE = 64;
    public static final int ELFCLASS64 = 2;
    public static final int ELFDATA2LSB = 1;
    public static final int ET_CORE = 4;
    public static final int EM_X86_64 = 62;
    /** e_phnum value meaning "the real count is in section header 0's sh_info". */
    public static final int PN_XNUM = 0xffff;

    /** Returns true when {@code b} (at least 4 bytes from position 0) starts with the ELF magic. */
    public static boolean hasMagic(ByteBuffer b) {
        return b.limit() >= 4 && b.get(0) == 0x7f && b.get(1) == 'E' && b.get(2) == 'L' && b.get(3) == 'F';
    }

    /** Parses the header from a little-endian buffer of at least {@link #SIZE} bytes. */
    public static Elf64Header parse(ByteBuffer b) {
        return new Elf64Header(
                Byte.toUnsignedInt(b.get(4)),
                Byte.toUnsignedInt(b.get(5)),
                Short.toUnsignedInt(b.getShort(16)),
                Short.toUnsignedInt(b.getShort(18)),
                b.getLong(32),
                b.getLong(40),
                Short.toUnsignedInt(b.getShort(54)),
                Short.toUnsignedInt(b.getShort(56)),
                Short.toUnsignedInt(b.getShort(58)),
                Short.toUnsignedInt(b.getShort(60)));
    }
}

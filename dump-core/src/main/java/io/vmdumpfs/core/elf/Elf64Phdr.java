package io.vmdumpfs.core.elf;

import java.nio.ByteBuffer;

/**
 * One {@code Elf64_Phdr}. In a process core, a PT_LOAD is one host mapping: {@code p_vaddr} is the host virtual
 * address, and only the first {@code p_filesz} of its {@code p_memsz} bytes are in the file (the rest was left out
 * by the dumper, e.g. MADV_DONTDUMP or coredump_filter).
 *
 * <pre>
 * typedef struct { Elf64_Word p_type, p_flags; Elf64_Off p_offset; Elf64_Addr p_vaddr, p_paddr;
 *   Elf64_Xword p_filesz, p_memsz, p_align; } Elf64_Phdr;
 * </pre>
 */
public record Elf64Phdr(int index, int pType, int pFlags, long pOffset, long pVaddr, long pPaddr, long pFilesz,
        long pMemsz) {

    public static final int SIZE = 56;
    public static final int PT_LOAD = 1;
    public static final int PT_NOTE = 4;
    public static final int PF_X = 1;
    public static final int PF_W = 2;
    public static final int PF_R = 4;

    /** Parses the program header at {@code off} of a little-endian buffer. */
    public static Elf64Phdr parse(int index, ByteBuffer b, int off) {
        return new Elf64Phdr(index, b.getInt(off), b.getInt(off + 4), b.getLong(off + 8), b.getLong(off + 16),
                b.getLong(off + 24), b.getLong(off + 32), b.getLong(off + 40));
    }

    public boolean writable() {
        return (pFlags & PF_W) != 0;
    }

    /** Returns the host-virtual end of the mapping (exclusive). */
    public long vaddrEnd() {
        return pVaddr + pMemsz;
    }

    /** Returns the host-virtual end of the part present in the file (exclusive). */
    public long presentEnd() {
        return pVaddr + pFilesz;
    }
}

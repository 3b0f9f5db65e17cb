package io.vmdumpfs.core.elf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One ELF note ({@code Elf64_Nhdr} + name + desc) read from a core's PT_NOTE segment.
 *
 * @param name       the owner name without its terminating NUL, e.g. "CORE"
 * @param type       n_type, e.g. {@link #NT_PRSTATUS}
 * @param desc       the descriptor bytes
 * @param fileOffset where the note header starts in the file
 */
public record ElfNote(String name, int type, byte[] desc, long fileOffset) {

    public static final int NT_PRSTATUS = 1;
    public static final int NT_PRPSINFO = 3;
    public static final int NT_AUXV = 6;
    /** "FILE" as a little-endian int: the list of mapped files. */
    public static final int NT_FILE = 0x46494c45;

    /** Returns the descriptor as a little-endian buffer. */
    public ByteBuffer descBuffer() {
        return ByteBuffer.wrap(desc).order(ByteOrder.LITTLE_ENDIAN);
    }
}

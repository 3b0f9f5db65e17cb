package io.vmdumpfs.core.elf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One ELF note ({@code Elf64_Nhdr} or {@code Elf32_Nhdr}, both three 32-bit words, then name and desc) as read by
 * {@link ElfNotes}.
 *
 * @param name       the owner name without its terminating NULs, e.g. "CORE"
 * @param type       n_type, e.g. {@link #NT_PRSTATUS}
 * @param desc       the descriptor bytes
 * @param fileOffset where the note header starts (in the file, or in the buffer the notes were read from)
 * @param descOffset where the descriptor starts, counted from the same origin as {@code fileOffset}
 */
public record ElfNote(String name, int type, byte[] desc, long fileOffset, long descOffset) {

    public static final int NT_PRSTATUS = 1;
    public static final int NT_PRFPREG = 2;
    public static final int NT_PRPSINFO = 3;
    public static final int NT_AUXV = 6;
    /** "FILE" as a little-endian int: the list of mapped files. */
    public static final int NT_FILE = 0x46494c45;

    /**
     * Returns the descriptor as a little-endian buffer: for the notes of the x86_64 host's process core, whose
     * byte order is the host's.
     */
    public ByteBuffer descBuffer() {
        return ByteBuffer.wrap(desc).order(ByteOrder.LITTLE_ENDIAN);
    }
}

package io.vmdumpfs.hardening;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Reads a served vmcore.elf the way crash does, from its own program headers: where guest-physical address X is in
 * the file. Black-box on purpose: it does not ask vmdumpfs's ElfLayout.
 */
final class VmcoreElf {

    private VmcoreElf() {
    }

    /** Returns the offset in {@code vmcoreElf} of guest-physical {@code paddr}, or -1 when no PT_LOAD holds it. */
    static long offsetOf(Path vmcoreElf, long paddr) throws IOException {
        try (FileChannel ch = FileChannel.open(vmcoreElf, StandardOpenOption.READ)) {
            ByteBuffer h = readAt(ch, 0, 64);
            long phoff = h.getLong(32);
            long phnum = Short.toUnsignedInt(h.getShort(56));
            if (phnum == 0xffff) {
                // PN_XNUM: the count is sh_info of section header 0.
                phnum = Integer.toUnsignedLong(readAt(ch, h.getLong(40), 64).getInt(44));
            }
            ByteBuffer p = readAt(ch, phoff, (int) (phnum * 56));
            for (int i = 0; i < phnum; i++) {
                int o = i * 56;
                long paddrStart = p.getLong(o + 24);
                long filesz = p.getLong(o + 32);
                if (p.getInt(o) == 1 && Long.compareUnsigned(paddr - paddrStart, filesz) < 0
                        && Long.compareUnsigned(paddr, paddrStart) >= 0) {
                    return p.getLong(o + 8) + (paddr - paddrStart);
                }
            }
            return -1;
        }
    }

    /** Returns {@code length} bytes of {@code file} at {@code offset}. */
    static byte[] read(Path file, long offset, int length) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return readAt(ch, offset, length).array();
        }
    }

    private static ByteBuffer readAt(FileChannel ch, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, offset + b.position()) < 0) {
                throw new IOException("ends at " + (offset + b.position()));
            }
        }
        return b.flip();
    }
}

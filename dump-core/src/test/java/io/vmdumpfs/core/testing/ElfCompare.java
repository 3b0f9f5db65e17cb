package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/** Compares the memory of two ELF dumps segment by segment, judged through readelf and raw reads only. */
public final class ElfCompare {

    private static final int CHUNK = 1 << 20;

    private ElfCompare() {
    }

    /**
     * Asserts that {@code actual} has the same PT_LOAD ranges (p_paddr, size) as {@code expected} and that every page
     * of them holds the same bytes. Returns the number of bytes compared.
     */
    public static long assertSameMemory(Path expected, Path actual) throws IOException {
        List<Readelf.Phdr> exp = Readelf.loads(expected);
        List<Readelf.Phdr> act = Readelf.loads(actual);
        assertEquals(exp.size(), act.size(), "PT_LOAD count of " + actual + " vs " + expected);
        long compared = 0;
        ByteBuffer a = ByteBuffer.allocateDirect(CHUNK);
        ByteBuffer b = ByteBuffer.allocateDirect(CHUNK);
        try (FileChannel ec = FileChannel.open(expected, StandardOpenOption.READ);
                FileChannel ac = FileChannel.open(actual, StandardOpenOption.READ)) {
            for (int i = 0; i < exp.size(); i++) {
                Readelf.Phdr e = exp.get(i);
                Readelf.Phdr x = act.get(i);
                assertEquals(e.paddr(), x.paddr(), "PT_LOAD " + i + " p_paddr");
                assertEquals(e.filesz(), x.filesz(), "PT_LOAD " + i + " p_filesz");
                assertEquals(e.memsz(), x.memsz(), "PT_LOAD " + i + " p_memsz");
                for (long done = 0; done < e.filesz(); done += CHUNK) {
                    int n = (int) Math.min(CHUNK, e.filesz() - done);
                    readFully(ec, a, e.offset() + done, n);
                    readFully(ac, b, x.offset() + done, n);
                    int m = a.mismatch(b);
                    if (m >= 0) {
                        throw new AssertionError(actual + ": page at guest-physical 0x"
                                + Long.toHexString((e.paddr() + done + m) & ~0xfffL) + " differs from " + expected);
                    }
                    compared += n;
                }
            }
        }
        return compared;
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, int n) throws IOException {
        buf.clear().limit(n);
        while (buf.hasRemaining()) {
            if (ch.read(buf, pos + buf.position()) < 0) {
                throw new AssertionError("file ends at " + (pos + buf.position()));
            }
        }
        buf.flip();
    }
}

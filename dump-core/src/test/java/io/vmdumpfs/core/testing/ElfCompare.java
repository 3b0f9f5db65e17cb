package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** Compares the guest-physical memory of two ELF dumps, judged through readelf and raw reads only. */
public final class ElfCompare {

    private static final int CHUNK = 1 << 20;

    private ElfCompare() {
    }

    /**
     * Asserts that {@code actual} holds the same guest-physical memory as {@code expected}: its PT_LOADs cover the
     * same p_paddr ranges (adjacent ones merged: vmcore.elf may cut a block around the kernel image where QEMU has
     * one segment), no two of them overlap (so no page counts twice), and every page holds the same bytes. Returns
     * the number of bytes compared.
     */
    public static long assertSameMemory(Path expected, Path actual) throws IOException {
        List<Readelf.Phdr> exp = Readelf.loads(expected);
        List<Readelf.Phdr> act = new ArrayList<>(Readelf.loads(actual));
        act.sort(Comparator.comparing(Readelf.Phdr::paddr, Long::compareUnsigned));
        for (int i = 1; i < act.size(); i++) {
            Readelf.Phdr prev = act.get(i - 1);
            assertTrue(Long.compareUnsigned(prev.paddr() + prev.memsz(), act.get(i).paddr()) <= 0,
                    actual + ": PT_LOADs " + prev + " and " + act.get(i) + " overlap");
        }
        for (Readelf.Phdr x : act) {
            assertEquals(x.filesz(), x.memsz(), actual + ": " + x + " p_filesz != p_memsz");
        }
        assertEquals(merged(exp), merged(act), "guest-physical ranges of " + actual + " vs " + expected);
        long compared = 0;
        ByteBuffer a = ByteBuffer.allocateDirect(CHUNK);
        ByteBuffer b = ByteBuffer.allocateDirect(CHUNK);
        try (FileChannel ec = FileChannel.open(expected, StandardOpenOption.READ);
                FileChannel ac = FileChannel.open(actual, StandardOpenOption.READ)) {
            for (Readelf.Phdr e : exp) {
                for (long done = 0; done < e.filesz(); ) {
                    long paddr = e.paddr() + done;
                    Readelf.Phdr x = act.stream().filter(l -> Long.compareUnsigned(paddr - l.paddr(), l.filesz()) < 0)
                            .findFirst().orElseThrow(() -> new AssertionError(actual + " has no PT_LOAD for 0x"
                                    + Long.toHexString(paddr)));
                    long within = paddr - x.paddr();
                    int n = (int) Math.min(CHUNK, Math.min(e.filesz() - done, x.filesz() - within));
                    readFully(ec, a, e.offset() + done, n);
                    readFully(ac, b, x.offset() + within, n);
                    int m = a.mismatch(b);
                    if (m >= 0) {
                        throw new AssertionError(actual + ": page at guest-physical 0x"
                                + Long.toHexString((paddr + m) & ~0xfffL) + " differs from " + expected);
                    }
                    compared += n;
                    done += n;
                }
            }
        }
        return compared;
    }

    /** Returns the PT_LOADs' guest-physical ranges as "start-end" strings, adjacent ranges joined. */
    static List<String> merged(List<Readelf.Phdr> loads) {
        List<Readelf.Phdr> sorted = new ArrayList<>(loads);
        sorted.sort(Comparator.comparing(Readelf.Phdr::paddr, Long::compareUnsigned));
        List<String> out = new ArrayList<>();
        boolean open = false;
        long start = 0;
        long end = 0;
        for (Readelf.Phdr l : sorted) {
            if (open && l.paddr() == end) {
                end += l.memsz();
                continue;
            }
            if (open) {
                out.add(Long.toHexString(start) + "-" + Long.toHexString(end));
            }
            open = true;
            start = l.paddr();
            end = l.paddr() + l.memsz();
        }
        if (open) {
            out.add(Long.toHexString(start) + "-" + Long.toHexString(end));
        }
        return out;
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

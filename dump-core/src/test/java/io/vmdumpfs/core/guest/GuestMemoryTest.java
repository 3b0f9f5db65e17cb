package io.vmdumpfs.core.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.elf.CoreFile;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Guest RAM over a sparse core: which parts the core holds as data, which read as zeros without I/O. */
class GuestMemoryTest {

    static final long MiB = 1 << 20;

    @TempDir
    Path tmp;

    /**
     * A 16 MiB core: block a = guest [0, 4 MiB) at file 1 MiB, block b = guest [8 MiB, 12 MiB) at file 6 MiB, block c =
     * guest [12 MiB, 13 MiB) at file 14 MiB. Data (one 64 KiB write each) at file 2 MiB (a), 6 MiB and 9 MiB + 4 KiB
     * (b, its first and last page) and 14 MiB (c, its first page); everything else is a hole.
     */
    private GuestMemory sparse() throws Exception {
        Path p = tmp.resolve("core");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(16 * MiB);
            byte[] data = new byte[64 * 1024];
            java.util.Arrays.fill(data, (byte) 1);
            for (long at : new long[] {2 * MiB, 6 * MiB, 10 * MiB - 64 * 1024, 14 * MiB}) {
                f.seek(at);
                f.write(data);
            }
        }
        return new GuestMemory(CoreFile.open(p), List.of(
                new GuestPhysBlock(0, 4 * MiB, 0x7f00_0000_0000L, MiB, "a"),
                new GuestPhysBlock(8 * MiB, 12 * MiB, 0x7f10_0000_0000L, 6 * MiB, "b"),
                new GuestPhysBlock(12 * MiB, 13 * MiB, 0x7f20_0000_0000L, 14 * MiB, "c")));
    }

    @Test
    void dataRuns_sparseCore_mapsFileRunsIntoBlocksAndMergesAcrossTouchingBlocks() throws Exception {
        GuestMemory m = sparse();
        try {
            assertEquals(List.of(
                    new GuestMemory.Range(MiB, MiB + 64 * 1024),                      // a: file 2 MiB
                    new GuestMemory.Range(8 * MiB, 8 * MiB + 64 * 1024),              // b: file 6 MiB
                    new GuestMemory.Range(12 * MiB - 64 * 1024, 12 * MiB + 64 * 1024) // end of b, start of c
            ), m.dataRuns());
        } finally {
            m.core().close();
        }
    }

    @Test
    void isHole_pagesInHolesOrOutsideBlocks_true_pagesTouchingData_false() throws Exception {
        GuestMemory m = sparse();
        try {
            assertTrue(m.isHole(0, MiB));
            assertFalse(m.isHole(0, MiB + 1));
            assertTrue(m.isHole(MiB + 64 * 1024, 3 * MiB - 64 * 1024));
            assertTrue(m.isHole(4 * MiB, 4 * MiB), "between blocks: no block, nothing to read");
            assertFalse(m.isHole(4 * MiB, 4 * MiB + 1));
            assertTrue(m.isHole(9 * MiB, 4096));
            assertFalse(m.isHole(12 * MiB - 4096, 8192), "spans two blocks, data in both");
            assertTrue(m.isHole(13 * MiB, 1L << 30), "past the last block");
            assertFalse(m.isHole(MiB - 4096, 1L << 40), "a long range with data in it");
            assertTrue(m.isHole(5, 0));
        } finally {
            m.core().close();
        }
    }
}

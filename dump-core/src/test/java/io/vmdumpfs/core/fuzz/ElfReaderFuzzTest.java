package io.vmdumpfs.core.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.elf.Elf64Phdr;
import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.HostMemory;
import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.guest.RamDiscovery;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

/**
 * The ELF core reader on arbitrary bytes: {@link ProcessCore#open} either parses or throws
 * {@link io.vmdumpfs.core.BadCoreException}, and whatever it accepted can be walked (notes, NT_FILE, auxv, host
 * memory reads, discovery) with the same guarantee.
 *
 * <p>Seeds (ElfReaderFuzzTestInputs/processCore_anyBytes): small cores with one segment, with PN_XNUM, with notes.
 */
class ElfReaderFuzzTest {

    private static final Path FILE = FuzzSupport.scratch("elf-reader.core");
    /** AT_ENTRY, the auxv entry discovery uses. */
    private static final long AT_ENTRY = 9;

    @FuzzTest
    void processCore_anyBytes(byte[] data) {
        FuzzSupport.writeFile(FILE, data);
        FuzzSupport.check("ElfReaderFuzzTest.processCore_anyBytes", () -> {
            try (ProcessCore pc = ProcessCore.open(FILE)) {
                walk(pc, data.length);
            }
        });
    }

    /** Touches everything a parsed core offers, checking what parsing promised. */
    private static void walk(ProcessCore pc, long fileSize) {
        List<Elf64Phdr> loads = pc.loads();
        for (int i = 1; i < loads.size(); i++) {
            assertTrue(Long.compareUnsigned(loads.get(i - 1).vaddrEnd(), loads.get(i).pVaddr()) <= 0,
                    "loads sorted and disjoint");
        }
        for (ElfNote n : pc.notes()) {
            assertTrue(n.fileOffset() >= 0 && n.fileOffset() < fileSize, "note inside the file");
        }
        pc.programName();
        pc.threadCount();
        pc.auxv(AT_ENTRY);
        pc.mappedFiles();
        HostMemory mem = pc.memory();
        for (int i = 0; i < mem.segments().size(); i++) {
            Elf64Phdr ph = mem.segments().get(i);
            long present = mem.presentLength(i);
            assertTrue(present >= 0 && present <= fileSize, "present part fits the file");
            int at = mem.segmentIndexOf(ph.pVaddr());
            assertTrue(at < 0 || Long.compareUnsigned(mem.segments().get(at).pVaddr(), ph.pVaddr()) <= 0,
                    "segmentIndexOf finds a segment starting at or below the address");
            if (present > 0) {
                int n = (int) Math.min(present, 64);
                long off = mem.fileOffsetOf(ph.pVaddr(), n);
                assertTrue(off >= 0 && off + n <= fileSize, "present bytes are in the file");
                ByteBuffer b = mem.read(ph.pVaddr(), n);
                assertEquals(n, b.remaining());
                mem.cString(ph.pVaddr(), 16);
                mem.readSegment(i);
            }
            mem.isPresent(ph.pVaddr() + Math.max(0, present - 1), 2);
            mem.isWritable(ph.pVaddr());
        }
        try {
            RamDiscovery.discover(pc);
        } catch (BadCoreException notQemu) {
            // Expected for nearly every input; counted as accepted: the reader itself took the core.
        }
    }
}

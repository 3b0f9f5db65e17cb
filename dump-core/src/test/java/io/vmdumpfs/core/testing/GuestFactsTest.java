package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** guest-facts.txt as make-qemu-core.sh writes it (lines copied from a real x86_64 fixture). */
class GuestFactsTest {

    private static final String FACTS = """
            uname-r 6.1.0-57-cloud-amd64
            uname-v #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)
            uname-m x86_64
            nodename vmdumpfs-2a693184
            domainname vmdumpfs.test
            nproc 2
            vmcoreinfo 0x00000000011e8000 1024
            kallsyms 0000000000031980 A runqueues
            kallsyms ffffffffa7600000 T _stext
            kallsyms ffffffffa91f9b60 D init_uts_ns
            iomem 00001000-0009fbff : System RAM
            iomem 00100000-0ffdffff : System RAM
            iomem 04e00000-05c01ef1 : Kernel code
            busy cpu 0 pid 142
            busy cpu 1 pid 144
            """;

    private GuestFacts facts(Path tmp) throws IOException {
        Path f = tmp.resolve("guest-facts.txt");
        Files.writeString(f, FACTS);
        return GuestFacts.read(f);
    }

    @Test
    void kallsyms_listedSymbol_kernelVaddr(@TempDir Path tmp) throws IOException {
        GuestFacts g = facts(tmp);
        assertEquals(OptionalLong.of(0xffffffffa91f9b60L), g.kallsyms("init_uts_ns"));
        assertEquals(OptionalLong.of(0x31980L), g.kallsyms("runqueues"), "a per-CPU offset, type A");
        assertEquals(OptionalLong.empty(), g.kallsyms("init_task"));
    }

    @Test
    void iomem_byName_inclusiveRangesInOrder(@TempDir Path tmp) throws IOException {
        GuestFacts g = facts(tmp);
        assertEquals(List.of(new GuestFacts.IomemRange(0x1000, 0x9fbff, "System RAM"),
                new GuestFacts.IomemRange(0x100000, 0xffdffff, "System RAM")), g.iomem("System RAM"));
        assertEquals(0x4e00000L, g.iomem("Kernel code").get(0).guestPaddr());
        assertTrue(g.iomem("Kernel bss").isEmpty());
    }

    @Test
    void accessors_utsnameAndCpus(@TempDir Path tmp) throws IOException {
        GuestFacts g = facts(tmp);
        assertEquals("#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)", g.version());
        assertEquals("vmdumpfs-2a693184", g.nodename());
        assertEquals("vmdumpfs.test", g.domainname());
        assertEquals(2, g.nproc());
        assertEquals(OptionalLong.of(0x11e8000L), g.vmcoreinfoNote());
        assertEquals(List.of("cpu 0 pid 142", "cpu 1 pid 144"), g.values("busy"));
    }

    @Test
    void value_missingKey_fails(@TempDir Path tmp) throws IOException {
        GuestFacts g = facts(tmp);
        assertThrows(AssertionError.class, () -> g.value("panic-cpu"));
    }
}

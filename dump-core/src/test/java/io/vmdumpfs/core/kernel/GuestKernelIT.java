package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.testing.Crash;
import io.vmdumpfs.core.testing.GuestFacts;
import io.vmdumpfs.core.testing.KernelFixtures;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.SystemMap;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The guest-kernel layer on real QEMU process cores (pc and q35, KASLR on and off), judged by sources that do not go
 * through it: the debug package's System.map plus KERNELOFFSET, the guest's own uname, /proc/kallsyms and /proc/iomem
 * lines (guest-facts.txt), and crash reading {@code page_offset_base} and {@code struct page}s from QEMU's own dump of
 * the same guest. Also measures a vmemmap-like bulk read: every {@code struct page} of guest RAM.
 */
class GuestKernelIT {

    /**
     * Symbols whose addresses are compared: text, rodata, data and bss, the variables KASLR moves, and a per-CPU
     * one (runqueues: an offset into the per-CPU area, which KASLR does not move).
     */
    static final List<String> SYMBOLS = List.of("_stext", "_end", "init_task", "init_uts_ns", "jiffies_64",
            "linux_banner", "page_offset_base", "vmemmap_base", "vmalloc_base", "init_top_pgt", "vmcoreinfo_note",
            "runqueues");

    static Stream<String> fixtures() {
        return KernelFixtures.NAMES.stream();
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void kernel_realCore_agreesWithTheGuestAndItsDebugInfo(String name) throws IOException {
        QemuFixture f = KernelFixtures.get(name);
        String release = f.get("UNAME");
        Map<String, Long> systemMap = SystemMap.of(release);
        GuestFacts facts = f.guestFacts();
        try (GuestDump d = GuestDumps.open(f.core(), Optional.empty())) {
            GuestKernel k = GuestKernel.open(d);
            long kaslr = k.vmcoreinfo().kernelOffset().orElse(0);
            assertEquals(f.get("KASLR").equals("on"), kaslr != 0, "KERNELOFFSET " + Long.toHexString(kaslr));

            // init_uts_ns, read through the layer
            Utsname uts = k.utsname();
            assertEquals("Linux", uts.sysname());
            assertEquals(release, uts.release());
            assertEquals("x86_64", uts.machine());
            assertEquals(facts.nodename(), uts.nodename());
            assertEquals(facts.version(), uts.version());
            assertEquals(facts.domainname(), uts.domainname());

            // symbols: kallsyms in the dump vs System.map + KERNELOFFSET, and vs the guest's /proc/kallsyms
            assertTrue(k.kallsyms().isPresent(), "6.1 has kallsyms in VMCOREINFO");
            for (String s : SYMBOLS) {
                long link = systemMap.get(s);
                long moved = Long.compareUnsigned(link, X86_64Kernel.START_KERNEL_MAP) >= 0 ? link + kaslr : link;
                assertEquals(hex(moved), hex(k.symbol(s).orElse(-1)), s);
            }
            int listed = 0;
            for (String v : facts.values("kallsyms")) {
                String s = v.trim().split("\\s+")[2];
                assertEquals(hex(facts.kallsyms(s).getAsLong()), hex(k.symbol(s).orElse(-1)), s + " (/proc/kallsyms)");
                listed++;
            }
            assertTrue(listed >= 10, "the guest listed its symbols: " + listed);

            // the image window and the page tables agree where the tables map the image
            PhysReader phys = PhysReader.direct(d.memory(), ByteOrder.LITTLE_ENDIAN);
            for (String s : List.of("_stext", "init_uts_ns", "linux_banner", "jiffies_64", "init_task")) {
                long v = k.symbol(s).getAsLong();
                Translation t = k.addressSpace().tables().walk(v, phys);
                assertEquals(hex(k.addressSpace().image().guestPaddrOf(v)), hex(t.guestPaddrOf(v)), s);
            }

            // the direct map and struct pages: the kernel's own variables through the layer, and what crash reads
            // from QEMU's own dump: page_offset_base, and `kmem -p` (struct page address and flags) of two pages
            DirectMap dm = k.directMap().orElseThrow();
            assertTrue(dm.evidence().startsWith("page_offset_base (kallsyms)"), dm.evidence());
            long vmemmap = k.memory().readU64(k.symbol("vmemmap_base").getAsLong());
            long imagePage = k.memory().toGuestPaddr(k.symbol("init_uts_ns").getAsLong()) & -4096L;
            long freePage = 0x5000000; // 80 MiB: RAM in every fixture
            List<String> cmds = List.of("p/x page_offset_base", "kmem -p " + Long.toHexString(imagePage),
                    "kmem -p " + Long.toHexString(freePage));
            Map<String, String> crash = Crash.run(Crash.vmlinux(release), f.qemuDumpElf(), cmds);
            assertTrue(crash.get(cmds.get(0)).contains("= 0x" + Long.toHexString(dm.offset())), "crash: " + crash);
            if (kaslr == 0) {
                assertEquals(hex(0xffff_8880_0000_0000L), hex(dm.offset()), "no KASLR: the 4-level default");
            }
            int structPage = (int) k.vmcoreinfo().size("page").getAsLong();
            for (int i = 1; i <= 2; i++) {
                long paddr = i == 1 ? imagePage : freePage;
                String[] row = crash.get(cmds.get(i)).strip().lines().reduce((a, b) -> b).orElseThrow().split("\\s+");
                long pageVaddr = vmemmap + (paddr >>> 12) * structPage;
                assertEquals(Long.toHexString(pageVaddr), row[0], "struct page of " + hex(paddr) + ": " + crash);
                assertEquals(row[5], Long.toHexString(k.memory().readU64(pageVaddr)), "page flags of " + hex(paddr));
            }

            // the kernel image's mapping: starts at _stext, covers the image up to _end and iomem's kernel ranges
            Translation image = k.imageMapping().orElseThrow();
            assertEquals(hex(k.symbol("_stext").getAsLong()), hex(image.kernelVaddr()));
            assertTrue(Long.compareUnsigned(image.kernelVaddr() + image.size(), systemMap.get("_end") + kaslr) >= 0,
                    "covers _end");
            assertEquals(hex(facts.iomem("Kernel code").get(0).guestPaddr()), hex(image.guestPaddr()),
                    "starts at iomem's Kernel code");
            assertTrue(image.guestPaddr() + image.size() > facts.iomem("Kernel bss").get(0).guestPaddrEnd(),
                    "covers iomem's Kernel bss");

            vmemmapScan(name, d, k);
        }
    }

    /**
     * Reads every guest RAM page's {@code struct page} through vmemmap with one bulk reader, as page filtering will,
     * and reports the cost: of the whole read, of translating alone (one translate per struct page, mostly answered
     * by the bulk reader's remembered large page), and of a table walk (the shared reader walks every time).
     */
    private static void vmemmapScan(String name, GuestDump d, GuestKernel k) throws IOException {
        long vmemmap = k.memory().readU64(k.symbol("vmemmap_base").getAsLong());
        int structPage = (int) k.vmcoreinfo().size("page").getAsLong();
        DirectMap dm = k.directMap().orElseThrow();
        List<long[]> pfns = d.memory().blocks().stream().filter(b -> k.directlyMapped(dm, b.guestPaddrStart()))
                .map(b -> new long[] {b.guestPaddrStart() >>> 12, b.guestPaddrEnd() >>> 12}).toList(); // not ROM

        KernelMemory bulk = k.memory().bulk();
        ByteBuffer buf = ByteBuffer.allocate(64 * structPage).order(ByteOrder.LITTLE_ENDIAN);
        long pages = 0;
        long t0 = System.nanoTime();
        for (long[] r : pfns) {
            for (long pfn = r[0]; pfn < r[1]; pfn += 64) {
                int n = (int) Math.min(64, r[1] - pfn);
                buf.clear().limit(n * structPage);
                bulk.read(vmemmap + pfn * structPage, buf);
                pages += n;
            }
        }
        long readNs = System.nanoTime() - t0;

        long sum = 0;
        long translateNs = 0;
        for (int round = 0; round < 2; round++) { // the second round, compiled, is the one reported
            KernelMemory translateOnly = k.memory().bulk();
            t0 = System.nanoTime();
            for (long[] r : pfns) {
                for (long pfn = r[0]; pfn < r[1]; pfn++) {
                    sum += translateOnly.toGuestPaddr(vmemmap + pfn * structPage);
                }
            }
            translateNs = System.nanoTime() - t0;
        }

        int samples = 0;
        t0 = System.nanoTime();
        for (long[] r : pfns) {
            for (long pfn = r[0]; pfn < r[1]; pfn += 997) {
                sum -= k.memory().toGuestPaddr(vmemmap + pfn * structPage);
                samples++;
            }
        }
        long walkNs = System.nanoTime() - t0;

        String report = String.format(Locale.ROOT, "%s: %d struct pages (%d MiB of vmemmap): read %.0f ns per page"
                + " (%d page-table walks); translate alone %.1f ns per page (bulk reader); an uncached walk %.0f ns"
                + " (%d samples)%n", name, pages, pages * structPage >> 20, (double) readNs / pages, bulk.walks(),
                (double) translateNs / pages, (double) walkNs / samples, samples);
        System.out.print(report);
        sink = sum; // so the JIT keeps the loops
        Path out = Path.of("target", "kernel-vmemmap.txt");
        if (Files.isDirectory(out.getParent())) {
            Files.writeString(out, report, java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.APPEND);
        }
    }

    static volatile long sink;

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}

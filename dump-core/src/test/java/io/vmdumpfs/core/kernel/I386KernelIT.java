package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.testing.GuestFacts;
import io.vmdumpfs.core.testing.Drgn;
import io.vmdumpfs.core.testing.QemuFixture;
import io.vmdumpfs.core.testing.Readelf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The guest-kernel layer on the real i386 fixture (qemu-system-i386 pc, Debian 6.1 686-pae, KASLR on), judged by
 * sources that do not go through it: the guest's own uname, /proc/kallsyms and /proc/iomem lines (guest-facts.txt),
 * and libkdumpfile, which walks the guest's page tables itself, reading QEMU's own dump of the same stopped guest and
 * our vmcore.elf at the same kernel virtual addresses, and drgn reading our vmcore.elf through its PT_LOADs.
 */
class I386KernelIT {

    static final long PAGE_OFFSET = 0xc000_0000L;

    @TempDir
    Path tmp;

    @Test
    void kernel_i386Fixture_agreesWithTheGuestQemuAndLibkdumpfile() throws IOException {
        QemuFixture f = QemuFixture.i386();
        GuestFacts facts = f.guestFacts();
        try (GuestDump d = GuestDumps.open(f.core(), Optional.empty())) {
            GuestKernel k = GuestKernel.open(d);
            assertTrue(k.describe().get(0).startsWith("page tables: i386 PAE 3-level"), k.describe().toString());

            // init_uts_ns through the layer vs the guest's uname
            Utsname uts = k.utsname();
            assertEquals("Linux", uts.sysname());
            assertEquals(facts.release(), uts.release());
            assertEquals(facts.machine(), uts.machine());
            assertEquals(facts.nodename(), uts.nodename());
            assertEquals(facts.version(), uts.version());
            assertEquals(facts.domainname(), uts.domainname());

            // kallsyms in the dump vs the guest's /proc/kallsyms (_stext, panic, start_kernel, …)
            assertTrue(k.kallsyms().isPresent(), k.describe().toString());
            int listed = 0;
            for (String v : facts.values("kallsyms")) {
                String s = v.trim().split("\\s+")[2];
                assertEquals(hex(facts.kallsyms(s).getAsLong()), hex(k.symbol(s).orElse(-1)), s);
                listed++;
            }
            assertTrue(listed >= 5, "the guest listed its symbols: " + listed);

            // the direct map: PAGE_OFFSET, confirmed by the tables; the image lies in it where /proc/iomem says
            DirectMap dm = k.directMap().orElseThrow();
            assertEquals(hex(PAGE_OFFSET), hex(dm.offset()), dm.evidence());
            assertTrue(dm.evidence().endsWith("confirmed by the page tables"), dm.evidence());
            long stext = k.symbol("_stext").getAsLong();
            assertEquals(hex(facts.iomem("Kernel code").get(0).guestPaddr()), hex(k.memory().toGuestPaddr(stext)));
            Translation image = k.imageMapping().orElseThrow();
            assertEquals(hex(stext), hex(image.kernelVaddr()));
            assertEquals(hex(facts.iomem("Kernel code").get(0).guestPaddr()), hex(image.guestPaddr()));

            // kernel virtual addresses: the image (window and tables agree), the direct map, and vmalloc ones that
            // only the page tables map
            PhysReader phys = PhysReader.direct(d.memory(), d.platform().byteOrder());
            Map<String, Long> probes = new LinkedHashMap<>();
            for (String s : List.of("_stext", "panic", "init_uts_ns", "swapper_pg_dir", "contig_page_data", "prb")) {
                long v = k.symbol(s).orElseThrow(() -> new AssertionError("no symbol " + s));
                assertEquals(hex(v - PAGE_OFFSET), hex(k.addressSpace().tables().walk(v, phys).guestPaddrOf(v)), s);
                probes.put(s, v);
            }
            // direct-map addresses: the VMCOREINFO note (guest-physical, as the guest gave it QEMU), and mem_map's
            // value, a kernel pointer to the struct page array
            long note = Long.decode(facts.value("vmcoreinfo").split("\\s+")[0]);
            probes.put("direct map: the VMCOREINFO note", PAGE_OFFSET + note);
            long memMap = k.memory().readU32(k.vmcoreinfo().requireSymbol("mem_map"));
            assertTrue(Long.compareUnsigned(memMap, PAGE_OFFSET) > 0 && memMap < 0xd000_0000L, hex(memMap));
            probes.put("direct map: *mem_map", memMap);
            List<Long> vmalloc = vmallocAddresses(k, 3);
            assertEquals(3, vmalloc.size(), "vmap areas mapped to RAM");
            for (int i = 0; i < vmalloc.size(); i++) {
                probes.put("vmalloc " + i, vmalloc.get(i));
            }

            Path elf = writeTo(DumpFormat.ELF.open(d, FormatContext.uncached()), tmp.resolve("vmcore.elf"));
            // vmcore.elf: the image's PT_LOAD at _stext, and every RAM byte at PAGE_OFFSET + its guest-physical
            // address (all 256 MiB are low memory), but the BIOS ROM at 4 GiB - 256 KiB, beyond 32-bit reach: 0
            List<Readelf.Phdr> loads = Readelf.loads(elf);
            assertTrue(loads.stream().anyMatch(p -> p.vaddr() == stext && p.paddr() == stext - PAGE_OFFSET),
                    "a PT_LOAD at _stext: " + loads);
            for (Readelf.Phdr p : loads) {
                long want = p.paddr() < (1L << 30) ? p.paddr() + PAGE_OFFSET : 0;
                assertEquals(hex(want), hex(p.vaddr()), "p_vaddr of " + p);
            }

            // the same bytes: ours; QEMU's dump at the guest-physical address our walk gives (libkdumpfile reading
            // it physically: it has no virtual addresses); libkdumpfile walking the guest's page tables itself in
            // our vmcore.elf; drgn (no i386 page-table walk: through vmcore.elf's PT_LOADs) where they reach
            Map<Long, String> ours = new LinkedHashMap<>();
            Map<Long, Long> paddrs = new LinkedHashMap<>();
            for (long v : probes.values()) {
                ours.put(v, HexFormat.of().formatHex(k.memory().readBytes(v, PROBE_BYTES)));
                paddrs.put(v, k.memory().toGuestPaddr(v));
            }
            Map<Long, String> qemu = reader(f.qemuDumpElf(), "machphys", paddrs.values());
            Map<Long, String> libkdumpfile = reader(elf, "kvaddr-linux", probes.values());
            Map<Long, String> drgn = reader(elf, "drgn", probes.values());
            int drgnRead = 0;
            for (Map.Entry<String, Long> p : probes.entrySet()) {
                long v = p.getValue();
                String what = p.getKey() + " " + hex(v) + " (guest-physical " + hex(paddrs.get(v)) + "): ";
                String want = ours.get(v);
                assertTrue(!want.matches("(00)+"), what + "a probe of zeros proves little");
                assertEquals(want, qemu.get(paddrs.get(v)), what + "QEMU's dump");
                assertEquals(want, libkdumpfile.get(v), what + "libkdumpfile's walk of our vmcore.elf");
                if (!p.getKey().startsWith("vmalloc")) {
                    assertEquals(want, drgn.get(v), what + "drgn on our vmcore.elf");
                    drgnRead++;
                }
            }
            assertTrue(drgnRead >= 7, "drgn compared " + drgnRead);
        }
    }

    static final int PROBE_BYTES = 64;

    /**
     * Reads {@link #PROBE_BYTES} at each address with /usr/bin/python3: "machphys" and "kvaddr-linux" with
     * libkdumpfile (the latter with addrxlat.ostype=linux, so that it walks the guest's page tables from
     * swapper_pg_dir itself rather than taking the ELF headers' linear maps), "drgn" with drgn. Returns address to
     * hex bytes, or to "ERR …".
     */
    private Map<Long, String> reader(Path dump, String mode, java.util.Collection<Long> addresses)
            throws IOException {
        Drgn.requireModule(mode.equals("drgn") ? "drgn" : "kdumpfile",
                mode.equals("drgn") ? "python3-drgn" : "python3-libkdumpfile");
        Path script = Files.writeString(tmp.resolve("read.py"), """
                import sys
                path, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
                if mode == "drgn":
                    import drgn
                    p = drgn.Program()
                    p.set_core_dump(path)
                    read = lambda a: p.read(a, n)
                else:
                    import kdumpfile
                    k = kdumpfile.kdumpfile(file=path)
                    space = kdumpfile.KDUMP_MACHPHYSADDR
                    if mode == "kvaddr-linux":
                        k.attr["addrxlat.ostype"] = "linux"
                        space = kdumpfile.KDUMP_KVADDR
                    read = lambda a: k.read(space, a, n)
                for a in sys.argv[4:]:
                    try:
                        print(a, bytes(read(int(a, 16))).hex())
                    except Exception as e:
                        print(a, "ERR", type(e).__name__, str(e).replace("\\n", " "))
                """);
        List<String> cmd = new ArrayList<>(List.of(Drgn.PYTHON.toString(), script.toString(), dump.toString(), mode,
                Integer.toString(PROBE_BYTES)));
        addresses.forEach(a -> cmd.add(Long.toHexString(a)));
        Process proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            assertTrue(proc.waitFor(5, TimeUnit.MINUTES) && proc.exitValue() == 0, mode + ": " + out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        Map<Long, String> got = new LinkedHashMap<>();
        for (String line : out.strip().split("\n")) {
            String[] w = line.split(" ", 2);
            got.put(Long.parseUnsignedLong(w[0], 16), w[1]);
        }
        return got;
    }

    /**
     * Returns up to {@code n} vmalloc addresses whose first page the page tables map to guest RAM, from the kernel's
     * vmap_area_list (VMCOREINFO: SYMBOL(vmap_area_list), OFFSET(vmap_area.va_start), OFFSET(vmap_area.list)).
     */
    private static List<Long> vmallocAddresses(GuestKernel k, int n) {
        VmcoreInfoTable info = k.vmcoreinfo();
        long head = info.requireSymbol("vmap_area_list");
        long listOff = info.requireOffset("vmap_area.list");
        long startOff = info.requireOffset("vmap_area.va_start");
        List<Long> out = new ArrayList<>();
        long next = k.memory().readU32(head);
        for (int i = 0; i < 10_000 && next != head && out.size() < n; i++) {
            long area = next - listOff;
            long start = k.memory().readU32(area + startOff);
            next = k.memory().readU32(next);
            if (Long.compareUnsigned(start, 0xd000_0000L) < 0) {
                continue; // 256 MiB of RAM: the direct map ends at 0xd0000000, vmalloc starts 8 MiB later
            }
            try {
                long paddr = k.memory().toGuestPaddr(start + 0x40);
                if (k.guestMemory().blockIndexOf(paddr) >= 0
                        && nonZero(k.memory().readBytes(start + 0x40, PROBE_BYTES)) > 8) {
                    out.add(start + 0x40);
                }
            } catch (KernelAddressException e) {
                // a guard page or ioremap of MMIO: not a probe
            }
        }
        return out;
    }

    private static int nonZero(byte[] b) {
        int n = 0;
        for (byte x : b) {
            n += x != 0 ? 1 : 0;
        }
        return n;
    }

    private static Path writeTo(View view, Path file) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            long pos = 0;
            for (int n; (n = view.read(pos, buf.clear())) > 0; pos += n) {
                buf.flip();
                while (buf.hasRemaining()) {
                    out.write(buf);
                }
            }
            assertEquals(view.size(), pos);
        }
        return file;
    }

    private static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}

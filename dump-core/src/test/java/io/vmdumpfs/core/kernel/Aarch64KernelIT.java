package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.testing.Drgn;
import io.vmdumpfs.core.testing.GuestFacts;
import io.vmdumpfs.core.testing.Libkdumpfile;
import io.vmdumpfs.core.testing.QemuFixture;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The guest-kernel layer on the real aarch64 guest (Debian's 6.1 arm64 kernel on QEMU's virt board, KASLR on, 4 KiB
 * pages, 48-bit VA), judged by sources that do not go through it: the guest's own uname, /proc/kallsyms and
 * /proc/iomem lines (guest-facts.txt), QEMU's own dump of the same guest read by libkdumpfile, and drgn and
 * libkdumpfile reading kernel virtual addresses from our vmcore.elf with their own translation.
 */
class Aarch64KernelIT {

    @TempDir
    Path tmp;

    @Test
    void kernel_aarch64_agreesWithTheGuestQemusDumpAndTheReaders() throws IOException {
        QemuFixture f = QemuFixture.aarch64();
        GuestFacts facts = f.guestFacts();
        try (GuestDump d = GuestDumps.open(f.core(), Optional.empty())) {
            GuestKernel k = GuestKernel.open(d);
            VmcoreInfoTable vi = k.vmcoreinfo();
            long kimageVoffset = vi.requireNumber("kimage_voffset");

            // the image window: _stext where the guest's /proc/iomem put "Kernel code"
            long stext = vi.requireSymbol("_stext");
            long kernelCode = facts.iomem("Kernel code").get(0).guestPaddr();
            assertEquals(kernelCode, stext - kimageVoffset, "_stext - kimage_voffset is iomem's Kernel code");
            assertEquals(kernelCode, k.addressSpace().image().guestPaddrStart());
            assertTrue(k.addressSpace().tables().describe().startsWith("aarch64 4 KiB granule, 4-level, 48-bit VA"),
                    k.addressSpace().tables().describe());

            // kallsyms, read through the layer, against the guest's /proc/kallsyms
            Kallsyms ks = k.kallsyms().orElseThrow();
            for (String s : List.of("_stext", "panic", "start_kernel", "_etext")) {
                assertEquals(facts.kallsyms(s).orElseThrow(), ks.address(s).orElseThrow(), s);
            }

            // init_uts_ns: the guest's uname; the page tables map it where the image window says
            Utsname uts = k.utsname();
            assertEquals(facts.nodename(), uts.nodename());
            assertEquals(facts.release(), uts.release());
            assertEquals(facts.machine(), uts.machine());
            long initUts = vi.requireSymbol("init_uts_ns");
            assertEquals(initUts - kimageVoffset, k.addressSpace().tables().walk(initUts,
                    PhysReader.direct(d.memory(), d.platform().byteOrder())).guestPaddrOf(initUts));

            // the linear map: PAGE_OFFSET (-2^48) - PHYS_OFFSET, confirmed; mem_section's value lies in it
            DirectMap dm = k.directMap().orElseThrow();
            assertEquals(-(1L << 48) - vi.requireNumber("PHYS_OFFSET"), dm.offset());
            assertTrue(dm.evidence().contains("PHYS_OFFSET") && dm.evidence().endsWith("confirmed by the page tables"),
                    dm.evidence());
            long memSection = vi.requireSymbol("mem_section");
            long ramStart = facts.iomem("System RAM").get(0).guestPaddr();
            assertEquals(memSection - dm.offset(), k.memory().toGuestPaddr(memSection));
            assertEquals(List.of(), k.directMapConflicts(dm, d.memory().blocks()));

            // the image as vmcore.elf states it: from _stext to past "Kernel data" (iomem's end is _end - 1)
            Translation image = k.imageMapping().orElseThrow();
            long kernelDataEnd = facts.iomem("Kernel data").get(0).guestPaddrEnd() + 1;
            assertEquals(new Translation(stext, kernelCode, kernelDataEnd - kernelCode), image,
                    "[_stext, _end), as /proc/vmcore's kernel PT_LOAD (from _text) ends");

            // bytes at kernel virtual addresses, ours against QEMU's dump at the physical address the kernel implies
            Map<Long, Long> probes = new LinkedHashMap<>(); // kernelVaddr -> guestPaddr
            probes.put(stext, stext - kimageVoffset);
            probes.put(facts.kallsyms("panic").orElseThrow(), facts.kallsyms("panic").orElseThrow() - kimageVoffset);
            probes.put(initUts, initUts - kimageVoffset);
            probes.put(vi.requireSymbol("swapper_pg_dir"), vi.requireSymbol("swapper_pg_dir") - kimageVoffset);
            probes.put(memSection, memSection - dm.offset());
            probes.put(dm.kernelVaddrOf(kernelCode), kernelCode); // the image's linear-map alias
            probes.put(dm.kernelVaddrOf(initUts - kimageVoffset), initUts - kimageVoffset);
            // a page table outside the image: the level-1 table the linear map's level-0 entry points at
            long root = k.addressSpace().tables().rootGuestPaddr();
            long linearRam = dm.kernelVaddrOf(ramStart);
            long l0Entry = ByteBuffer.wrap(Libkdumpfile.read(f.qemuDumpElf(), Libkdumpfile.Space.MACHPHYS,
                    root + 8 * ((linearRam >>> 39) & 511), 8)).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(3, l0Entry & 3, "a table descriptor: 0x" + Long.toHexString(l0Entry));
            long pud = l0Entry & 0x0000_ffff_ffff_f000L;
            assertTrue(pud >= ramStart && pud < ramStart + f.memBytes(), Long.toHexString(pud));
            long pudEntries = pud + ((8 * ((linearRam >>> 30) & 511)) & -256L); // the 256 bytes with RAM's entry
            probes.put(dm.kernelVaddrOf(pudEntries), pudEntries);
            int len = 256;
            Map<Long, byte[]> ours = new LinkedHashMap<>();
            for (Map.Entry<Long, Long> p : probes.entrySet()) {
                byte[] got = k.memory().readBytes(p.getKey(), len);
                byte[] qemu = Libkdumpfile.read(f.qemuDumpElf(), Libkdumpfile.Space.MACHPHYS, p.getValue(), len);
                assertArrayEquals(qemu, got, "0x" + Long.toHexString(p.getKey()));
                assertTrue(nonZero(got), "0x" + Long.toHexString(p.getKey()) + " is all zero: a weak probe");
                ours.put(p.getKey(), got);
            }

            // real readers on our vmcore.elf: the same bytes at the same kernel virtual addresses
            Path elf = writeTo(DumpFormat.ELF.open(d, FormatContext.uncached()), tmp.resolve("vmcore.elf"));
            List<long[]> reads = new ArrayList<>();
            ours.keySet().forEach(v -> reads.add(new long[] {v, len}));
            Drgn.Facts drgn = Drgn.readKernel(elf, reads.toArray(long[][]::new));
            assertTrue(drgn.one("platform").startsWith("AARCH64 "), drgn.toString());
            for (Map.Entry<Long, byte[]> e : ours.entrySet()) {
                String key = Long.toHexString(e.getKey());
                String line = drgn.all("read").stream().filter(l -> l.startsWith(key + " ")).findFirst()
                        .orElseThrow(() -> new AssertionError("drgn did not read 0x" + key + ":\n" + drgn));
                assertEquals(HexFormat.of().formatHex(e.getValue()), line.substring(key.length() + 1),
                        "drgn at 0x" + key);
                assertArrayEquals(e.getValue(), Libkdumpfile.read(elf, Libkdumpfile.Space.KVADDR, e.getKey(), len),
                        "libkdumpfile at 0x" + key);
            }
        }
    }

    private static boolean nonZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return true;
            }
        }
        return false;
    }

    private static Path writeTo(View view, Path file) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            for (long off = 0; off < view.size(); ) {
                buf.clear();
                int n = view.read(off, buf);
                if (n <= 0) {
                    throw new IOException("view stopped at " + off + " of " + view.size());
                }
                buf.flip();
                while (buf.hasRemaining()) {
                    out.write(buf, off + buf.position());
                }
                off += n;
            }
        }
        return file;
    }
}

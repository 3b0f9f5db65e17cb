package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.elf.Elf64Phdr;
import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.elf.HostMemory;
import io.vmdumpfs.core.elf.ProcessCore;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * Finds the guest kernel's VMCOREINFO note. First the way QEMU's dump does: the vmcoreinfo device's state
 * ({@code FWCfgVMCoreInfo} inside {@code VMCoreInfoState}: host_format u16, guest_format u16, size u32, paddr u64 —
 * as the guest's qemu_fw_cfg driver wrote it), located by its shape in
 * QEMU's small writable mappings and confirmed by the note it points at. Failing that, by scanning guest RAM for the
 * note at page starts (the kernel allocates it page-aligned).
 *
 * <p>Byte orders: the note is the guest kernel's, in the guest's byte order; FWCfgVMCoreInfo is little-endian
 * whatever the guest (the fw_cfg interface defines it so, and QEMU's dump reads it with le*_to_cpu).
 */
public final class VmcoreInfoFinder {

    /** FW_CFG_VMCOREINFO_FORMAT_ELF. */
    static final int FORMAT_ELF = 1;
    static final byte[] NOTE_NAME = "VMCOREINFO\0\0".getBytes(StandardCharsets.ISO_8859_1);
    /** Read guest RAM in chunks this big when scanning. */
    static final int SCAN_CHUNK = 4 << 20;

    private VmcoreInfoFinder() {
    }

    /**
     * Returns the VMCOREINFO note, or empty when the guest never published one.
     *
     * @param near  a host address near QEMU's heap (e.g. the AddressSpace found by discovery), to scan from
     * @param order the guest's byte order, which the kernel wrote the note in
     */
    public static Optional<VmcoreInfo> find(ProcessCore core, GuestMemory guest, long near, ByteOrder order) {
        Optional<VmcoreInfo> v = fromDevice(core, guest, near, order);
        return v.isPresent() ? v : scanGuestRam(guest, order);
    }

    static Optional<VmcoreInfo> fromDevice(ProcessCore core, GuestMemory guest, long near, ByteOrder order) {
        HostMemory mem = core.memory();
        List<Integer> segs = new ArrayList<>();
        for (int i = 0; i < mem.segments().size(); i++) {
            Elf64Phdr ph = mem.segments().get(i);
            long len = mem.presentLength(i);
            if (ph.writable() && len >= 16 && len <= RamDiscovery.MAX_SCANNED_SEGMENT) {
                segs.add(i);
            }
        }
        // Device objects are malloc'ed from the main heap, which lies just above the executable (the AddressSpace
        // we found is in its .bss): scan nearest first, so the common case reads a few MiB, not every arena.
        segs.sort(Comparator.comparingLong(i -> Math.abs(mem.segments().get(i).pVaddr() - near)));
        for (int i : segs) {
            ByteBuffer b = mem.readSegment(i).order(ByteOrder.LITTLE_ENDIAN);
            // The struct is 8-aligned: since QEMU 2.12 it is the kernel's (unpacked) struct fw_cfg_vmcoreinfo after
            // a bool, so we test one 64-bit word per 8 bytes: host_format | guest_format << 16 | size << 32.
            for (int o = 0; o + 16 <= b.limit(); o += 8) {
                long w = b.getLong(o);
                int formats = (int) w;
                if (formats != FORMAT_ELF << 16 && formats != (FORMAT_ELF << 16 | FORMAT_ELF)) {
                    continue;
                }
                long size = w >>> 32;
                if (size < 24 || size > VmcoreInfo.MAX_NOTE_BYTES) {
                    continue;
                }
                Optional<VmcoreInfo> v = noteAt(guest, b.getLong(o + 8), (int) size, "vmcoreinfo device", order);
                if (v.isPresent()) {
                    return v;
                }
            }
        }
        return Optional.empty();
    }

    static Optional<VmcoreInfo> scanGuestRam(GuestMemory guest, ByteOrder order) {
        ByteBuffer buf = ByteBuffer.allocate(SCAN_CHUNK).order(order);
        for (GuestPhysBlock b : guest.blocks()) {
            long firstPage = (b.guestPaddrStart() + RamDiscovery.PAGE - 1) & -RamDiscovery.PAGE;
            for (long pa = firstPage; Long.compareUnsigned(pa, b.guestPaddrEnd()) < 0; pa += SCAN_CHUNK) {
                int len = (int) Math.min(SCAN_CHUNK, b.guestPaddrEnd() - pa);
                // A hole in the core holds zeros, never a note: a big guest stopped early is mostly holes, and
                // reading them through the page cache cost minutes for 1 TiB.
                if (guest.isHole(pa, len)) {
                    continue;
                }
                buf.clear();
                buf.limit(len);
                guest.read(pa, buf);
                for (int o = 0; o + 24 <= buf.position(); o += (int) RamDiscovery.PAGE) {
                    if (buf.getInt(o) == 11 && buf.getInt(o + 8) == 0
                            && Arrays.equals(buf.array(), o + 12, o + 24, NOTE_NAME, 0, 12)) {
                        Optional<VmcoreInfo> v = noteAt(guest, pa + o, VmcoreInfo.MAX_NOTE_BYTES, "guest RAM scan",
                                order);
                        if (v.isPresent()) {
                            return v;
                        }
                    }
                }
            }
        }
        return Optional.empty();
    }

    /**
     * Returns the note at {@code paddr} if it is a well-formed VMCOREINFO note in {@code order} within
     * {@code maxSize} bytes whose text starts like the kernel's ("OSRELEASE=").
     */
    static Optional<VmcoreInfo> noteAt(GuestMemory guest, long paddr, int maxSize, String source, ByteOrder order) {
        if (guest.blockIndexOf(paddr) < 0) {
            return Optional.empty();
        }
        ByteBuffer h = ByteBuffer.allocate(24);
        if (readAll(guest, paddr, h) < 24) {
            return Optional.empty();
        }
        ElfNotes.Header header = ElfNotes.header(h, 0, order);
        if (header.namesz() != 11 || header.type() != 0 || !Arrays.equals(h.array(), 12, 24, NOTE_NAME, 0, 12)) {
            return Optional.empty();
        }
        long total = header.size();
        if (header.descsz() < 10 || total > maxSize) {
            return Optional.empty();
        }
        ByteBuffer note = ByteBuffer.allocate((int) total);
        if (readAll(guest, paddr, note) < total) {
            return Optional.empty();
        }
        byte[] bytes = note.array();
        if (!new String(bytes, 24, 10, StandardCharsets.ISO_8859_1).equals("OSRELEASE=")) {
            return Optional.empty();
        }
        return Optional.of(new VmcoreInfo(bytes, paddr, source, order));
    }

    private static int readAll(GuestMemory guest, long paddr, ByteBuffer dst) {
        long pa = paddr;
        while (dst.hasRemaining()) {
            if (guest.blockIndexOf(pa) < 0) {
                break;
            }
            pa += guest.read(pa, dst);
        }
        return dst.position();
    }
}

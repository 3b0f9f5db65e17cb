package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.elf.DataRuns;
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
 * QEMU's writable mappings and confirmed by the note it points at. Machines without fw_cfg (s390-ccw-virtio, pseries)
 * have no such device; failing it, guest RAM is scanned for the note at page starts (the kernel allocates it
 * page-aligned).
 *
 * <p>Byte orders: FWCfgVMCoreInfo is little-endian whatever the guest (the fw_cfg interface defines it so, and QEMU's
 * dump reads it with le*_to_cpu). The note is the guest kernel's, in the byte order the guest ran in: its header is
 * read in the order in which {@code n_namesz} is 11, and that order is reported ({@link VmcoreInfo#byteOrder()}) as
 * the best evidence of the guest's byte order there is ({@link PlatformFinder}).
 *
 * <p>Cost: the device scan reads QEMU's writable mappings that are not guest RAM, nearest the heap first, in chunks
 * (QEMU's main heap exceeds 64 MiB under TCG); the RAM scan reads guest RAM up to the note.
 */
public final class VmcoreInfoFinder {

    /** FW_CFG_VMCOREINFO_FORMAT_ELF. */
    static final int FORMAT_ELF = 1;
    static final byte[] NOTE_NAME = "VMCOREINFO\0\0".getBytes(StandardCharsets.ISO_8859_1);
    /** Read guest RAM, and QEMU's mappings, in chunks this big when scanning. */
    static final int SCAN_CHUNK = 4 << 20;
    /**
     * Mappings larger than this are not searched for the device: QEMU's main heap (65 MiB for a 256 MiB arm64 guest
     * under TCG) and malloc arenas are smaller; TCG's translation buffer (1 GiB by default) and guest RAM are not.
     */
    static final long MAX_DEVICE_SEGMENT = 256L << 20;

    private VmcoreInfoFinder() {
    }

    /**
     * Returns the VMCOREINFO note, or empty when the guest never published one.
     *
     * @param near a host address near QEMU's heap (e.g. the AddressSpace found by discovery), to scan from
     */
    public static Optional<VmcoreInfo> find(ProcessCore core, GuestMemory guest, long near) {
        Optional<VmcoreInfo> v = fromDevice(core, guest, near);
        return v.isPresent() ? v : scanGuestRam(guest);
    }

    static Optional<VmcoreInfo> fromDevice(ProcessCore core, GuestMemory guest, long near) {
        HostMemory mem = core.memory();
        List<Integer> segs = new ArrayList<>();
        for (int i = 0; i < mem.segments().size(); i++) {
            Elf64Phdr ph = mem.segments().get(i);
            long len = mem.presentLength(i);
            // Executable writable mappings are TCG's translation buffer, never the heap.
            if (ph.writable() && (ph.pFlags() & Elf64Phdr.PF_X) == 0 && len >= 16 && len <= MAX_DEVICE_SEGMENT
                    && !holdsGuestRam(guest, ph)) {
                segs.add(i);
            }
        }
        // Device objects are malloc'ed from the main heap, which lies just above the executable (the AddressSpace
        // we found is in its .bss): scan nearest first, so the common case reads a few MiB, not every arena.
        segs.sort(Comparator.comparingLong(i -> Math.abs(mem.segments().get(i).pVaddr() - near)));
        DataRuns file = mem.file().dataRuns();
        Scan scan = new Scan();
        for (int i : segs) {
            long base = mem.segments().get(i).pVaddr();
            long fileOffset = mem.segments().get(i).pOffset();
            long len = mem.presentLength(i) & ~7L;
            // Only the parts the core holds as data: a hole holds zeros, never the struct. (A guest that never ran
            // has no device state, so every mapping is scanned; a third of QEMU's for a 1 TiB guest are holes.)
            for (int r = file.firstRunEndingAfter(fileOffset); r < file.runCount()
                    && file.start(r) < fileOffset + len; r++) {
                long from = Math.max(0, file.start(r) - fileOffset) & ~7L;
                // 8 bytes past the run, so that a struct whose last word is zero is still seen whole
                long to = Math.min(len, file.end(r) - fileOffset + 8);
                Optional<VmcoreInfo> v = scan.device(mem, guest, fileOffset, from, to);
                if (v.isPresent()) {
                    return v;
                }
            }
        }
        return Optional.empty();
    }

    /**
     * The device scan's buffers, allocated once: a direct buffer the core is read into (a read, not a mapping: a
     * mapped chunk costs a page fault per page) and the words copied out of it, tested in a plain array loop. A mount's
     * JVM runs this cold, and a 1 TiB guest that never ran has no device state to stop at: 110 MiB of QEMU's memory to
     * scan took 0.5 s through mapped chunks and ByteBuffer.getLong.
     */
    private static final class Scan {
        private final ByteBuffer buf = ByteBuffer.allocateDirect(SCAN_CHUNK + 8).order(ByteOrder.LITTLE_ENDIAN);
        private final long[] words = new long[(SCAN_CHUNK + 8) >> 3];

        /**
         * Scans the core's bytes [fileOffset + from, fileOffset + to) of a mapping (8-aligned offsets, inside the
         * file) for the device's state.
         */
        Optional<VmcoreInfo> device(HostMemory mem, GuestMemory guest, long fileOffset, long from, long to) {
            // Chunks overlap by 8 bytes so that a struct across a chunk boundary is still seen whole.
            for (long at = from; at + 16 <= to; at += SCAN_CHUNK) {
                int n = (int) (Math.min(SCAN_CHUNK + 8L, to - at) >> 3);
                buf.clear().limit(n << 3);
                mem.file().readFully(fileOffset + at, buf);
                buf.flip().asLongBuffer().get(words, 0, n);
                // The struct is 8-aligned: since QEMU 2.12 it is the kernel's (unpacked) struct fw_cfg_vmcoreinfo
                // after a bool, so we test one 64-bit word per 8 bytes: host_format | guest_format << 16 | size << 32.
                for (int k = 0; k + 1 < n; k++) {
                    long w = words[k];
                    if (((int) w & ~FORMAT_ELF) != FORMAT_ELF << 16) {
                        continue; // guest_format ELF, host_format ELF or none
                    }
                    long size = w >>> 32;
                    if (size < 24 || size > VmcoreInfo.MAX_NOTE_BYTES) {
                        continue;
                    }
                    Optional<VmcoreInfo> v = noteAt(guest, words[k + 1], (int) size, "vmcoreinfo device");
                    if (v.isPresent()) {
                        return v;
                    }
                }
            }
            return Optional.empty();
        }
    }

    /** Returns true when mapping {@code ph} holds some of the guest's RAM (no QEMU object lives there). */
    static boolean holdsGuestRam(GuestMemory guest, Elf64Phdr ph) {
        for (GuestPhysBlock b : guest.blocks()) {
            if (Long.compareUnsigned(b.hostVaddr(), ph.vaddrEnd()) < 0
                    && Long.compareUnsigned(ph.pVaddr(), b.hostVaddr() + b.size()) < 0) {
                return true;
            }
        }
        return false;
    }

    static Optional<VmcoreInfo> scanGuestRam(GuestMemory guest) {
        ByteBuffer buf = ByteBuffer.allocate(SCAN_CHUNK);
        // Only the runs the core holds as data: a hole holds zeros, never a note. A big guest stopped early is mostly
        // holes: reading them through the page cache cost minutes for 1 TiB, asking for each chunk whether it is
        // one a third of a second.
        for (GuestMemory.Range run : guest.dataRuns()) {
            long pa = run.guestPaddrStart() & -RamDiscovery.PAGE;
            while (Long.compareUnsigned(pa, run.guestPaddrEnd()) < 0) {
                int bi = guest.blockIndexOf(pa);
                if (bi < 0) { // the run's first page starts before its block: from the block's first whole page
                    pa = (run.guestPaddrStart() + RamDiscovery.PAGE - 1) & -RamDiscovery.PAGE;
                    if (guest.blockIndexOf(pa) < 0) {
                        break;
                    }
                    continue;
                }
                GuestPhysBlock b = guest.blocks().get(bi);
                long end = Long.compareUnsigned(b.guestPaddrEnd(), run.guestPaddrEnd()) < 0 ? b.guestPaddrEnd()
                        : run.guestPaddrEnd();
                int len = (int) Math.min(SCAN_CHUNK, end - pa);
                buf.clear();
                buf.limit(len);
                guest.read(pa, buf);
                for (int o = 0; o + 24 <= buf.position(); o += (int) RamDiscovery.PAGE) {
                    // n_namesz == 11 in either byte order, n_type == 0, then the name.
                    int namesz = buf.getInt(o);
                    if ((namesz == 11 || namesz == 11 << 24) && buf.getInt(o + 8) == 0
                            && Arrays.equals(buf.array(), o + 12, o + 24, NOTE_NAME, 0, 12)) {
                        Optional<VmcoreInfo> v = noteAt(guest, pa + o, VmcoreInfo.MAX_NOTE_BYTES, "guest RAM scan");
                        if (v.isPresent()) {
                            return v;
                        }
                    }
                }
                pa += len;
            }
        }
        return Optional.empty();
    }

    /**
     * Returns the note at {@code paddr} if it is a well-formed VMCOREINFO note within {@code maxSize} bytes whose text
     * starts like the kernel's ("OSRELEASE="), read in the byte order in which its n_namesz is 11.
     */
    static Optional<VmcoreInfo> noteAt(GuestMemory guest, long paddr, int maxSize, String source) {
        if (guest.blockIndexOf(paddr) < 0) {
            return Optional.empty();
        }
        ByteBuffer h = ByteBuffer.allocate(24);
        if (readAll(guest, paddr, h) < 24) {
            return Optional.empty();
        }
        ByteOrder order = h.order(ByteOrder.LITTLE_ENDIAN).getInt(0) == 11 ? ByteOrder.LITTLE_ENDIAN
                : ByteOrder.BIG_ENDIAN;
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

package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.Elf64Phdr;
import io.vmdumpfs.core.elf.HostMemory;
import io.vmdumpfs.core.elf.MappedFile;
import io.vmdumpfs.core.elf.ProcessCore;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;

/**
 * Finds guest RAM in a QEMU process core without debug symbols, along the chain QEMU itself uses
 * ({@code dump-guest-memory.py}, {@code guest_phys_blocks_append}): the AddressSpace named "memory" → its current
 * FlatView → the RAM FlatRanges → MemoryRegion → RAMBlock → host address → core file offset.
 *
 * <p>{@code address_space_memory} is a global of the QEMU binary, so the scan first reads only the binary's writable
 * data and bss (a few MiB, whatever the guest's size); other small writable mappings (malloc arenas) are read only if
 * that fails. Guest RAM and TCG buffers are never scanned.
 */
public final class RamDiscovery {

    /** The AddressSpace name QEMU gives {@code address_space_memory}. */
    static final String MEMORY_AS_NAME = "memory";
    /** QEMU's FlatViews have tens of ranges; a million means we are reading garbage. */
    static final long MAX_FLAT_RANGES = 1 << 20;
    /** malloc arenas are at most 64 MiB (HEAP_MAX_SIZE); bigger writable mappings are guest RAM or TCG buffers. */
    static final long MAX_SCANNED_SEGMENT = 64L << 20;
    static final long PAGE = 4096;

    /** The result: merged blocks, the layout that validated, and where the AddressSpace was. */
    public record Result(List<GuestPhysBlock> blocks, QemuLayout layout, long addressSpaceVaddr) {
    }

    private final ProcessCore core;
    private final HostMemory mem;
    /** The most specific reason a candidate failed, for the error message when none succeeds. */
    private final Set<String> failures = new LinkedHashSet<>();

    private RamDiscovery(ProcessCore core) {
        this.core = core;
        this.mem = core.memory();
    }

    /**
     * Returns the guest's RAM blocks.
     *
     * @throws BadCoreException UNSUPPORTED for a core of another program, MISSING when the RAM was not dumped,
     *                          CORRUPT when QEMU's structures are found but inconsistent
     */
    public static Result discover(ProcessCore core) {
        return new RamDiscovery(core).run();
    }

    private Result run() {
        List<Integer> exeSegs = executableDataSegments();
        List<Long> candidates = findAddressSpaces(exeSegs);
        if (candidates.isEmpty()) {
            List<Integer> others = new ArrayList<>();
            for (int i = 0; i < mem.segments().size(); i++) {
                Elf64Phdr ph = mem.segments().get(i);
                if (ph.writable() && !exeSegs.contains(i) && mem.presentLength(i) > 0
                        && mem.presentLength(i) <= MAX_SCANNED_SEGMENT) {
                    others.add(i);
                }
            }
            candidates = findAddressSpaces(others);
        }
        if (candidates.isEmpty()) {
            String prog = core.programName().orElse("?");
            if (!prog.toLowerCase().contains("qemu") && !prog.contains("kvm")) {
                throw new BadCoreException(Kind.UNSUPPORTED, core.path(), "core of '" + prog
                        + "', not of a QEMU process (no \"memory\" AddressSpace found)");
            }
            throw new BadCoreException(Kind.CORRUPT, core.path(), "no QEMU \"memory\" AddressSpace found in the core"
                    + " of '" + prog + "'; pass the block table with --blocks FILE");
        }
        BadCoreException missing = null;
        for (long as : candidates) {
            for (QemuLayout layout : QemuLayout.KNOWN) {
                try {
                    List<GuestPhysBlock> blocks = walk(as, layout);
                    if (blocks != null) {
                        return new Result(blocks, layout, as);
                    }
                } catch (BadCoreException e) {
                    if (e.kind() != Kind.MISSING) {
                        throw e;
                    }
                    missing = e;
                }
            }
        }
        if (missing != null) {
            throw missing;
        }
        throw new BadCoreException(Kind.CORRUPT, core.path(), "QEMU's memory map is inconsistent: "
                + String.join("; ", failures.stream().limit(3).toList()));
    }

    /**
     * Returns the indexes of the writable segments of the QEMU executable (.data, .bss, and the anonymous tail of
     * .bss that follows them), found through NT_FILE and AT_ENTRY. Empty when the core lacks those notes.
     */
    private List<Integer> executableDataSegments() {
        List<MappedFile> files = core.mappedFiles();
        String exe = core.executablePath().orElse(null);
        List<Integer> out = new ArrayList<>();
        if (exe == null) {
            return out;
        }
        List<Elf64Phdr> segs = mem.segments();
        for (MappedFile f : files) {
            if (!f.path().equals(exe)) {
                continue;
            }
            for (int i = 0; i < segs.size(); i++) {
                Elf64Phdr ph = segs.get(i);
                if (ph.writable() && ph.pVaddr() >= f.start() && ph.pVaddr() < f.end() && !out.contains(i)) {
                    out.add(i);
                    // .bss continues past the file mapping as anonymous memory right after it.
                    if (i + 1 < segs.size() && segs.get(i + 1).pVaddr() == ph.vaddrEnd()
                            && segs.get(i + 1).writable() && mem.presentLength(i + 1) <= MAX_SCANNED_SEGMENT) {
                        out.add(i + 1);
                    }
                }
            }
        }
        return out;
    }

    /**
     * Returns the host addresses of AddressSpace candidates in the given segments: name → "memory", and
     * current_map → a FlatView whose root equals the AddressSpace's root.
     */
    private List<Long> findAddressSpaces(List<Integer> segIndexes) {
        QemuLayout l = QemuLayout.QEMU_6_2_TO_10;
        List<Long> found = new ArrayList<>();
        for (int si : segIndexes) {
            if (mem.presentLength(si) < l.asCurrentMap() + 8) {
                continue;
            }
            long[] w = longs(mem.readSegment(si));
            long base = mem.segments().get(si).pVaddr();
            int nameIdx = l.asName() / 8;
            int rootIdx = l.asRoot() / 8;
            int mapIdx = l.asCurrentMap() / 8;
            for (int i = 0; i + mapIdx < w.length; i++) {
                long name = w[i + nameIdx];
                long root = w[i + rootIdx];
                long map = w[i + mapIdx];
                // Cheap filters first: all three are malloc'ed, so non-null, 8-aligned and in writable memory.
                if (name == 0 || root == 0 || map == 0 || ((name | root | map) & 7) != 0) {
                    continue;
                }
                if (!mem.isWritable(map) || !mem.isWritable(root) || !mem.isWritable(name)) {
                    continue;
                }
                if (!MEMORY_AS_NAME.equals(mem.cString(name, 16))) {
                    continue;
                }
                long as = base + 8L * i;
                if (!mem.isPresent(map + l.fvRoot(), 8) || mem.u64(map + l.fvRoot()) != root) {
                    failures.add("AddressSpace at 0x" + Long.toHexString(as) + ": FlatView root differs");
                    continue;
                }
                found.add(as);
            }
        }
        return found;
    }

    /** Walks one AddressSpace with one layout; returns null (and notes why) when a hop doesn't validate. */
    private List<GuestPhysBlock> walk(long as, QemuLayout l) {
        String where = "AddressSpace 0x" + Long.toHexString(as) + " (" + l.name() + ")";
        long fv = mem.u64(as + l.asCurrentMap());
        long ranges = mem.u64(fv + l.fvRanges());
        long nr = Integer.toUnsignedLong(mem.read(fv + l.fvNr(), 4).getInt(0));
        if (nr == 0 || nr > MAX_FLAT_RANGES) {
            failures.add(where + ": FlatView has " + nr + " ranges");
            return null;
        }
        if (!mem.isPresent(ranges, nr * l.frStride())) {
            failures.add(where + ": FlatView ranges at 0x" + Long.toHexString(ranges) + " not in the core");
            return null;
        }
        ByteBuffer fr = mem.read(ranges, (int) (nr * l.frStride()));
        List<GuestPhysBlock> blocks = new ArrayList<>();
        List<Long> blockMr = new ArrayList<>();
        long missingBytes = 0;
        long firstMissing = -1;
        long prevEnd = 0;
        for (int i = 0; i < nr; i++) {
            int o = i * l.frStride();
            long mr = fr.getLong(o);
            long offsetInRegion = fr.getLong(o + l.frOffsetInRegion());
            long start = fr.getLong(o + l.frStart());
            long startHi = fr.getLong(o + l.frStart() + 8);
            long size = fr.getLong(o + l.frSize());
            long sizeHi = fr.getLong(o + l.frSize() + 8);
            String rw = where + ", FlatRange " + i;
            if (startHi != 0 || (sizeHi != 0 && !(sizeHi == 1 && size == 0)) || (size == 0 && sizeHi == 0)) {
                failures.add(rw + ": address range beyond 64 bits");
                return null;
            }
            if (i > 0 && Long.compareUnsigned(start, prevEnd) < 0) {
                failures.add(rw + ": ranges not sorted");
                return null;
            }
            prevEnd = start + size;
            if (Long.compareUnsigned(mr - ranges, nr * l.frStride()) < 0) {
                failures.add(rw + ": MemoryRegion pointer 0x" + Long.toHexString(mr) + " lies inside the FlatRange array");
                return null;
            }
            if (!mem.isPresent(mr, mrBytes(l))) {
                failures.add(rw + ": MemoryRegion 0x" + Long.toHexString(mr) + " not in the core");
                return null;
            }
            ByteBuffer m = mem.read(mr, mrBytes(l));
            int ram = Byte.toUnsignedInt(m.get(l.mrRam()));
            int nonvolatile = Byte.toUnsignedInt(m.get(l.mrNonvolatile()));
            if (ram > 1 || nonvolatile > 1) {
                failures.add(rw + ": MemoryRegion flags are not booleans");
                return null;
            }
            if (ram == 0) {
                continue;
            }
            // A RAM range must end inside the 64-bit address space: a block cannot wrap past 2^64 (or end at it).
            if (sizeHi != 0 || Long.compareUnsigned(start + size, start) <= 0) {
                failures.add(rw + ": RAM range wraps past the end of the address space");
                return null;
            }
            long rb = m.getLong(l.mrRamBlock());
            if (rb == 0 || !mem.isPresent(rb, l.rbIdstr() + QemuLayout.IDSTR_LEN)) {
                failures.add(rw + ": RAM region without a readable RAMBlock");
                return null;
            }
            ByteBuffer r = mem.read(rb, l.rbIdstr() + QemuLayout.IDSTR_LEN);
            if (r.getLong(l.rbMr()) != mr) {
                failures.add(rw + ": RAMBlock 0x" + Long.toHexString(rb) + " does not point back to its region");
                return null;
            }
            long host = r.getLong(l.rbHost());
            long used = r.getLong(l.rbUsedLength());
            long max = r.getLong(l.rbMaxLength());
            // QEMU mmaps each RAMBlock on its own (qemu_ram_mmap, with a guard page after it), so its host
            // address starts a mapping in the core; a host pointer inside some other mapping would serve shifted
            // memory. (No mapping at all is different: gdb leaves MADV_DONTDUMP RAM out entirely; see below.)
            if (mem.isMapped(host) && !mem.isMappingStart(host)) {
                failures.add(rw + ": RAMBlock host 0x" + Long.toHexString(host) + " does not start a mapping");
                return null;
            }
            if ((host & (PAGE - 1)) != 0 || (used & (PAGE - 1)) != 0 || Long.compareUnsigned(used, max) > 0
                    || used == 0) {
                failures.add(rw + ": RAMBlock sizes or host address not page-aligned");
                return null;
            }
            if (Long.compareUnsigned(offsetInRegion, used) > 0 || Long.compareUnsigned(size, used - offsetInRegion) > 0) {
                failures.add(rw + ": range exceeds its RAMBlock's used_length");
                return null;
            }
            String idstr = cString(r, l.rbIdstr());
            if (idstr == null) {
                failures.add(rw + ": RAMBlock idstr is not a string");
                return null;
            }
            OptionalLong ramDevice = ramDeviceFlag(m, l, used);
            if (ramDevice.isEmpty()) {
                failures.add(rw + ": MemoryRegion size does not match its RAMBlock");
                return null;
            }
            // QEMU's own rule (guest_phys_blocks_region_add): RAM, but not ram_device, not nonvolatile.
            if (ramDevice.getAsLong() != 0 || nonvolatile != 0) {
                continue;
            }
            long hostAddr = host + offsetInRegion;
            long fileOffset = mem.fileOffsetOf(hostAddr, size);
            if (fileOffset < 0) {
                missingBytes += size;
                if (firstMissing < 0) {
                    firstMissing = hostAddr;
                }
                continue;
            }
            int lastIdx = blocks.size() - 1;
            if (lastIdx >= 0) {
                GuestPhysBlock p = blocks.get(lastIdx);
                // Merge exactly like QEMU: same region, contiguous in guest-physical and in host address space.
                if (p.guestPaddrEnd() == start && p.hostVaddr() + p.size() == hostAddr && blockMr.get(lastIdx) == mr
                        && p.fileOffset() + p.size() == fileOffset) {
                    blocks.set(lastIdx, new GuestPhysBlock(p.guestPaddrStart(), start + size, p.hostVaddr(),
                            p.fileOffset(), p.name()));
                    continue;
                }
            }
            blocks.add(new GuestPhysBlock(start, start + size, hostAddr, fileOffset, idstr));
            blockMr.add(mr);
        }
        if (missingBytes > 0) {
            throw new BadCoreException(Kind.MISSING, core.path(), "guest RAM was not dumped ("
                    + (missingBytes >> 20) + " MiB missing, first at host 0x" + Long.toHexString(firstMissing)
                    + "); next time run QEMU with -machine dump-guest-core=on (libvirt: <memory dumpCore='on'/>)"
                    + " and keep bits 0-1 of /proc/PID/coredump_filter set");
        }
        if (blocks.isEmpty()) {
            failures.add(where + ": no RAM ranges");
            return null;
        }
        return blocks;
    }

    /**
     * Returns MemoryRegion.ram_device, located relative to MemoryRegion.size (which must equal the RAMBlock's
     * used_length for a plain RAM region, or be at least it), or empty when no candidate offset validates.
     */
    private static OptionalLong ramDeviceFlag(ByteBuffer m, QemuLayout l, long used) {
        for (int sizeOff : l.mrSizeCandidates()) {
            long lo = m.getLong(sizeOff);
            long hi = m.getLong(sizeOff + 8);
            // size, addr, destructor, align precede terminates; ram_device follows it.
            int terminates = sizeOff + 40;
            if (hi == 0 && lo != 0 && Long.compareUnsigned(lo, used) <= 0 && (lo & (PAGE - 1)) == 0
                    && m.get(terminates) == 1) {
                int flag = Byte.toUnsignedInt(m.get(terminates + 1));
                if (flag <= 1) {
                    return OptionalLong.of(flag);
                }
            }
        }
        return OptionalLong.empty();
    }

    /** Returns how much of a MemoryRegion the walk reads: up to ram_device, 41 bytes past the last size candidate. */
    private static int mrBytes(QemuLayout l) {
        int n = l.mrRamBlock() + 8;
        for (int sizeOff : l.mrSizeCandidates()) {
            n = Math.max(n, sizeOff + 42);
        }
        return n;
    }

    private static long[] longs(ByteBuffer b) {
        long[] w = new long[b.limit() / 8];
        b.asLongBuffer().get(w);
        return w;
    }

    private static String cString(ByteBuffer b, int off) {
        StringBuilder sb = new StringBuilder();
        for (int k = 0; k < QemuLayout.IDSTR_LEN; k++) {
            int c = Byte.toUnsignedInt(b.get(off + k));
            if (c == 0) {
                return sb.length() == 0 ? null : sb.toString();
            }
            if (c < 0x20 || c > 0x7e) {
                return null;
            }
            sb.append((char) c);
        }
        return null;
    }
}

package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.Elf64Phdr;
import io.vmdumpfs.core.elf.HostExtent;
import io.vmdumpfs.core.elf.HostMemory;
import io.vmdumpfs.core.elf.MappedFile;
import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.guest.Hop.Failed;
import io.vmdumpfs.core.guest.QemuLayout.FlatRangeLayout;
import io.vmdumpfs.core.guest.QemuLayout.MemoryRegionLayout;
import io.vmdumpfs.core.guest.QemuLayout.RamBlockLayout;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Finds guest RAM in a QEMU process core without debug symbols, along the chain QEMU itself uses
 * ({@code dump-guest-memory.py}, {@code guest_phys_blocks_append}): the AddressSpace named "memory" → its current
 * FlatView → the RAM FlatRanges → MemoryRegion → RAMBlock → host address → core file offset.
 *
 * <p>{@code address_space_memory} is a global of the QEMU binary, so the scan first reads only the binary's writable
 * data and bss (a few MiB, whatever the guest's size); other small writable mappings (malloc arenas) are read only if
 * that fails. Guest RAM and TCG buffers are never scanned.
 *
 * <p>One method per hop, each returning the structure it validated or the reason it did not ({@link Hop}):
 * {@link #addressSpace} → {@link #flatView} → {@link #flatRange} → {@link #memoryRegion} → {@link #ramBlock}, and
 * {@link #walk} strings them together for one AddressSpace and one {@link QemuLayout}. Every candidate AddressSpace
 * is walked with every known layout; the first walk whose every hop validates wins.
 *
 * <p>Guest RAM the core does not hold (a core cut short, a mapping the writer left without data or left out) does not
 * fail a walk: it is listed as {@link AbsentRange}s beside the blocks. A walk that finds all of the RAM wins at once;
 * of walks that find part of it, the one that holds the most, since a layout that does not fit can still validate
 * with a host pointer that leads nowhere. Discovery fails when no walk holds any RAM, or when QEMU's own structures
 * are what is missing, and then says so when the core is cut short.
 */
public final class RamDiscovery {

    /** The AddressSpace name QEMU gives {@code address_space_memory}. */
    static final String MEMORY_AS_NAME = "memory";
    /** QEMU's FlatViews have tens of ranges; a million means we are reading garbage. */
    static final long MAX_FLAT_RANGES = 1 << 20;
    /** malloc arenas are at most 64 MiB (HEAP_MAX_SIZE); bigger writable mappings are guest RAM or TCG buffers. */
    static final long MAX_SCANNED_SEGMENT = 64L << 20;
    static final long PAGE = 4096;
    /** How every message about a core cut short begins, so that none says it twice. */
    private static final String TRUNCATED = "core is truncated";

    /**
     * The result: the merged blocks the core holds, the guest RAM it does not (sorted, for {@link GuestMemory}), the
     * layout that validated, and where the AddressSpace was.
     */
    public record Result(List<GuestPhysBlock> blocks, List<AbsentRange> absent, QemuLayout layout,
            long addressSpaceVaddr) {

        public Result {
            blocks = List.copyOf(blocks);
            absent = List.copyOf(absent);
        }

        /** Returns the bytes of guest RAM the blocks hold. */
        long heldBytes() {
            long t = 0;
            for (GuestPhysBlock b : blocks) {
                t += b.size();
            }
            return t;
        }
    }

    /** What one walk found: the blocks held and the ranges absent. */
    private record Walked(List<GuestPhysBlock> blocks, List<AbsentRange> absent) {
    }

    /** An AddressSpace named "memory" whose current FlatView has the same root MemoryRegion as itself. */
    record AddressSpace(long hostVaddr, long root, long currentMap) {
    }

    /** A FlatView and its array of {@code nr} FlatRanges. */
    record FlatView(long hostVaddr, long ranges, int nr) {
    }

    /**
     * One FlatRange: {@code size} bytes of MemoryRegion {@code mr} from {@code offsetInRegion}, at guest-physical
     * {@code start}. A range of the whole 2^64 address space has {@code size == 0} and {@code wholeSpace}.
     */
    record FlatRange(int index, long mr, long offsetInRegion, long start, long size, boolean wholeSpace) {
    }

    /** A MemoryRegion's flags, its RAMBlock pointer, and its bytes for the size check against the RAMBlock. */
    record MemoryRegion(long hostVaddr, boolean ram, boolean nonvolatile, long ramBlock, ByteBuffer bytes) {
    }

    /** A RAMBlock that points back to its region, and whether QEMU's dump leaves its region out (ram_device). */
    record RamBlock(long hostVaddr, long host, long usedLength, String idstr, boolean ramDevice) {
    }

    private final ProcessCore core;
    private final HostMemory mem;

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
        // The reasons candidates failed, most specific first, for the error message when none succeeds.
        Set<String> reasons = new LinkedHashSet<>();
        List<Integer> exeSegs = executableDataSegments();
        List<AddressSpace> candidates = findAddressSpaces(exeSegs, reasons);
        if (candidates.isEmpty()) {
            List<Integer> others = new ArrayList<>();
            for (int i = 0; i < mem.segments().size(); i++) {
                Elf64Phdr ph = mem.segments().get(i);
                if (ph.writable() && !exeSegs.contains(i) && mem.presentLength(i) > 0
                        && mem.presentLength(i) <= MAX_SCANNED_SEGMENT) {
                    others.add(i);
                }
            }
            candidates = findAddressSpaces(others, reasons);
        }
        if (candidates.isEmpty()) {
            String prog = core.programName().orElse("?");
            if (!prog.toLowerCase().contains("qemu") && !prog.contains("kvm")) {
                throw new BadCoreException(Kind.UNSUPPORTED, core.path(), "core of '" + prog
                        + "', not of a QEMU process (no \"memory\" AddressSpace found)");
            }
            throw new BadCoreException(Kind.CORRUPT, core.path(), truncatedBefore("no QEMU \"memory\" AddressSpace"
                    + " found in the core of '" + prog + "'; pass the block table with --blocks FILE"));
        }
        Failed<?> missing = null;
        Result partial = null;
        for (AddressSpace as : candidates) {
            for (QemuLayout layout : QemuLayout.KNOWN) {
                Hop<Walked> walked = walk(as, layout);
                if (walked instanceof Hop.Found<Walked> found) {
                    Result r = new Result(found.value().blocks(), found.value().absent(), layout, as.hostVaddr());
                    if (r.absent().isEmpty()) {
                        return r;
                    }
                    // A walk that finds part of the RAM absent is kept, but another may find all of it: a layout
                    // that does not fit can still validate with a host pointer that leads nowhere.
                    if (partial == null || r.heldBytes() > partial.heldBytes()) {
                        partial = r;
                    }
                    continue;
                }
                Failed<?> failed = (Failed<?>) walked;
                if (failed.kind() == Kind.MISSING) {
                    missing = failed;
                } else {
                    reasons.add(failed.reason());
                }
            }
        }
        if (partial != null) {
            return partial;
        }
        // A walk that validated but found RAM absent says more than any walk that did not validate.
        if (missing != null) {
            throw new BadCoreException(Kind.MISSING, core.path(), truncatedBefore(missing.reason()));
        }
        throw new BadCoreException(Kind.CORRUPT, core.path(), truncatedBefore("QEMU's memory map is inconsistent: "
                + String.join("; ", reasons.stream().limit(3).toList())));
    }

    /**
     * Returns {@code problem}, led by the truncation when the core is cut short: QEMU's own structures may then be
     * what is missing, which no discovery can make up for.
     */
    private String truncatedBefore(String problem) {
        if (!core.isTruncated() || problem.startsWith(TRUNCATED)) {
            return problem;
        }
        return TRUNCATED + truncation() + "; guest RAM cannot be found in what is left: " + problem;
    }

    /** Returns " at offset 0x… (its program headers describe 0x… bytes)". */
    private String truncation() {
        return " at offset 0x" + Long.toHexString(core.file().size()) + " (its program headers describe 0x"
                + Long.toHexString(core.describedBytes()) + " bytes)";
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
     * Returns the AddressSpace candidates in the given segments: name → "memory", and current_map → a FlatView whose
     * root equals the AddressSpace's root. Adds the reason of each named "memory" that fails to {@code reasons}.
     */
    private List<AddressSpace> findAddressSpaces(List<Integer> segIndexes, Set<String> reasons) {
        // The scan's offsets are the same in every known layout: AddressSpace and FlatView did not change.
        QemuLayout.AddressSpaceLayout l = QemuLayout.QEMU_6_2_TO_10.addressSpace();
        List<AddressSpace> found = new ArrayList<>();
        for (int si : segIndexes) {
            if (mem.presentLength(si) < l.bytes()) {
                continue;
            }
            long[] w = longs(mem.readSegment(si));
            long base = mem.segments().get(si).pVaddr();
            int nameIdx = l.name() / 8;
            int rootIdx = l.root() / 8;
            int mapIdx = l.currentMap() / 8;
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
                Hop<AddressSpace> as = addressSpace(base + 8L * i, root, map, QemuLayout.QEMU_6_2_TO_10);
                if (as instanceof Hop.Found<AddressSpace> f) {
                    found.add(f.value());
                } else {
                    reasons.add(as.reason());
                }
            }
        }
        return found;
    }

    /** Hop 1: an AddressSpace named like the one we want is real when its FlatView renders its root. */
    private Hop<AddressSpace> addressSpace(long as, long root, long currentMap, QemuLayout l) {
        long fvRoot = currentMap + l.flatView().root();
        if (!mem.isPresent(fvRoot, 8) || !rendersRoot(mem, mem.u64(fvRoot), root, l.memoryRegion())) {
            return Hop.corrupt("AddressSpace at 0x" + Long.toHexString(as) + ": FlatView root differs");
        }
        return Hop.found(new AddressSpace(as, root, currentMap));
    }

    /** The container levels {@link #rendersRoot} climbs; QEMU's machines nest their RAM one or two levels deep. */
    static final int MAX_CONTAINER_DEPTH = 8;

    /**
     * Returns true when a FlatView whose root is {@code fvRoot} renders an AddressSpace whose root is
     * {@code asRoot}: the same region, or one the AddressSpace's root holds entirely. QEMU shares one FlatView among
     * AddressSpaces by rendering from {@code memory_region_get_flatview_root()}, which descends from the root into a
     * lone child that covers it; so on s390-ccw-virtio, whose "system" region holds nothing but "s390.ram", the
     * FlatView's root is s390.ram, whose container chain leads back to "system". (A FlatView shared through an
     * alias is not recognised: no machine's system memory is a lone alias.)
     */
    static boolean rendersRoot(HostMemory mem, long fvRoot, long asRoot, MemoryRegionLayout l) {
        if (fvRoot == asRoot) {
            return true;
        }
        for (int container : l.containerCandidates()) {
            long mr = fvRoot;
            for (int depth = 0; depth < MAX_CONTAINER_DEPTH && mr != 0 && (mr & 7) == 0; depth++) {
                if (!mem.isPresent(mr + container, 8)) {
                    break;
                }
                mr = mem.u64(mr + container);
                if (mr == asRoot) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Walks one AddressSpace with one layout to the merged guest RAM blocks the core holds and the ranges it does not,
     * or the first hop that failed. Absent RAM does not fail the walk unless all of it is absent.
     */
    private Hop<Walked> walk(AddressSpace as, QemuLayout l) {
        String where = "AddressSpace 0x" + Long.toHexString(as.hostVaddr()) + " (" + l.name() + ")";
        Hop<FlatView> view = flatView(as, l).at(where);
        FlatView fv = view.orNull();
        if (fv == null) {
            return view.failure();
        }
        FlatRangeLayout frl = l.flatRange();
        ByteBuffer frs = mem.read(fv.ranges(), fv.nr() * frl.stride());
        List<GuestPhysBlock> blocks = new ArrayList<>();
        List<Long> blockMr = new ArrayList<>();
        List<AbsentRange> absent = new ArrayList<>();
        long prevEnd = 0;
        for (int i = 0; i < fv.nr(); i++) {
            String rw = where + ", FlatRange " + i;
            Hop<FlatRange> rangeHop = flatRange(fv, frs, i, prevEnd, frl).at(rw);
            FlatRange fr = rangeHop.orNull();
            if (fr == null) {
                return rangeHop.failure();
            }
            prevEnd = fr.start() + fr.size();
            Hop<MemoryRegion> regionHop = memoryRegion(fr, fv, l).at(rw);
            MemoryRegion mr = regionHop.orNull();
            if (mr == null) {
                return regionHop.failure();
            }
            if (!mr.ram()) {
                continue;
            }
            Hop<RamBlock> blockHop = ramBlock(fr, mr, l).at(rw);
            RamBlock rb = blockHop.orNull();
            if (rb == null) {
                return blockHop.failure();
            }
            // QEMU's own rule (guest_phys_blocks_region_add): RAM, but not ram_device, not nonvolatile.
            if (rb.ramDevice() || mr.nonvolatile()) {
                continue;
            }
            long hostAddr = rb.host() + fr.offsetInRegion();
            // The range as the core holds it: present runs become blocks, the rest is absent, never zeros.
            for (HostExtent e : mem.extents(hostAddr, fr.size())) {
                long start = fr.start() + (e.hostVaddr() - hostAddr);
                long end = start + e.length();
                if (e.presence() != HostExtent.Presence.PRESENT) {
                    addAbsent(absent, new AbsentRange(start, end, e.hostVaddr(), e.fileOffset(), rb.idstr(),
                            why(e.presence())));
                    continue;
                }
                int lastIdx = blocks.size() - 1;
                if (lastIdx >= 0) {
                    GuestPhysBlock p = blocks.get(lastIdx);
                    // Merge exactly like QEMU: same region, contiguous in guest-physical and in host address space.
                    if (p.guestPaddrEnd() == start && p.hostVaddr() + p.size() == e.hostVaddr()
                            && blockMr.get(lastIdx) == fr.mr() && p.fileOffset() + p.size() == e.fileOffset()) {
                        blocks.set(lastIdx, new GuestPhysBlock(p.guestPaddrStart(), end, p.hostVaddr(),
                                p.fileOffset(), p.name()));
                        continue;
                    }
                }
                blocks.add(new GuestPhysBlock(start, end, e.hostVaddr(), e.fileOffset(), rb.idstr()));
                blockMr.add(fr.mr());
            }
        }
        if (blocks.isEmpty() && !absent.isEmpty()) {
            return Hop.missing(noneHeld(absent));
        }
        if (blocks.isEmpty()) {
            return Hop.corrupt(where + ": no RAM ranges");
        }
        return Hop.found(new Walked(blocks, absent));
    }

    /** Appends {@code a}, merged into the previous absent range when it continues it in every way. */
    private static void addAbsent(List<AbsentRange> absent, AbsentRange a) {
        AbsentRange p = absent.isEmpty() ? null : absent.get(absent.size() - 1);
        if (p != null && p.guestPaddrEnd() == a.guestPaddrStart() && p.hostVaddr() + p.size() == a.hostVaddr()
                && p.why() == a.why() && p.name().equals(a.name())
                && (p.fileOffset() < 0 ? a.fileOffset() < 0 : p.fileOffset() + p.size() == a.fileOffset())) {
            absent.set(absent.size() - 1, new AbsentRange(p.guestPaddrStart(), a.guestPaddrEnd(), p.hostVaddr(),
                    p.fileOffset(), p.name(), p.why()));
        } else {
            absent.add(a);
        }
    }

    private static AbsentRange.Why why(HostExtent.Presence p) {
        return switch (p) {
            case TRUNCATED -> AbsentRange.Why.TRUNCATED;
            case NOT_DUMPED -> AbsentRange.Why.NOT_DUMPED;
            case NOT_MAPPED -> AbsentRange.Why.NOT_MAPPED;
            case PRESENT -> throw new IllegalArgumentException("present is not absent");
        };
    }

    /** Returns why a core that holds none of the guest's RAM cannot be served, and what to do next time. */
    private String noneHeld(List<AbsentRange> absent) {
        long bytes = 0;
        for (AbsentRange a : absent) {
            bytes += a.size();
        }
        AbsentRange first = absent.get(0);
        if (absent.stream().anyMatch(a -> a.why() == AbsentRange.Why.TRUNCATED)) {
            return TRUNCATED + truncation() + " before any guest RAM (" + RamCoverage.size(bytes) + " missing)";
        }
        return "guest RAM was not dumped (" + RamCoverage.size(bytes) + " missing, first at host 0x"
                + Long.toHexString(first.hostVaddr()) + "); next time run QEMU with -machine dump-guest-core=on"
                + " (libvirt: <memory dumpCore='on'/>) and keep bits 0-1 of /proc/PID/coredump_filter set";
    }

    /** Hop 2: the AddressSpace's current FlatView, with a plausible number of ranges that are all in the core. */
    private Hop<FlatView> flatView(AddressSpace as, QemuLayout l) {
        QemuLayout.FlatViewLayout fl = l.flatView();
        long fv = as.currentMap();
        if (!mem.isPresent(fv + fl.ranges(), 8) || !mem.isPresent(fv + fl.nr(), 4)) {
            return Hop.missing("FlatView 0x" + Long.toHexString(fv) + " not in the core");
        }
        long ranges = mem.u64(fv + fl.ranges());
        long nr = Integer.toUnsignedLong(mem.read(fv + fl.nr(), 4).getInt(0));
        if (nr == 0 || nr > MAX_FLAT_RANGES) {
            return Hop.corrupt("FlatView has " + nr + " ranges");
        }
        if (!mem.isPresent(ranges, nr * l.flatRange().stride())) {
            return Hop.corrupt("FlatView ranges at 0x" + Long.toHexString(ranges) + " not in the core");
        }
        return Hop.found(new FlatView(fv, ranges, (int) nr));
    }

    /**
     * Hop 3: FlatRange {@code i} of {@code frs} (the FlatView's array as read): an address range inside the 64-bit
     * space, sorted after the previous one (which ended at {@code prevEnd}).
     */
    private static Hop<FlatRange> flatRange(FlatView fv, ByteBuffer frs, int i, long prevEnd, FlatRangeLayout l) {
        int o = i * l.stride();
        long mr = frs.getLong(o);
        long offsetInRegion = frs.getLong(o + l.offsetInRegion());
        long start = frs.getLong(o + l.start());
        long startHi = frs.getLong(o + l.start() + 8);
        long size = frs.getLong(o + l.size());
        long sizeHi = frs.getLong(o + l.size() + 8);
        boolean wholeSpace = sizeHi == 1 && size == 0;
        if (startHi != 0 || (sizeHi != 0 && !wholeSpace) || (size == 0 && sizeHi == 0)) {
            return Hop.corrupt("address range beyond 64 bits");
        }
        if (i > 0 && Long.compareUnsigned(start, prevEnd) < 0) {
            return Hop.corrupt("ranges not sorted");
        }
        return Hop.found(new FlatRange(i, mr, offsetInRegion, start, size, wholeSpace));
    }

    /** Hop 4: the range's MemoryRegion, outside the FlatRange array, in the core, with boolean flags. */
    private Hop<MemoryRegion> memoryRegion(FlatRange fr, FlatView fv, QemuLayout l) {
        MemoryRegionLayout ml = l.memoryRegion();
        long mr = fr.mr();
        if (Long.compareUnsigned(mr - fv.ranges(), (long) fv.nr() * l.flatRange().stride()) < 0) {
            return Hop.corrupt("MemoryRegion pointer 0x" + Long.toHexString(mr) + " lies inside the FlatRange array");
        }
        if (!mem.isPresent(mr, ml.bytes())) {
            return Hop.corrupt("MemoryRegion 0x" + Long.toHexString(mr) + " not in the core");
        }
        ByteBuffer m = mem.read(mr, ml.bytes());
        int ram = Byte.toUnsignedInt(m.get(ml.ram()));
        int nonvolatile = Byte.toUnsignedInt(m.get(ml.nonvolatile()));
        if (ram > 1 || nonvolatile > 1) {
            return Hop.corrupt("MemoryRegion flags are not booleans");
        }
        return Hop.found(new MemoryRegion(mr, ram == 1, nonvolatile == 1, m.getLong(ml.ramBlock()), m));
    }

    /**
     * Hop 5: the RAM region's RAMBlock: it points back to the region, its host memory starts a mapping, its sizes are
     * page multiples that hold the range, its idstr is a string, and the region's size agrees with it.
     */
    private Hop<RamBlock> ramBlock(FlatRange fr, MemoryRegion mr, QemuLayout l) {
        RamBlockLayout rl = l.ramBlock();
        // A RAM range must end inside the 64-bit address space: a block cannot wrap past 2^64 (or end at it).
        if (fr.wholeSpace() || Long.compareUnsigned(fr.start() + fr.size(), fr.start()) <= 0) {
            return Hop.corrupt("RAM range wraps past the end of the address space");
        }
        long rb = mr.ramBlock();
        if (rb == 0 || !mem.isPresent(rb, rl.bytes())) {
            return Hop.corrupt("RAM region without a readable RAMBlock");
        }
        ByteBuffer r = mem.read(rb, rl.bytes());
        if (r.getLong(rl.mr()) != mr.hostVaddr()) {
            return Hop.corrupt("RAMBlock 0x" + Long.toHexString(rb) + " does not point back to its region");
        }
        long host = r.getLong(rl.host());
        long used = r.getLong(rl.usedLength());
        long max = r.getLong(rl.maxLength());
        // QEMU mmaps each RAMBlock on its own (qemu_ram_mmap, with a guard page after it), so its host
        // address starts a mapping in the core; a host pointer inside some other mapping would serve shifted
        // memory. (No mapping at all is different: gdb leaves MADV_DONTDUMP RAM out entirely; see walk.)
        if (mem.isMapped(host) && !mem.isMappingStart(host)) {
            return Hop.corrupt("RAMBlock host 0x" + Long.toHexString(host) + " does not start a mapping");
        }
        if ((host & (PAGE - 1)) != 0 || (used & (PAGE - 1)) != 0 || Long.compareUnsigned(used, max) > 0
                || used == 0) {
            return Hop.corrupt("RAMBlock sizes or host address not page-aligned");
        }
        if (Long.compareUnsigned(host + used, host) <= 0) {
            return Hop.corrupt("RAMBlock host 0x" + Long.toHexString(host) + " + used_length wraps past 2^64");
        }
        if (Long.compareUnsigned(fr.offsetInRegion(), used) > 0
                || Long.compareUnsigned(fr.size(), used - fr.offsetInRegion()) > 0) {
            return Hop.corrupt("range exceeds its RAMBlock's used_length");
        }
        String idstr = cString(r, rl.idstr());
        if (idstr == null) {
            return Hop.corrupt("RAMBlock idstr is not a string");
        }
        int ramDevice = ramDeviceFlag(mr.bytes(), l.memoryRegion(), used);
        if (ramDevice < 0) {
            return Hop.corrupt("MemoryRegion size does not match its RAMBlock");
        }
        return Hop.found(new RamBlock(rb, host, used, idstr, ramDevice == 1));
    }

    /**
     * Returns MemoryRegion.ram_device (0 or 1), located relative to MemoryRegion.size (which must equal the
     * RAMBlock's used_length for a plain RAM region, or be at least it), or -1 when no candidate offset validates.
     */
    private static int ramDeviceFlag(ByteBuffer m, MemoryRegionLayout l, long used) {
        for (int sizeOff : l.sizeCandidates()) {
            long lo = m.getLong(sizeOff);
            long hi = m.getLong(sizeOff + 8);
            // size, addr, destructor, align precede terminates; ram_device follows it.
            int terminates = sizeOff + 40;
            if (hi == 0 && lo != 0 && Long.compareUnsigned(lo, used) <= 0 && (lo & (PAGE - 1)) == 0
                    && m.get(terminates) == 1) {
                int flag = Byte.toUnsignedInt(m.get(terminates + 1));
                if (flag <= 1) {
                    return flag;
                }
            }
        }
        return -1;
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

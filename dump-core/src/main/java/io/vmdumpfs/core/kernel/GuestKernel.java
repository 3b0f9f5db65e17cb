package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.guest.VmcoreInfo;
import io.vmdumpfs.core.kernel.KernelAddressException.Reason;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The guest kernel seen through its own structures: VMCOREINFO as typed values, reads by kernel virtual address
 * (the image window, then the guest's page tables), symbols (VMCOREINFO, then the guest's kallsyms), the direct map
 * and {@code init_uts_ns}. Sits between guest memory and the formats; the architecture-specific part is a
 * {@link KernelArch}.
 *
 * <p>Opening reads nothing but VMCOREINFO (already in memory); kallsyms (a few MB read and scanned) and the direct
 * map are found on first use and kept. Thread-safe: the lazy parts are computed once under this object's lock, and
 * everything else is immutable.
 */
public final class GuestKernel {

    private static final System.Logger LOG = System.getLogger(GuestKernel.class.getName());

    private final GuestPlatform platform;
    private final GuestMemory guestMemory;
    private final VmcoreInfoTable info;
    private final KernelArch arch;
    private final KernelAddressSpace space;
    private final KernelMemory memory;

    // Found on first use (guarded by this).
    private Optional<Kallsyms> kallsyms;
    private String kallsymsProblem;
    private Optional<DirectMap> directMap;

    private GuestKernel(GuestPlatform platform, GuestMemory guestMemory, VmcoreInfoTable info, KernelArch arch,
            KernelAddressSpace space) {
        this.platform = platform;
        this.guestMemory = guestMemory;
        this.info = info;
        this.arch = arch;
        this.space = space;
        this.memory = new KernelMemory(space, guestMemory, platform.byteOrder(), false);
    }

    /**
     * Returns the kernel of {@code dump}.
     *
     * @throws KernelUnavailableException when there is no VMCOREINFO, the architecture is not supported yet, or
     *                                    VMCOREINFO lacks what it needs
     */
    public static GuestKernel open(GuestDump dump) {
        VmcoreInfo note = dump.vmcoreinfo().orElseThrow(
                () -> new KernelUnavailableException("the guest's VMCOREINFO was not found"));
        return open(dump.platform(), dump.memory(), VmcoreInfoTable.of(note));
    }

    /** Returns the kernel over {@code memory} described by {@code info}; see {@link #open(GuestDump)}. */
    public static GuestKernel open(GuestPlatform platform, GuestMemory memory, VmcoreInfoTable info) {
        KernelArch arch = KernelArch.of(platform.arch()).orElseThrow(() -> new KernelUnavailableException(
                "reading " + platform.utsMachine() + " kernel structures is not implemented yet"));
        return new GuestKernel(platform, memory, info, arch, arch.addressSpace(info, platform));
    }

    /**
     * Returns the kernel of {@code dump}, or empty (logged once at INFO with the reason) when it cannot be seen: for
     * formats that write what they can without it.
     */
    public static Optional<GuestKernel> find(GuestDump dump) {
        try {
            return Optional.of(open(dump));
        } catch (KernelUnavailableException e) {
            LOG.log(System.Logger.Level.DEBUG, dump.core().path() + ": guest kernel not readable: " + e.getMessage());
            return Optional.empty();
        }
    }

    public GuestPlatform platform() {
        return platform;
    }

    /** Returns guest-physical memory, which this kernel's addresses translate into. */
    public GuestMemory guestMemory() {
        return guestMemory;
    }

    /** Returns VMCOREINFO as typed values. */
    public VmcoreInfoTable vmcoreinfo() {
        return info;
    }

    public KernelAddressSpace addressSpace() {
        return space;
    }

    /** Returns the shared, thread-safe reader; {@link KernelMemory#bulk()} gives a faster one for one thread. */
    public KernelMemory memory() {
        return memory;
    }

    /**
     * Returns the address of the kernel symbol {@code name}: from VMCOREINFO's SYMBOL() when listed there, else from
     * the guest's kallsyms; empty when neither has it.
     */
    public OptionalLong symbol(String name) {
        OptionalLong v = info.symbol(name);
        if (v.isPresent()) {
            return v;
        }
        return kallsyms().map(k -> k.address(name)).orElse(OptionalLong.empty());
    }

    /** Returns the guest's kallsyms, read on first use; empty when VMCOREINFO does not locate it or it is unreadable. */
    public synchronized Optional<Kallsyms> kallsyms() {
        if (kallsyms == null) {
            try {
                kallsyms = Kallsyms.load(info, memory.bulk());
                if (kallsyms.isEmpty()) {
                    kallsymsProblem = "VMCOREINFO does not locate kallsyms (kernel before 6.0?)";
                }
            } catch (KernelUnavailableException | KernelAddressException e) {
                kallsyms = Optional.empty();
                kallsymsProblem = e.getMessage();
                LOG.log(System.Logger.Level.DEBUG, "guest kallsyms not readable: " + e.getMessage());
            }
        }
        return kallsyms;
    }

    /**
     * Returns the direct map, found on first use: the first of the architecture's candidates under which the guest's
     * page tables map both the kernel image's first page and the top page table at their direct-map addresses
     * (memory every kernel maps there). Empty when no candidate passes.
     */
    public synchronized Optional<DirectMap> directMap() {
        if (directMap == null) {
            directMap = Optional.empty();
            long root = space.tables().rootGuestPaddr();
            OptionalLong stext = imageStart();
            long[] probes = stext.isPresent() && space.image().contains(stext.getAsLong())
                    ? new long[] {space.image().guestPaddrOf(stext.getAsLong()) & -platform.pageSize(), root}
                    : new long[] {root};
            for (DirectMap candidate : arch.directMapCandidates(this)) {
                if (maps(candidate, probes)) {
                    directMap = Optional.of(new DirectMap(candidate.offset(), candidate.evidence()
                            + ", confirmed by the page tables"));
                    break;
                }
            }
        }
        return directMap;
    }

    /** Returns true when the page tables map the page of {@code guestPaddr} at its direct-map address. */
    public boolean directlyMapped(DirectMap map, long guestPaddr) {
        return maps(map, new long[] {guestPaddr});
    }

    /**
     * Page-table walks one {@link #directMapConflicts} call may make, and so how long it can take: about a second. A
     * direct map of 2 MiB and 1 GiB pages needs one walk per large page (1536 for 3 GiB), an unmapped range one per
     * empty table entry; only a direct map of 4 KiB pages (debug_pagealloc) over more than 4 GiB would exceed it.
     */
    static final int DIRECT_MAP_WALK_BUDGET = 1 << 20;

    /**
     * Returns the parts of {@code blocks} whose direct-map addresses the guest's page tables map to other memory, as
     * sorted, disjoint guest-physical {@code [start, end)} pairs: where stating the direct-map address would
     * contradict the guest. Parts the guest maps there and parts it does not map at all (reserved firmware tables,
     * ROM: no kernel pointer leads there) are not conflicts. A real kernel has none: its direct map region is larger
     * than physical memory. After {@link #DIRECT_MAP_WALK_BUDGET} walks in all, the rest is not checked.
     *
     * @param blocks sorted by guest-physical address
     */
    public List<long[]> directMapConflicts(DirectMap map, List<GuestPhysBlock> blocks) {
        List<long[]> out = new ArrayList<>();
        KernelMemory scan = memory.bulk();
        int walks = 0;
        for (GuestPhysBlock b : blocks) {
            long runStart = -1;
            long guestPaddr = b.guestPaddrStart();
            for (; Long.compareUnsigned(guestPaddr, b.guestPaddrEnd()) < 0 && walks < DIRECT_MAP_WALK_BUDGET; walks++) {
                long kernelVaddr = map.kernelVaddrOf(guestPaddr);
                long step;
                boolean conflict;
                if (space.image().contains(kernelVaddr)) {
                    // The image window's addresses are the image's, not the direct map's, unless the image lies in
                    // the direct map (i386) where this is the same address for the same byte.
                    conflict = !(arch.imageInDirectMap() && space.image().guestPaddrOf(kernelVaddr) == guestPaddr);
                    step = platform.pageSize() - (kernelVaddr & (platform.pageSize() - 1));
                } else {
                    try {
                        Translation t = scan.translate(kernelVaddr);
                        conflict = t.guestPaddrOf(kernelVaddr) != guestPaddr;
                        step = t.remainingFrom(kernelVaddr);
                    } catch (KernelAddressException e) {
                        conflict = e.reason() == Reason.NOT_KERNEL || e.reason() == Reason.BAD_PAGE_TABLE;
                        long span = e.reason() == Reason.NOT_MAPPED ? e.unmappedSpan() : platform.pageSize();
                        step = span - (kernelVaddr & (span - 1));
                    }
                }
                long next = Long.compareUnsigned(b.guestPaddrEnd() - guestPaddr, step) <= 0 ? b.guestPaddrEnd() : guestPaddr + step;
                if (conflict && runStart < 0) {
                    runStart = guestPaddr;
                } else if (!conflict && runStart >= 0) {
                    out.add(new long[] {runStart, guestPaddr});
                    runStart = -1;
                }
                guestPaddr = next;
            }
            if (runStart >= 0) {
                out.add(new long[] {runStart, guestPaddr});
            }
        }
        return out;
    }

    private boolean maps(DirectMap candidate, long[] guestPaddrs) {
        PhysReader phys = PhysReader.direct(guestMemory, platform.byteOrder());
        for (long guestPaddr : guestPaddrs) {
            long kernelVaddr = candidate.kernelVaddrOf(guestPaddr);
            // An address in the image window confirms nothing where the image has a mapping of its own (x86_64); where
            // it lies in the direct map (i386) the page tables are asked, not the window, which would agree with
            // any candidate of its own offset.
            if (space.image().contains(kernelVaddr) && !arch.imageInDirectMap()) {
                return false;
            }
            try {
                if (space.tables().walk(kernelVaddr, phys).guestPaddrOf(kernelVaddr) != guestPaddr) {
                    return false;
                }
            } catch (KernelAddressException e) {
                return false;
            }
        }
        return true;
    }

    /**
     * Returns the kernel image's mapping as one linear range, what an ELF vmcore's kernel-text PT_LOAD describes: from
     * the image start ({@link KernelArch#imageStart}) to the end of the last page the guest's page tables map in the
     * image window at the image's linear distance (so the image's bss and brk included; pages the kernel freed and
     * unmapped inside the image, such as its init sections, lie within and are covered, as /proc/vmcore's kernel
     * segment covers them), and past the window's end for as long as the pages go on at that distance (arm64's
     * window ends at its last VMCOREINFO symbol, before bss ends), cut at the end of the guest RAM block that holds
     * the start. Empty when the start is not in guest RAM or the page tables map nothing there.
     */
    public Optional<Translation> imageMapping() {
        KernelImageWindow window = space.image();
        OptionalLong stext = imageStart();
        if (stext.isEmpty() || !window.contains(stext.getAsLong())) {
            return Optional.empty();
        }
        long start = stext.getAsLong() & -platform.pageSize();
        long startPaddr = window.guestPaddrOf(start);
        int block = guestMemory.blockIndexOf(startPaddr);
        if (block < 0) {
            return Optional.empty();
        }
        GuestPhysBlock b = guestMemory.blocks().get(block);
        long windowEnd = window.kernelVaddrStart() + window.size();
        PhysReader phys = PhysReader.caching(guestMemory, platform.byteOrder());
        long end = start;
        long kernelVaddr = start;
        // Every step moves forward by at least one page inside a window of at most 2 GiB: the loop ends.
        while (Long.compareUnsigned(kernelVaddr, windowEnd) < 0 && kernelVaddr != 0) {
            try {
                Translation t = space.tables().walk(kernelVaddr, phys);
                if (t.guestPaddrOf(kernelVaddr) == window.guestPaddrOf(kernelVaddr)) {
                    end = t.kernelVaddr() + t.size();
                }
                kernelVaddr = t.kernelVaddr() + t.size();
            } catch (KernelAddressException e) {
                if (e.reason() != Reason.NOT_MAPPED) {
                    break;
                }
                kernelVaddr = (kernelVaddr & -e.unmappedSpan()) + e.unmappedSpan();
            }
        }
        if (Long.compareUnsigned(end, windowEnd) > 0 || end == 0) {
            end = windowEnd;
        }
        long blockEndVaddr = start + (b.guestPaddrEnd() - startPaddr);
        // A window that VMCOREINFO could only prove as far as its last symbol (arm64: the image lies in the vmalloc
        // area, so no reserved range bounds it) may end inside the image: when its last page is mapped at the
        // image's distance, the image goes on as long as the next pages are, up to the first that is not (arm64
        // puts a guard page after _end). x86_64's window ends in unmapped space, so this never runs there; where the
        // image lies in the direct map (i386) every page after it is at the same distance, so the window's end stands.
        while (!arch.imageInDirectMap() && end == windowEnd
                && Long.compareUnsigned(end - start, blockEndVaddr - start) < 0) {
            try {
                Translation t = space.tables().walk(end, phys);
                if (t.guestPaddrOf(end) != window.guestPaddrOf(end) || t.kernelVaddr() + t.size() == 0) {
                    break;
                }
                end = t.kernelVaddr() + t.size();
                windowEnd = end;
            } catch (KernelAddressException e) {
                break;
            }
        }
        long size = Math.min(end - start, b.guestPaddrEnd() - startPaddr);
        return size <= 0 ? Optional.empty() : Optional.of(new Translation(start, startPaddr, size));
    }

    /** Returns where the kernel image starts, or empty when VMCOREINFO does not say. */
    private OptionalLong imageStart() {
        try {
            return OptionalLong.of(arch.imageStart(info));
        } catch (KernelUnavailableException e) {
            return OptionalLong.empty();
        }
    }

    /**
     * Returns {@code init_uts_ns.name}.
     *
     * @throws KernelUnavailableException if VMCOREINFO does not locate it
     * @throws KernelAddressException     if it cannot be read
     */
    public Utsname utsname() {
        return Utsname.read(info, memory);
    }

    /** Returns lines describing what was found, for {@code vmdumpfs info} and logs. */
    public synchronized List<String> describe() {
        return List.of(
                "page tables: " + space.tables().describe(),
                "kernel image: 0x" + Long.toHexString(space.image().kernelVaddrStart()) + " = guest-physical 0x"
                        + Long.toHexString(space.image().guestPaddrStart()),
                "direct map: " + directMap().map(d -> "0x" + Long.toHexString(d.offset()) + " (" + d.evidence() + ")")
                        .orElse("not found"),
                "symbols: " + kallsyms().map(Kallsyms::toString)
                        .orElse("VMCOREINFO only (no kallsyms: " + kallsymsProblem + ")"));
    }
}

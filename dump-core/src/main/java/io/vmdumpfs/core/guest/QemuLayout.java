package io.vmdumpfs.core.guest;

import java.util.List;

/**
 * Byte offsets of the QEMU structures on the path from {@code address_space_memory} to guest RAM, for one family of
 * QEMU builds on x86_64 hosts. Without debug symbols these are our only knowledge of the structs; every hop read with
 * them is cross-checked (back-pointers, alignment, sizes) before it is trusted ({@link RamDiscovery}).
 *
 * <p>The host process's structures are the same whatever the guest's architecture: QEMU of every target is built
 * for the host, so these offsets (and the host's byte order, little-endian) hold for all of them.
 *
 * @param name         short label shown by {@code vmdumpfs info}
 * @param addressSpace struct AddressSpace
 * @param flatView     struct FlatView
 * @param flatRange    struct FlatRange
 * @param memoryRegion struct MemoryRegion
 * @param ramBlock     struct RAMBlock
 */
public record QemuLayout(String name, AddressSpaceLayout addressSpace, FlatViewLayout flatView,
        FlatRangeLayout flatRange, MemoryRegionLayout memoryRegion, RamBlockLayout ramBlock) {

    /** RAMBlock.idstr is char[256]. */
    public static final int IDSTR_LEN = 256;

    /**
     * struct AddressSpace (include/exec/memory.h).
     *
     * @param name       AddressSpace.name (char *)
     * @param root       AddressSpace.root (MemoryRegion *)
     * @param currentMap AddressSpace.current_map (FlatView *)
     */
    public record AddressSpaceLayout(int name, int root, int currentMap) {
        /** Returns how many bytes of an AddressSpace the hops read. */
        public int bytes() {
            return Math.max(name, Math.max(root, currentMap)) + 8;
        }
    }

    /**
     * struct FlatView (include/exec/memory.h).
     *
     * @param ranges FlatView.ranges (FlatRange *)
     * @param nr     FlatView.nr (unsigned)
     * @param root   FlatView.root (MemoryRegion *), equal to its AddressSpace's root
     */
    public record FlatViewLayout(int ranges, int nr, int root) {
    }

    /**
     * struct FlatRange (softmmu/memory.c); its MemoryRegion pointer is the first field.
     *
     * @param stride         sizeof(FlatRange)
     * @param offsetInRegion FlatRange.offset_in_region
     * @param start          FlatRange.addr.start (Int128, low half first)
     * @param size           FlatRange.addr.size (Int128)
     */
    public record FlatRangeLayout(int stride, int offsetInRegion, int start, int size) {
    }

    /**
     * struct MemoryRegion (include/exec/memory.h).
     *
     * @param ram            MemoryRegion.ram (bool)
     * @param nonvolatile    MemoryRegion.nonvolatile (bool)
     * @param ramBlock       MemoryRegion.ram_block (RAMBlock *)
     * @param sizeCandidates where MemoryRegion.size (Int128) may be; terminates follows it at +40, ram_device at +41
     * @param containerCandidates where MemoryRegion.container (MemoryRegion *) may be: 88 until QEMU 7.2, 96 once
     *                       {@code DeviceState *dev} came before it (8.0, and Debian's 7.2 security updates)
     */
    public record MemoryRegionLayout(int ram, int nonvolatile, int ramBlock, List<Integer> sizeCandidates,
            List<Integer> containerCandidates) {
        public MemoryRegionLayout {
            sizeCandidates = List.copyOf(sizeCandidates);
            containerCandidates = List.copyOf(containerCandidates);
        }

        /** Returns how many bytes of a MemoryRegion the hops read: up to ram_device after the last size candidate. */
        public int bytes() {
            int n = ramBlock + 8;
            for (int sizeOff : sizeCandidates) {
                n = Math.max(n, sizeOff + 42);
            }
            return n;
        }
    }

    /**
     * struct RAMBlock (include/exec/ramblock.h).
     *
     * @param mr         RAMBlock.mr, pointing back to the region
     * @param host       RAMBlock.host
     * @param usedLength RAMBlock.used_length
     * @param maxLength  RAMBlock.max_length
     * @param idstr      RAMBlock.idstr[256]
     */
    public record RamBlockLayout(int mr, int host, int usedLength, int maxLength, int idstr) {
        /** Returns how many bytes of a RAMBlock the hops read: through the end of idstr. */
        public int bytes() {
            return idstr + IDSTR_LEN;
        }
    }

    private static final AddressSpaceLayout AS = new AddressSpaceLayout(16, 24, 32);
    private static final FlatViewLayout FV = new FlatViewLayout(24, 32, 48);
    private static final RamBlockLayout RB = new RamBlockLayout(16, 24, 48, 56, 76);

    /**
     * QEMU 6.2 to 10.x built for x86_64 (Int128 is __int128, so AddrRange is 16-aligned and FlatRange is 64 bytes).
     * MemoryRegion.size moved as fields were added before it (mapped_via_alias in 7.1, dev in 8.0).
     */
    public static final QemuLayout QEMU_6_2_TO_10 = new QemuLayout("qemu-6.2+", AS, FV,
            new FlatRangeLayout(64, 8, 16, 32),
            new MemoryRegionLayout(41, 44, 56, List.of(96, 112, 128), List.of(88, 96)), RB);

    /** The same, for builds without __int128 (Int128 as two uint64: 8-aligned, FlatRange of 56 bytes). */
    public static final QemuLayout QEMU_NO_INT128 = new QemuLayout("qemu-6.2+/no-int128", AS, FV,
            new FlatRangeLayout(56, 8, 16, 32),
            new MemoryRegionLayout(41, 44, 56, List.of(96, 104, 112, 120), List.of(88, 96)), RB);

    /** Tried in this order; the first whose every hop validates wins. */
    public static final List<QemuLayout> KNOWN = List.of(QEMU_6_2_TO_10, QEMU_NO_INT128);
}

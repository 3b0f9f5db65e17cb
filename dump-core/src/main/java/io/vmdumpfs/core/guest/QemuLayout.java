package io.vmdumpfs.core.guest;

import java.util.List;

/**
 * Byte offsets of the QEMU structures on the path from {@code address_space_memory} to guest RAM, for one family of
 * QEMU builds on x86_64 hosts. Without debug symbols these are our only knowledge of the structs; every hop read with
 * them is cross-checked (back-pointers, alignment, sizes) before it is trusted.
 *
 * @param name               short label shown by {@code vmdumpfs info}
 * @param asName             AddressSpace.name (char *)
 * @param asRoot             AddressSpace.root (MemoryRegion *)
 * @param asCurrentMap       AddressSpace.current_map (FlatView *)
 * @param fvRanges           FlatView.ranges (FlatRange *)
 * @param fvNr               FlatView.nr (unsigned)
 * @param fvRoot             FlatView.root (MemoryRegion *)
 * @param frStride           sizeof(FlatRange)
 * @param frOffsetInRegion   FlatRange.offset_in_region
 * @param frStart            FlatRange.addr.start (Int128, low half first)
 * @param frSize             FlatRange.addr.size (Int128)
 * @param mrRam              MemoryRegion.ram (bool)
 * @param mrNonvolatile      MemoryRegion.nonvolatile (bool)
 * @param mrRamBlock         MemoryRegion.ram_block (RAMBlock *)
 * @param mrSizeCandidates   where MemoryRegion.size (Int128) may be; ram_device follows it at +41
 * @param rbMr               RAMBlock.mr, pointing back to the region
 * @param rbHost             RAMBlock.host
 * @param rbUsedLength       RAMBlock.used_length
 * @param rbMaxLength        RAMBlock.max_length
 * @param rbIdstr            RAMBlock.idstr[256]
 */
public record QemuLayout(String name, int asName, int asRoot, int asCurrentMap, int fvRanges, int fvNr, int fvRoot,
        int frStride, int frOffsetInRegion, int frStart, int frSize, int mrRam, int mrNonvolatile, int mrRamBlock,
        int[] mrSizeCandidates, int rbMr, int rbHost, int rbUsedLength, int rbMaxLength, int rbIdstr) {

    /** RAMBlock.idstr is char[256]. */
    public static final int IDSTR_LEN = 256;

    /**
     * QEMU 6.2 to 10.x built for x86_64 (Int128 is __int128, so AddrRange is 16-aligned and FlatRange is 64 bytes).
     * MemoryRegion.size moved as fields were added before it (mapped_via_alias in 7.1, dev in 8.0).
     */
    public static final QemuLayout QEMU_6_2_TO_10 = new QemuLayout("qemu-6.2+", 16, 24, 32, 24, 32, 48,
            64, 8, 16, 32, 41, 44, 56, new int[] {96, 112, 128}, 16, 24, 48, 56, 76);

    /** The same, for builds without __int128 (Int128 as two uint64: 8-aligned, FlatRange of 56 bytes). */
    public static final QemuLayout QEMU_NO_INT128 = new QemuLayout("qemu-6.2+/no-int128", 16, 24, 32, 24, 32, 48,
            56, 8, 16, 32, 41, 44, 56, new int[] {96, 104, 112, 120}, 16, 24, 48, 56, 76);

    /** Tried in this order; the first whose every hop validates wins. */
    public static final List<QemuLayout> KNOWN = List.of(QEMU_6_2_TO_10, QEMU_NO_INT128);
}

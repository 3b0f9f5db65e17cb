package io.vmdumpfs.core.testing;

import io.vmdumpfs.core.guest.GuestPhysBlock;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;

/**
 * Puts AArch64 kernel (TTBR1) translation tables into a {@link SyntheticGuest}'s RAM, entry by entry, for any granule:
 * tables of {@code granule / 8} descriptors, the top one with as many entries as {@code vaBits} leaves it. Written
 * into the core file by {@link #write()}.
 *
 * <pre>
 * SyntheticArm64Tables t = new SyntheticArm64Tables(guest, 4096, 48, 0x100000);
 * t.mapPage(0xffff000000001000L, 0x5000).mapBlock(0xffff000000200000L, 0x200000, 2).write();
 * </pre>
 *
 * Tables and pages get {@code 0b11} plus AF (bit 10) and UXN/PXN (bits 53/54) as Linux sets them, blocks
 * {@code 0b01}; {@link #setEntry} writes anything else.
 */
public final class SyntheticArm64Tables {

    public static final long TABLE = 0x3;
    public static final long BLOCK = 0x1;
    /** AF and the execute-never bits: attributes a walk must strip from the address. */
    public static final long ATTRS = (1L << 10) | (1L << 53) | (1L << 54);

    private final SyntheticGuest guest;
    private final int granuleShift;
    private final int vaBits;
    private final int levels;
    private final long root;
    private long nextTable;
    private final Map<Long, long[]> tables = new TreeMap<>();

    /** @param tableArena guest-physical address from which tables are allocated, granule aligned; the root first */
    public SyntheticArm64Tables(SyntheticGuest guest, int granule, int vaBits, long tableArena) {
        this.guest = guest;
        this.granuleShift = Integer.numberOfTrailingZeros(granule);
        this.vaBits = vaBits;
        int perLevel = granuleShift - 3;
        this.levels = (vaBits - granuleShift + perLevel - 1) / perLevel;
        this.root = tableArena;
        this.nextTable = tableArena;
        newTable();
    }

    public long root() {
        return root;
    }

    /** Returns the guest-physical end of the tables allocated so far. */
    public long arenaEnd() {
        return nextTable;
    }

    /** Maps one granule-sized page at level 3. */
    public SyntheticArm64Tables mapPage(long vaddr, long paddr) {
        return setEntry(table(vaddr, 3), index(vaddr, 3), paddr | TABLE | ATTRS);
    }

    /** Maps a block at {@code level} (1 or 2). */
    public SyntheticArm64Tables mapBlock(long vaddr, long paddr, int level) {
        return setEntry(table(vaddr, level), index(vaddr, level), paddr | BLOCK | ATTRS);
    }

    /** Maps {@code [vaddr, vaddr + size)} with pages. */
    public SyntheticArm64Tables mapPages(long vaddr, long paddr, long size) {
        for (long o = 0; o < size; o += 1L << granuleShift) {
            mapPage(vaddr + o, paddr + o);
        }
        return this;
    }

    /** Returns the table at {@code level} (3 = last) on the way to {@code vaddr}, creating tables above it. */
    public long table(long vaddr, int level) {
        long t = root;
        for (int l = 4 - levels; l < level; l++) {
            long[] entries = tables.get(t);
            int i = index(vaddr, l);
            if ((entries[i] & 1) == 0) {
                entries[i] = newTable() | TABLE;
            }
            t = entries[i] & 0x0000_ffff_ffff_f000L & -(1L << granuleShift);
            if (!tables.containsKey(t)) {
                throw new IllegalStateException("entry " + i + " at level " + l + " points at no table we built");
            }
        }
        return t;
    }

    public SyntheticArm64Tables setEntry(long tablePaddr, int index, long entry) {
        tables.get(tablePaddr)[index] = entry;
        return this;
    }

    /** Returns the index of {@code vaddr} in a table at {@code level}. */
    public int index(long vaddr, int level) {
        int perLevel = granuleShift - 3;
        int shift = granuleShift + perLevel * (3 - level);
        int bits = level == 4 - levels ? vaBits - shift : perLevel;
        return (int) ((vaddr >>> shift) & ((1L << bits) - 1));
    }

    /** Writes the tables into the guest's core file (little-endian). */
    public void write() {
        try (FileChannel ch = FileChannel.open(guest.corePath(), StandardOpenOption.WRITE)) {
            for (Map.Entry<Long, long[]> t : tables.entrySet()) {
                ByteBuffer b = ByteBuffer.allocate(8 * t.getValue().length).order(ByteOrder.LITTLE_ENDIAN);
                for (long e : t.getValue()) {
                    b.putLong(e);
                }
                b.flip();
                writeAt(ch, t.getKey(), b);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void writeAt(FileChannel ch, long paddr, ByteBuffer data) throws IOException {
        for (GuestPhysBlock b : guest.blocks()) {
            if (b.contains(paddr)) {
                long off = b.fileOffset() + (paddr - b.guestPaddrStart());
                while (data.hasRemaining()) {
                    off += ch.write(data, off);
                }
                return;
            }
        }
        throw new IllegalArgumentException("guest-physical 0x" + Long.toHexString(paddr) + " is in no block");
    }

    private long newTable() {
        long t = nextTable;
        nextTable += 1L << granuleShift;
        tables.put(t, new long[1 << (granuleShift - 3)]);
        return t;
    }
}

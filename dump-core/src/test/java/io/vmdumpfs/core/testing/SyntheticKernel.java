package io.vmdumpfs.core.testing;

import io.vmdumpfs.core.guest.GuestPhysBlock;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;

/**
 * Puts a fake x86_64 kernel into a {@link SyntheticGuest}'s RAM: page tables built entry by entry, and any bytes at
 * guest-physical addresses (a {@code new_utsname}, a kallsyms table). Tables are collected in memory and written into
 * the guest's core file by {@link #write()}; the guest's reads see them from then on.
 *
 * <pre>
 * SyntheticKernel k = new SyntheticKernel(guest, 4, 0x100000);   // 4-level, tables from guest-physical 1 MiB on
 * k.map4k(0xffff888000001000L, 0x5000);
 * k.map2m(0xffffffff81000000L, 0x1000000);
 * k.write();
 * long root = k.root();                                           // what SYMBOL(init_top_pgt) translates to
 * </pre>
 *
 * Entries get P|RW (0x3), large pages also PS (0x80); {@link #setEntry} writes anything else, for bad tables.
 */
public final class SyntheticKernel {

    public static final long PRESENT_RW = 0x3;
    public static final long PS = 0x80;

    private final SyntheticGuest guest;
    private final int levels;
    private final long root;
    private long nextTable;
    /** Table guest-physical address → its 512 entries. */
    private final Map<Long, long[]> tables = new TreeMap<>();
    /** Bytes to write at guest-physical addresses. */
    private final Map<Long, byte[]> bytes = new TreeMap<>();

    /**
     * @param levels     4 or 5
     * @param tableArena guest-physical address from which tables are allocated, 4 KiB aligned; the root is the first
     */
    public SyntheticKernel(SyntheticGuest guest, int levels, long tableArena) {
        this.guest = guest;
        this.levels = levels;
        this.root = tableArena;
        this.nextTable = tableArena;
        newTable();
    }

    /** Returns the root table's guest-physical address. */
    public long root() {
        return root;
    }

    /** Returns the guest-physical end of the tables allocated so far. */
    public long arenaEnd() {
        return nextTable;
    }

    public SyntheticKernel map4k(long vaddr, long paddr) {
        setEntry(table(vaddr, 1), index(vaddr, 1), paddr | PRESENT_RW);
        return this;
    }

    public SyntheticKernel map2m(long vaddr, long paddr) {
        setEntry(table(vaddr, 2), index(vaddr, 2), paddr | PRESENT_RW | PS);
        return this;
    }

    public SyntheticKernel map1g(long vaddr, long paddr) {
        setEntry(table(vaddr, 3), index(vaddr, 3), paddr | PRESENT_RW | PS);
        return this;
    }

    /** Maps {@code [vaddr, vaddr + size)} to {@code [paddr, …)} with 4 KiB pages. */
    public SyntheticKernel map4kRange(long vaddr, long paddr, long size) {
        for (long o = 0; o < size; o += 4096) {
            map4k(vaddr + o, paddr + o);
        }
        return this;
    }

    /**
     * Returns the guest-physical address of the table at {@code level} (1 = PT … levels = root) on the way to
     * {@code vaddr}, creating tables above it as needed.
     */
    public long table(long vaddr, int level) {
        long t = root;
        for (int l = levels; l > level; l--) {
            long[] entries = tables.get(t);
            int i = index(vaddr, l);
            if ((entries[i] & 1) == 0) {
                entries[i] = newTable() | PRESENT_RW;
            }
            t = entries[i] & 0x000f_ffff_ffff_f000L;
            if (!tables.containsKey(t)) {
                throw new IllegalStateException("entry " + i + " at level " + l + " points at no table we built");
            }
        }
        return t;
    }

    /** Sets entry {@code index} of the table at {@code tablePaddr} (one we built) to {@code entry}, as it is. */
    public SyntheticKernel setEntry(long tablePaddr, int index, long entry) {
        tables.get(tablePaddr)[index] = entry;
        return this;
    }

    /** Returns the index of {@code vaddr} in a table at {@code level}. */
    public static int index(long vaddr, int level) {
        return (int) ((vaddr >>> (12 + 9 * (level - 1))) & 511);
    }

    /** Puts {@code data} at guest-physical {@code paddr} (written by {@link #write()}). */
    public SyntheticKernel put(long paddr, byte[] data) {
        bytes.put(paddr, data.clone());
        return this;
    }

    /** Puts a {@code struct new_utsname} (six NUL-padded char[65]) at {@code paddr}. */
    public SyntheticKernel putUtsname(long paddr, String... fields) {
        byte[] b = new byte[6 * 65];
        for (int i = 0; i < fields.length; i++) {
            byte[] f = fields[i].getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(f, 0, b, i * 65, Math.min(64, f.length));
        }
        return put(paddr, b);
    }

    /** Writes the tables and bytes into the guest's core file. */
    public void write() {
        try (FileChannel ch = FileChannel.open(guest.corePath(), StandardOpenOption.WRITE)) {
            for (Map.Entry<Long, long[]> t : tables.entrySet()) {
                ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
                for (long e : t.getValue()) {
                    b.putLong(e);
                }
                writeAt(ch, t.getKey(), b.flip());
            }
            for (Map.Entry<Long, byte[]> e : bytes.entrySet()) {
                writeAt(ch, e.getKey(), ByteBuffer.wrap(e.getValue()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void writeAt(FileChannel ch, long paddr, ByteBuffer data) throws IOException {
        for (GuestPhysBlock b : guest.blocks()) {
            if (b.contains(paddr)) {
                if (paddr + data.remaining() > b.guestPaddrEnd()) {
                    throw new IllegalArgumentException("bytes at 0x" + Long.toHexString(paddr) + " run past block "
                            + b.name());
                }
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
        nextTable += 4096;
        tables.put(t, new long[512]);
        return t;
    }
}

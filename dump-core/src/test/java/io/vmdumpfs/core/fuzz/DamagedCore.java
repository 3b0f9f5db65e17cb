package io.vmdumpfs.core.fuzz;

import static io.vmdumpfs.core.testing.SyntheticCore.KiB;
import static io.vmdumpfs.core.testing.SyntheticCore.L;
import static io.vmdumpfs.core.testing.SyntheticCore.MiB;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.QemuLayout;
import io.vmdumpfs.core.testing.SyntheticCore;
import io.vmdumpfs.core.testing.SyntheticCore.Flag;
import io.vmdumpfs.core.testing.SyntheticCore.Spot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A small synthetic QEMU core (SyntheticCore: pc.ram split around a VGA hole, a ROM, VMCOREINFO) and the byte ranges
 * of every structure in it, which a fuzz input damages in place: the fuzzer picks a structure, a field offset and
 * a value (often a pointer to another structure, or to itself), and sometimes a truncation. {@link #restore()} puts
 * the original bytes back, so one file serves every input.
 *
 * <p>Not thread-safe: one input at a time.
 */
final class DamagedCore {

    /** A structure's bytes in the core file. */
    record Area(String name, long fileOffset, int length, long hostVaddr, boolean guestRamOnly) {
    }

    private final Path file;
    private final byte[] original;
    private final List<Area> areas;
    private final long[] pointers;
    private final List<GuestPhysBlock> blocks;
    private final List<long[]> written = new ArrayList<>();
    private boolean truncated;

    private DamagedCore(Path file, byte[] original, List<Area> areas, long[] pointers, List<GuestPhysBlock> blocks) {
        this.file = file;
        this.original = original;
        this.areas = areas;
        this.pointers = pointers;
        this.blocks = blocks;
    }

    /** Writes the base core to a scratch file and records where its structures are. */
    static DamagedCore create(String name) {
        Path path = FuzzSupport.scratch(name);
        SyntheticCore c = SyntheticCore.qemu()
                .region("pc.ram", 2 * MiB)
                .map("pc.ram", 0, 0, 640 * KiB)
                .io("vga", 640 * KiB, 128 * KiB)
                .map("pc.ram", MiB, MiB, MiB)
                .ram("pc.bios", 0xfffc0000L, 256 * KiB, Flag.ROM)
                .vmcoreinfo(true)
                .vcpus(2)
                .write(path);
        List<Area> areas = new ArrayList<>();
        areas.add(new Area("ELF header", 0, 64, 0, false));
        areas.add(new Area("program headers", c.phdr(0), c.phnum() * 56, 0, false));
        areas.add(new Area("notes", c.notesOffset(), 512, 0, false));
        add(areas, "AddressSpace", c.addressSpace(), L.addressSpace().currentMap() + 8, false);
        add(areas, "AddressSpace.name", c.addressSpaceName(), 8, false);
        add(areas, "FlatView", c.flatView(), L.flatView().root() + 8, false);
        for (int i = 0; ; i++) {
            try {
                add(areas, "FlatRange " + i, c.flatRange(i), L.flatRange().stride(), false);
            } catch (IllegalArgumentException noMore) {
                break;
            }
        }
        for (String r : List.of("pc.ram", "pc.bios")) {
            add(areas, "MemoryRegion " + r, c.memoryRegion(r), 176, false);
            add(areas, "RAMBlock " + r, c.ramBlock(r), L.ramBlock().idstr() + QemuLayout.IDSTR_LEN, false);
        }
        add(areas, "MemoryRegion vga", c.memoryRegion("vga"), 176, false);
        add(areas, "vmcoreinfo device", c.vmcoreinfoDevice(), 16, false);
        for (int i = 0; i < 2; i++) {
            add(areas, "CPUState " + i, c.cpuState(i), SyntheticCore.CPU_STATE_SIZE, false);
            add(areas, "vCPU register file " + i, c.cpuEnv(i), 464, false);
            add(areas, "CPUAddressSpace " + i, c.cpuAddressSpace(i), 16, false);
        }
        add(areas, "TypeImpl x86_64-cpu", c.typeImpl("x86_64-cpu"), 104, false);
        add(areas, "TypeImpl cpu", c.typeImpl("cpu"), 104, false);
        add(areas, "vCPU list head", c.cpuList(), 16, false);
        add(areas, "VMCOREINFO note", c.vmcoreinfoNote(), 24 + SyntheticCore.VMCOREINFO_TEXT.length(), true);
        add(areas, "guest RAM pc.ram", c.ram("pc.ram"), 8192, true);
        add(areas, "guest RAM pc.bios", new Spot(c.ram("pc.bios").hostVaddr() + 256 * KiB - 4096,
                c.ram("pc.bios").fileOffset() + 256 * KiB - 4096), 4096, true);
        List<Long> ptrs = new ArrayList<>(List.of(0L, 1L, -1L, 8L, 4096L, 0x7fffffffL, 0x80000000L, 0xffffffffL,
                1L << 32, Long.MAX_VALUE, Long.MIN_VALUE, 2 * MiB, 0xfffc0000L));
        for (Area a : areas) {
            if (a.hostVaddr() != 0) {
                ptrs.add(a.hostVaddr());
                ptrs.add(a.hostVaddr() + 8);
                ptrs.add(a.hostVaddr() - 64);
            }
        }
        try (GuestDump d = GuestDumps.open(path, Optional.empty())) {
            return new DamagedCore(path, Files.readAllBytes(path), List.copyOf(areas),
                    ptrs.stream().mapToLong(Long::longValue).toArray(), d.memory().blocks());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void add(List<Area> areas, String name, Spot s, int length, boolean ramOnly) {
        areas.add(new Area(name, s.fileOffset(), length, s.hostVaddr(), ramOnly));
    }

    Path file() {
        return file;
    }

    List<Area> areas() {
        return areas;
    }

    /** Returns the blocks the undamaged core has. */
    List<GuestPhysBlock> blocks() {
        return blocks;
    }

    /**
     * Applies between one and {@code maxEdits} edits chosen by {@code d} to areas accepted by {@code which};
     * returns true when every edit stayed inside guest RAM (so the block table must not change).
     */
    boolean damage(FuzzedDataProvider d, int maxEdits, java.util.function.Predicate<Area> which) {
        List<Area> pool = areas.stream().filter(which).toList();
        int edits = d.consumeInt(1, maxEdits);
        boolean ramOnly = true;
        for (int e = 0; e < edits && d.remainingBytes() > 0; e++) {
            Area a = d.pickValue(pool);
            int at = d.consumeInt(0, a.length() - 1);
            // Kinds 0-4 overwrite; 5 (rarer: it ends every walk early) cuts the file inside the area.
            int kind = d.consumeInt(0, 19) == 0 ? 5 : d.consumeInt(0, 4);
            ramOnly &= a.guestRamOnly() && kind != 5;
            switch (kind) {
                case 0 -> put(a.fileOffset() + at, new byte[] {d.consumeByte()});
                case 1 -> put(a.fileOffset() + (at & ~3), le(4).putInt(0, d.consumeInt()).array());
                case 2 -> put(a.fileOffset() + (at & ~7), le(8).putLong(0, d.consumeLong()).array());
                case 3 -> {
                    // A pointer to another structure, or to this field itself: loops and aliasing.
                    long self = a.hostVaddr() == 0 ? 0 : a.hostVaddr() + (at & ~7);
                    long v = d.consumeBoolean() ? self : pointers[d.consumeInt(0, pointers.length - 1)];
                    put(a.fileOffset() + (at & ~7), le(8).putLong(0, v).array());
                }
                case 4 -> put(a.fileOffset() + at, d.consumeBytes(Math.min(64, a.length() - at)));
                default -> truncate(a.fileOffset() + at);
            }
        }
        return ramOnly;
    }

    /** Overwrites {@code bytes} at {@code fileOffset}, clipped to the file. */
    void put(long fileOffset, byte[] bytes) {
        int n = (int) Math.max(0, Math.min(bytes.length, original.length - fileOffset));
        if (n == 0 || fileOffset < 0) {
            return;
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(bytes, 0, n), fileOffset);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        written.add(new long[] {fileOffset, n});
    }

    /** Cuts the file at {@code size}. */
    void truncate(long size) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        truncated = true;
    }

    /** Puts back every byte changed since the last restore. */
    void restore() {
        if (truncated) {
            // Edits after the cut may have left holes past it: rewrite the whole (few MiB) file.
            FuzzSupport.writeFile(file, original);
            truncated = false;
            written.clear();
            return;
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            for (long[] w : written) {
                ch.write(ByteBuffer.wrap(original, (int) w[0], (int) w[1]), w[0]);
            }
            written.clear();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Returns the original bytes at {@code fileOffset}. */
    byte[] originalBytes(long fileOffset, int length) {
        byte[] b = new byte[length];
        System.arraycopy(original, (int) fileOffset, b, 0, length);
        return b;
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }
}

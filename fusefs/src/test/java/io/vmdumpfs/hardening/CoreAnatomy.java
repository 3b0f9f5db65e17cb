package io.vmdumpfs.hardening;

import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.HostMemory;
import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.QemuLayout;
import io.vmdumpfs.core.guest.RamDiscovery;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Where everything lies in a real QEMU process core: the ELF header, each program header, the PT_NOTE segment and its
 * notes, the PT_LOAD data, and the QEMU structures discovery walks (AddressSpace, its name, FlatView, FlatRanges,
 * MemoryRegions, RAMBlocks) with their host addresses and core file offsets, found by walking them the way
 * {@link RamDiscovery} does. The corpus damages exactly these bytes.
 *
 * @param size      the core's size in bytes
 * @param phoff     e_phoff
 * @param phdrs     every program header as read (index order)
 * @param noteSeg   the PT_NOTE segment
 * @param notes     the notes with their file offsets
 * @param layout    the layout discovery validated
 * @param structs   the QEMU structures on the path to guest RAM
 * @param blocks    the guest RAM blocks of the undamaged core
 * @param vmcoreinfoPaddr where the VMCOREINFO note is in guest RAM, or -1
 */
record CoreAnatomy(long size, long phoff, List<Phdr> phdrs, Phdr noteSeg, List<ElfNote> notes, QemuLayout layout,
        List<Struct> structs, List<GuestPhysBlock> blocks, long vmcoreinfoPaddr) {

    /** One Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz; {@code at} is its own file offset. */
    record Phdr(int index, long at, int type, int flags, long offset, long vaddr, long filesz, long memsz) {
        static final int PT_LOAD = 1;
        static final int PT_NOTE = 4;

        long fileEnd() {
            return offset + filesz;
        }
    }

    /** A QEMU structure: what it is, its host address, where its bytes are in the core, how many we damage. */
    record Struct(String name, long hostVaddr, long fileOffset, int length) {
        long at(int field) {
            return fileOffset + field;
        }
    }

    static CoreAnatomy of(Path core) {
        List<Phdr> phdrs = new ArrayList<>();
        long size;
        long phoff;
        try (FileChannel ch = FileChannel.open(core, StandardOpenOption.READ)) {
            size = ch.size();
            ByteBuffer h = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(h, 0);
            phoff = h.getLong(32);
            int phnum = Short.toUnsignedInt(h.getShort(56));
            ByteBuffer p = ByteBuffer.allocate(phnum * 56).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(p, phoff);
            for (int i = 0; i < phnum; i++) {
                int o = i * 56;
                phdrs.add(new Phdr(i, phoff + o, p.getInt(o), p.getInt(o + 4), p.getLong(o + 8), p.getLong(o + 16),
                        p.getLong(o + 32), p.getLong(o + 40)));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Phdr noteSeg = phdrs.stream().filter(p -> p.type() == Phdr.PT_NOTE).findFirst().orElseThrow();
        try (ProcessCore pc = ProcessCore.open(core); GuestDump dump = GuestDumps.open(core, Optional.empty())) {
            RamDiscovery.Result r = RamDiscovery.discover(pc);
            QemuLayout l = r.layout();
            HostMemory m = pc.memory();
            List<Struct> s = new ArrayList<>();
            long as = r.addressSpaceVaddr();
            s.add(struct(m, "AddressSpace", as, l.addressSpace().currentMap() + 8));
            s.add(struct(m, "AddressSpace.name", m.u64(as + l.addressSpace().name()), 8));
            long fv = m.u64(as + l.addressSpace().currentMap());
            s.add(struct(m, "FlatView", fv, 64));
            long ranges = m.u64(fv + l.flatView().ranges());
            int nr = m.read(fv + l.flatView().nr(), 4).getInt(0);
            Set<Long> mrs = new LinkedHashSet<>();
            for (int i = 0; i < nr; i++) {
                long fr = ranges + (long) i * l.flatRange().stride();
                s.add(struct(m, "FlatRange " + i, fr, l.flatRange().stride()));
                mrs.add(m.u64(fr));
            }
            int mrBytes = 0;
            for (int c : l.memoryRegion().sizeCandidates()) {
                mrBytes = Math.max(mrBytes, c + 42);
            }
            int i = 0;
            for (long mr : mrs) {
                ByteBuffer b = m.read(mr, mrBytes);
                boolean ram = b.get(l.memoryRegion().ram()) == 1;
                s.add(struct(m, "MemoryRegion " + i + (ram ? " (RAM)" : ""), mr, mrBytes));
                if (ram) {
                    long rb = b.getLong(l.memoryRegion().ramBlock());
                    String idstr = m.cString(rb + l.ramBlock().idstr(), QemuLayout.IDSTR_LEN);
                    s.add(struct(m, "RAMBlock " + idstr, rb, l.ramBlock().idstr() + 32));
                }
                i++;
            }
            long vmciPaddr = dump.vmcoreinfo().map(v -> v.guestPaddr()).orElse(-1L);
            return new CoreAnatomy(size, phoff, List.copyOf(phdrs), noteSeg, pc.notes(), l, List.copyOf(s),
                    r.blocks(), vmciPaddr);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Struct struct(HostMemory m, String name, long vaddr, int length) {
        long off = m.fileOffsetOf(vaddr, length);
        if (off < 0) {
            throw new IllegalStateException(name + " at 0x" + Long.toHexString(vaddr) + " is not in the core");
        }
        return new Struct(name, vaddr, off, length);
    }

    /** Returns the structures whose name starts with {@code prefix}. */
    List<Struct> structs(String prefix) {
        return structs.stream().filter(s -> s.name().startsWith(prefix)).toList();
    }

    Struct struct(String name) {
        return structs.stream().filter(s -> s.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no " + name + " in " + structs));
    }

    /** Returns the PT_LOAD whose file data holds {@code fileOffset}. */
    Phdr loadHolding(long fileOffset) {
        return phdrs.stream().filter(p -> p.type() == Phdr.PT_LOAD && p.offset() <= fileOffset
                && fileOffset < p.fileEnd()).findFirst().orElseThrow();
    }

    /** Returns the PT_LOAD that maps {@code hostVaddr}. */
    Phdr loadMapping(long hostVaddr) {
        return phdrs.stream().filter(p -> p.type() == Phdr.PT_LOAD && Long.compareUnsigned(p.vaddr(), hostVaddr) <= 0
                && Long.compareUnsigned(hostVaddr - p.vaddr(), p.memsz()) < 0).findFirst().orElseThrow();
    }

    /** Returns the block holding guest-physical {@code paddr}. */
    GuestPhysBlock blockOf(long paddr) {
        return blocks.stream().filter(b -> b.contains(paddr)).findFirst().orElseThrow();
    }

    /** Returns the core file offset of guest-physical {@code paddr}. */
    long fileOffsetOfPaddr(long paddr) {
        GuestPhysBlock b = blockOf(paddr);
        return b.fileOffset() + (paddr - b.guestPaddrStart());
    }
}

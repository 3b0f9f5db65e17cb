package io.vmdumpfs.core.testing;

import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.guest.GuestPlatform;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.Vcpus;
import io.vmdumpfs.core.guest.VmcoreInfo;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * A fake guest for tests: a temp "core" file holding the given blocks of guest RAM, filled with a deterministic
 * pattern, and a {@link GuestDump} over it built directly (no core parsing involved).
 *
 * <pre>
 * SyntheticGuest g = SyntheticGuest.builder(tempDir)
 *         .blocks("""
 *                 0        a0000   pc.ram
 *                 100000   700000  pc.ram
 *                 fffc0000 40000   pc.bios
 *                 """)
 *         .vmcoreinfo("OSRELEASE=6.1.0-test\nPAGESIZE=4096\n")
 *         .build();
 * byte[] want = g.expected(0x100000, 4096);   // what the guest has at guest-physical 0x100000
 * </pre>
 *
 * <p>Content is a pure function of (seed, guest-physical address), so any reader can check any byte:
 * each 4 KiB guest page is one of three kinds, picked by a hash of (page index, seed):
 * <ul>
 *   <li>ZERO (about 1 in 8): all zero, for formats that treat zero pages specially;</li>
 *   <li>RANDOM (about 1 in 8): a hash of each 8-byte word's address, incompressible;</li>
 *   <li>PATTERN (the rest): each little-endian 8-byte word is its own guest-physical address XOR a seed mask,
 *       compressible, and a slice read from the wrong offset never matches.</li>
 * </ul>
 *
 * <p>Core file layout: {@link #CORE_HEADER} filler bytes, then the blocks in reverse guest-physical order (so file
 * offsets do not grow with addresses, as in real QEMU cores where pc.bios sits elsewhere), each followed by
 * {@link #GAP} filler bytes of {@link #FILLER}, so a read from outside a block shows up as a mismatch. The
 * VMCOREINFO note, when given, is only attached to the dump, not written into guest RAM.
 */
public final class SyntheticGuest implements Closeable {

    public static final int PAGE_SIZE = 4096;
    /** Bytes before the first block in the core file. */
    public static final int CORE_HEADER = 0x1000;
    /** Bytes between blocks in the core file. */
    public static final int GAP = 0x40;
    public static final byte FILLER = (byte) 0xa5;
    /** Fake QEMU host address of the core file's first byte: hostVaddr = HOST_BASE + file offset. */
    public static final long HOST_BASE = 0x7f00_0000_0000L;

    /** How a guest page is filled. */
    public enum PageKind { ZERO, RANDOM, PATTERN }

    /** One block to create: guest-physical start, size in bytes, RAMBlock name. */
    public record Spec(long guestStart, long size, String name) {
        public Spec {
            if (size <= 0) {
                throw new IllegalArgumentException("block size must be positive: " + size);
            }
        }
    }

    private final Path corePath;
    private final long seed;
    private final long mask;
    private final List<GuestPhysBlock> blocks;
    private final GuestDump dump;
    /** Bytes of guest memory of one {@link PageKind}: the guest's page size. */
    private final int kindSize;

    private SyntheticGuest(Path corePath, long seed, List<GuestPhysBlock> blocks, GuestDump dump, int kindSize) {
        this.corePath = corePath;
        this.seed = seed;
        this.kindSize = kindSize;
        this.mask = mix(seed ^ 0x5eed_5eed_5eed_5eedL);
        this.blocks = blocks;
        this.dump = dump;
    }

    public static Builder builder(Path dir) {
        return new Builder(dir);
    }

    /** Returns the dump over the fake core; closed by {@link #close()}. */
    public GuestDump dump() {
        return dump;
    }

    public Path corePath() {
        return corePath;
    }

    public long seed() {
        return seed;
    }

    /** Returns the blocks, sorted by guest-physical address, with their file offsets in the fake core. */
    public List<GuestPhysBlock> blocks() {
        return blocks;
    }

    /** Returns the kind of the guest page with index {@code guestPaddr / pageSize} (the platform's page size). */
    public PageKind pageKind(long pageIndex) {
        int k = (int) Long.remainderUnsigned(mix(pageIndex ^ mix(seed)), 8);
        return k == 0 ? PageKind.ZERO : k == 1 ? PageKind.RANDOM : PageKind.PATTERN;
    }

    /** Returns the guest's byte at {@code guestPaddr} (whether or not that address is in a block). */
    public byte byteAt(long guestPaddr) {
        long word = guestPaddr & ~7L;
        long value = switch (pageKind(Long.divideUnsigned(guestPaddr, kindSize))) {
            case ZERO -> 0;
            case RANDOM -> mix(word ^ mask);
            case PATTERN -> word ^ mask;
        };
        return (byte) (value >>> (8 * (guestPaddr & 7)));
    }

    /** Fills {@code dst[off, off + len)} with the guest's bytes from {@code guestPaddr} on. */
    public void expected(long guestPaddr, byte[] dst, int off, int len) {
        for (int i = 0; i < len; i++) {
            dst[off + i] = byteAt(guestPaddr + i);
        }
    }

    /** Returns {@code len} guest bytes from {@code guestPaddr} on. */
    public byte[] expected(long guestPaddr, int len) {
        byte[] b = new byte[len];
        expected(guestPaddr, b, 0, len);
        return b;
    }

    @Override
    public void close() throws IOException {
        dump.close();
    }

    /**
     * Returns a VMCOREINFO ELF note as the kernel builds it (crash_core.c append_elf_note): n_namesz = 11
     * ("VMCOREINFO\0"), n_descsz = text length, n_type = 0, name and text each NUL-padded to 4 bytes.
     */
    public static byte[] vmcoreinfoNote(String text) {
        return vmcoreinfoNote(text, ByteOrder.LITTLE_ENDIAN);
    }

    /** Returns a VMCOREINFO note as a kernel running in {@code order} builds it. */
    public static byte[] vmcoreinfoNote(String text, ByteOrder order) {
        byte[] name = (VmcoreInfo.NOTE_NAME + "\0").getBytes(StandardCharsets.US_ASCII);
        byte[] desc = text.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(12 + align4(name.length) + align4(desc.length))
                .order(order);
        b.putInt(0, name.length).putInt(4, desc.length).putInt(8, 0);
        b.put(12, name).put(12 + align4(name.length), desc);
        return b.array();
    }

    /** Parses block specs, one per line: guestStart size name, numbers in hex (0x optional); # starts a comment. */
    public static List<Spec> parseSpecs(String spec) {
        List<Spec> out = new ArrayList<>();
        for (String line : spec.split("\n")) {
            int hash = line.indexOf('#');
            String s = (hash >= 0 ? line.substring(0, hash) : line).strip();
            if (s.isEmpty()) {
                continue;
            }
            String[] f = s.split("\\s+");
            if (f.length != 3) {
                throw new IllegalArgumentException("expected 'guestStart size name': " + line);
            }
            out.add(new Spec(hex(f[0]), hex(f[1]), f[2]));
        }
        return out;
    }

    /** Builds a {@link SyntheticGuest}. */
    public static final class Builder {
        private final Path dir;
        private final List<Spec> specs = new ArrayList<>();
        private long seed = 1;
        private Optional<String> vmcoreinfoText = Optional.empty();
        private long vmcoreinfoPaddr = 0;
        private Optional<String> qemuVersion = Optional.empty();
        private Vcpus vcpus = Vcpus.none("synthetic guest without vCPUs");
        private GuestPlatform platform = GuestPlatform.X86_64;

        private Builder(Path dir) {
            this.dir = dir;
        }

        public Builder block(long guestStart, long size, String name) {
            specs.add(new Spec(guestStart, size, name));
            return this;
        }

        /** Adds blocks from lines of "guestStart size name" (see {@link #parseSpecs}). */
        public Builder blocks(String spec) {
            specs.addAll(parseSpecs(spec));
            return this;
        }

        public Builder blocks(List<Spec> more) {
            specs.addAll(more);
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Attaches a VMCOREINFO note with this text (the KEY=VALUE lines, usually ending in \n). */
        public Builder vmcoreinfo(String text) {
            this.vmcoreinfoText = Optional.of(text);
            return this;
        }

        /** Sets the guest-physical address the VmcoreInfo claims (the note is not written there). */
        public Builder vmcoreinfoPaddr(long guestPaddr) {
            this.vmcoreinfoPaddr = guestPaddr;
            return this;
        }

        public Builder qemuVersion(String version) {
            this.qemuVersion = Optional.of(version);
            return this;
        }

        /** Gives the guest {@code n} x86_64 vCPUs with registers ({@link SyntheticCpu}). */
        /** Sets {@code n} vCPUs counted but without registers, as for a target whose layout is not known yet. */
        public Builder vcpusCounted(int n) {
            this.vcpus = Vcpus.countedOnly(n, "synthetic guest: registers not read");
            return this;
        }

        public Builder vcpus(int n) {
            this.vcpus = SyntheticCpu.x86_64Vcpus(n);
            return this;
        }

        /** Sets the guest's platform (default x86_64); the VMCOREINFO note is written in its byte order. */
        public Builder platform(GuestPlatform p) {
            this.platform = p;
            return this;
        }

        /** Writes the core file into the directory and opens the dump. */
        public SyntheticGuest build() {
            if (specs.isEmpty()) {
                throw new IllegalArgumentException("no blocks");
            }
            List<Spec> sorted = new ArrayList<>(specs);
            sorted.sort(Comparator.comparing(Spec::guestStart, Long::compareUnsigned));

            // File offsets: blocks in reverse guest order, each followed by GAP filler bytes.
            long[] fileOffsets = new long[sorted.size()];
            long off = CORE_HEADER;
            for (int i = sorted.size() - 1; i >= 0; i--) {
                fileOffsets[i] = off;
                off = Math.addExact(off, Math.addExact(sorted.get(i).size(), GAP));
            }
            List<GuestPhysBlock> blocks = new ArrayList<>(sorted.size());
            for (int i = 0; i < sorted.size(); i++) {
                Spec s = sorted.get(i);
                blocks.add(new GuestPhysBlock(s.guestStart(), s.guestStart() + s.size(), HOST_BASE + fileOffsets[i],
                        fileOffsets[i], s.name()));
            }

            Path core;
            try {
                core = Files.createTempFile(dir, "synthetic-", ".core");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            // A throwaway instance for byteAt(); the real one needs the opened dump.
            SyntheticGuest pattern = new SyntheticGuest(core, seed, List.copyOf(blocks), null, platform.pageSize());
            writeCore(core, pattern, blocks);

            ByteOrder order = platform.byteOrder();
            Optional<VmcoreInfo> vmci = vmcoreinfoText.map(
                    t -> new VmcoreInfo(vmcoreinfoNote(t, order), vmcoreinfoPaddr, "synthetic", order));
            GuestMemory memory = new GuestMemory(CoreFile.open(core), blocks);
            GuestDump dump = new GuestDump(memory, platform, vmci, qemuVersion, vcpus,
                    "synthetic (seed " + seed + ")");
            return new SyntheticGuest(core, seed, List.copyOf(blocks), dump, platform.pageSize());
        }

        private static void writeCore(Path core, SyntheticGuest pattern, List<GuestPhysBlock> blocks) {
            byte[] filler = new byte[Math.max(CORE_HEADER, GAP)];
            Arrays.fill(filler, FILLER);
            byte[] buf = new byte[1 << 16];
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(core), 1 << 16)) {
                out.write(filler, 0, CORE_HEADER);
                for (int i = blocks.size() - 1; i >= 0; i--) {
                    GuestPhysBlock b = blocks.get(i);
                    for (long done = 0; done < b.size(); ) {
                        int n = (int) Math.min(buf.length, b.size() - done);
                        pattern.expected(b.guestPaddrStart() + done, buf, 0, n);
                        out.write(buf, 0, n);
                        done += n;
                    }
                    out.write(filler, 0, GAP);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** SplitMix64's finaliser: a cheap, well-mixed 64-bit hash. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private static long hex(String s) {
        String d = s.startsWith("0x") || s.startsWith("0X") ? s.substring(2) : s;
        return Long.parseUnsignedLong(d.replace("_", ""), 16);
    }

    private static int align4(int n) {
        return (n + 3) & ~3;
    }
}

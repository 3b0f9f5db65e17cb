package io.vmdumpfs.core.fuzz;

import io.vmdumpfs.core.testing.SyntheticCore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Writes the seed inputs of the fuzz tests into {@code src/test/resources/io/vmdumpfs/core/fuzz/<Class>Inputs/
 * <method>/seed-*}, where Jazzer replays them in regression mode and starts from them when fuzzing. Run from the
 * dump-core directory after changing a seed:
 *
 * <pre>
 * java -cp target/test-classes:target/classes:… io.vmdumpfs.core.fuzz.FuzzSeeds
 * </pre>
 *
 * <p>The ELF seeds are compact cores (segment data packed right after the notes, not page-aligned) so that the
 * fuzzer's inputs stay under a few KiB: a QEMU-like core with NT_PRPSINFO, NT_AUXV and NT_FILE, and the same with
 * PN_XNUM numbering.
 */
public final class FuzzSeeds {

    static final Path INPUTS = Path.of("src/test/resources/io/vmdumpfs/core/fuzz");

    private FuzzSeeds() {
    }

    public static void main(String[] args) throws IOException {
        write("ElfReaderFuzzTest", "processCore_anyBytes", "seed-qemu-like", compactCore(false));
        write("ElfReaderFuzzTest", "processCore_anyBytes", "seed-pn-xnum", compactCore(true));
        String table = "# target_start     target_end       host_addr        core_offset      name\n"
                + "0000000000000000 00000000000a0000 00007f1c40000000 0000000000003000 pc.ram\n"
                + "0000000000100000 0000000010000000 00007f1c40100000 0000000000103000 pc.ram\n"
                + "00000000fffc0000 0000000100000000 00007f1d40000000 0000000010003000 pc.bios\n";
        write("BlocksTextFuzzTest", "parse_anyText", "seed-blocks", table.getBytes(StandardCharsets.UTF_8));
        String sized = "0x0 0xA0000 0x7f1c40000000 0x3000 0xa0000 pc.ram\n\n# comment\n"
                + "100000 10000000 7f1c40100000 103000 fff0000 0000:00:02.0/vga.vram\n";
        write("BlocksTextFuzzTest", "parse_anyText", "seed-sized", sized.getBytes(StandardCharsets.UTF_8));
        write("VmcoreInfoFuzzTest", "vmcoreinfo_anyNoteBytes", "seed-note", vmcoreinfoNote());
        Random r = new Random(42);
        for (int i = 0; i < 8; i++) {
            byte[] b = new byte[64];
            r.nextBytes(b);
            write("DiscoveryFuzzTest", "discover_damagedStructures", "seed-random-" + i, b);
            write("VmcoreInfoFuzzTest", "vmcoreinfo_damagedInGuestRam", "seed-random-" + i, b);
        }
    }

    /** AnyTargetFuzzTest's selector byte for each target's seeds. */
    private static final Map<String, Integer> SELECTOR = Map.of(
            "processCore_anyBytes", 0, "discover_damagedStructures", 1, "vmcoreinfo_anyNoteBytes", 2,
            "vmcoreinfo_damagedInGuestRam", 3, "parse_anyText", 4);

    private static void write(String cls, String method, String name, byte[] bytes) throws IOException {
        Path dir = Files.createDirectories(INPUTS.resolve(cls + "Inputs").resolve(method));
        Files.write(dir.resolve(name), bytes);
        // The same seed for the combined target: the input, then the byte that selects this target.
        byte[] any = Arrays.copyOf(bytes, bytes.length + 1);
        any[bytes.length] = (byte) (int) SELECTOR.get(method);
        Path anyDir = Files.createDirectories(INPUTS.resolve("AnyTargetFuzzTestInputs").resolve("anyTarget"));
        Files.write(anyDir.resolve(method + "-" + name), any);
    }

    /** The kernel's note layout: namesz, descsz, type, "VMCOREINFO\0" padded, then the text padded. */
    static byte[] vmcoreinfoNote() {
        byte[] text = SyntheticCore.VMCOREINFO_TEXT.getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = le(24 + ((text.length + 3) & ~3));
        b.putInt(0, 11).putInt(4, text.length).putInt(8, 0);
        b.put(12, "VMCOREINFO".getBytes(StandardCharsets.US_ASCII));
        b.put(24, text);
        return b.array();
    }

    private record Load(long vaddr, int flags, byte[] data) {
    }

    /**
     * A QEMU-like process core in under 2 KiB: executable text (AT_ENTRY inside it), data and heap segments with a
     * few bytes each, and the notes discovery reads.
     */
    static byte[] compactCore(boolean xnum) {
        long text = SyntheticCore.EXE_TEXT;
        long data = SyntheticCore.EXE_DATA;
        List<Load> loads = List.of(
                new Load(text, SyntheticCore.RX, new byte[64]),
                new Load(data, SyntheticCore.RW, "memory\0\0I/O\0".getBytes(StandardCharsets.ISO_8859_1)),
                new Load(SyntheticCore.HEAP, SyntheticCore.RW, new byte[128]));
        List<byte[]> notes = new ArrayList<>();
        ByteBuffer prpsinfo = le(136);
        prpsinfo.put(40, SyntheticCore.QEMU_COMM.getBytes(StandardCharsets.ISO_8859_1));
        notes.add(note("CORE", 3, prpsinfo.array()));
        ByteBuffer auxv = le(32);
        auxv.putLong(0, 9).putLong(8, SyntheticCore.ENTRY);
        notes.add(note("CORE", 6, auxv.array()));
        byte[] exe = (SyntheticCore.QEMU_EXE + "\0").getBytes(StandardCharsets.UTF_8);
        ByteBuffer file = le(16 + 2 * 24 + 2 * exe.length);
        file.putLong(0, 2).putLong(8, 4096);
        file.putLong(16, text).putLong(24, text + 0x10000).putLong(32, 0);
        file.putLong(40, data).putLong(48, data + 0x10000).putLong(56, 16);
        file.put(64, exe).put(64 + exe.length, exe);
        notes.add(note("CORE", 0x46494c45, file.array()));
        notes.add(note("CORE", 1, new byte[336]));

        int phnum = 1 + loads.size();
        int shoff = 64 + phnum * 56;
        int notesOff = shoff + (xnum ? 64 : 0);
        int notesLen = notes.stream().mapToInt(n -> n.length).sum();
        int dataOff = notesOff + notesLen;
        int total = dataOff + loads.stream().mapToInt(l -> l.data().length).sum();
        ByteBuffer b = le(total);
        b.put(0, new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1});
        b.putShort(16, (short) 4).putShort(18, (short) 62).putInt(20, 1);
        b.putLong(32, 64).putLong(40, xnum ? shoff : 0);
        b.putShort(52, (short) 64).putShort(54, (short) 56);
        b.putShort(56, (short) (xnum ? 0xffff : phnum));
        b.putShort(58, (short) (xnum ? 64 : 0)).putShort(60, (short) (xnum ? 1 : 0));
        if (xnum) {
            b.putInt(shoff + 44, phnum);
        }
        b.putInt(64, 4).putLong(64 + 8, notesOff).putLong(64 + 32, notesLen);
        int at = notesOff;
        for (byte[] n : notes) {
            b.put(at, n);
            at += n.length;
        }
        int p = 64;
        for (Load l : loads) {
            p += 56;
            b.putInt(p, 1).putInt(p + 4, l.flags()).putLong(p + 8, at).putLong(p + 16, l.vaddr())
                    .putLong(p + 32, l.data().length).putLong(p + 40, 0x10000).putLong(p + 48, 1);
            b.put(at, l.data());
            at += l.data().length;
        }
        return b.array();
    }

    private static byte[] note(String name, int type, byte[] desc) {
        byte[] n = (name + "\0").getBytes(StandardCharsets.ISO_8859_1);
        int nl = (n.length + 3) & ~3;
        int dl = (desc.length + 3) & ~3;
        ByteBuffer b = le(12 + nl + dl);
        b.putInt(0, n.length).putInt(4, desc.length).putInt(8, type);
        b.put(12, n).put(12 + nl, desc);
        return b.array();
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }
}

package io.vmdumpfs.core.elf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Reads and writes ELF notes: {@code n_namesz, n_descsz, n_type} (three 32-bit words, in ELF32 and ELF64 alike),
 * the name and the descriptor, each padded to 4 bytes (the gABI's and Linux's rule for core files, also in ELF64).
 * The one place that knows the record; the process core, VMCOREINFO, the kdump header and the notes we write all go
 * through it.
 *
 * <p>The byte order is always the caller's to say: a process core's notes are in the host's order, a guest's notes
 * (VMCOREINFO, the notes we build for a guest) in the guest's, which is big-endian on s390x.
 *
 * <p>Reading never trusts the sizes: a note whose name, or whose descriptor, runs past the bytes there are ends the
 * read, and where it stopped is reported. The last descriptor's padding may be missing.
 */
public final class ElfNotes {

    /** sizeof(Elf64_Nhdr) == sizeof(Elf32_Nhdr). */
    public static final int HEADER_SIZE = 12;

    private ElfNotes() {
    }

    /**
     * The notes read from some bytes.
     *
     * @param notes       the well-formed notes, in order
     * @param malformedAt offset (from the same origin as the notes' offsets) of the note that runs past the end, or
     *                    -1 when every note fit
     */
    public record Parsed(List<ElfNote> notes, long malformedAt) {
        public Parsed {
            notes = List.copyOf(notes);
        }

        /** Returns true when a note ran past the end and reading stopped there. */
        public boolean malformed() {
            return malformedAt >= 0;
        }

        /** Returns the first note of owner {@code name}, if any. */
        public Optional<ElfNote> named(String name) {
            return notes.stream().filter(n -> n.name().equals(name)).findFirst();
        }
    }

    /**
     * One note header.
     *
     * @param namesz n_namesz, unsigned
     * @param descsz n_descsz, unsigned
     * @param type   n_type
     */
    public record Header(long namesz, long descsz, int type) {

        /** Returns the note's size with its padding: header, name and descriptor. */
        public long size() {
            return HEADER_SIZE + align4(namesz) + align4(descsz);
        }

        /** Returns the descriptor's offset from the start of the note. */
        public long descOffset() {
            return HEADER_SIZE + align4(namesz);
        }
    }

    /** Returns the note header at {@code pos} of {@code b}, read in {@code order}; {@code b} must hold 12 bytes there. */
    public static Header header(ByteBuffer b, int pos, ByteOrder order) {
        ByteBuffer in = b.duplicate().order(order);
        return new Header(Integer.toUnsignedLong(in.getInt(pos)), Integer.toUnsignedLong(in.getInt(pos + 4)),
                in.getInt(pos + 8));
    }

    /**
     * Reads the notes in {@code b} from 0 to its limit, in {@code order}. Offsets in the notes are {@code origin} plus
     * the position in {@code b} (pass a segment's file offset to get file offsets).
     */
    public static Parsed read(ByteBuffer b, ByteOrder order, long origin) {
        ByteBuffer in = b.duplicate().order(order);
        List<ElfNote> out = new ArrayList<>();
        int pos = 0;
        int limit = in.limit();
        while (limit - pos >= HEADER_SIZE) {
            Header h = header(in, pos, order);
            long namesz = h.namesz();
            long descsz = h.descsz();
            long descOff = pos + h.descOffset();
            if (descOff > limit || descOff + descsz > limit) {
                return new Parsed(out, origin + pos);
            }
            int nlen = (int) namesz;
            while (nlen > 0 && in.get(pos + HEADER_SIZE + nlen - 1) == 0) {
                nlen--;
            }
            byte[] name = new byte[nlen];
            in.get(pos + HEADER_SIZE, name);
            byte[] desc = new byte[(int) descsz];
            in.get((int) descOff, desc);
            out.add(new ElfNote(new String(name, StandardCharsets.ISO_8859_1), h.type(), desc, origin + pos,
                    origin + descOff));
            pos = (int) Math.min(descOff + align4(descsz), limit);
        }
        return new Parsed(out, -1);
    }

    /** Reads the notes in {@code bytes}, in {@code order}; offsets are positions in {@code bytes}. */
    public static Parsed read(byte[] bytes, ByteOrder order) {
        return read(ByteBuffer.wrap(bytes), order, 0);
    }

    /**
     * Returns the descriptor of the single note at the start of {@code note}, cut at the end of the bytes when its
     * n_descsz promises more, and empty when even the header or the name does not fit. For a note copied out of
     * guest memory, whose sizes are the guest's.
     */
    public static byte[] firstDescClipped(byte[] note, ByteOrder order) {
        if (note.length < HEADER_SIZE) {
            return new byte[0];
        }
        Header h = header(ByteBuffer.wrap(note), 0, order);
        int descOff = (int) Math.min(note.length, h.descOffset());
        int end = (int) Math.min(note.length, descOff + h.descsz());
        return Arrays.copyOfRange(note, descOff, end);
    }

    /**
     * Returns one note: the header in {@code order}, {@code name} with its NUL, and {@code desc}, each padded with
     * NULs to 4 bytes.
     */
    public static byte[] write(String name, int type, byte[] desc, ByteOrder order) {
        byte[] n = (name + "\0").getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer b = ByteBuffer.allocate(HEADER_SIZE + (int) align4(n.length) + (int) align4(desc.length))
                .order(order);
        b.putInt(0, n.length).putInt(4, desc.length).putInt(8, type);
        b.put(HEADER_SIZE, n).put(HEADER_SIZE + (int) align4(n.length), desc);
        return b.array();
    }

    /** Returns {@code n} rounded up to a multiple of 4. */
    public static long align4(long n) {
        return (n + 3) & ~3L;
    }
}

package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.elf.ElfNotes;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;

/**
 * The guest kernel's VMCOREINFO: the ELF note exactly as the kernel wrote it (namesz, descsz, type, "VMCOREINFO",
 * text), and the parsed {@code KEY=VALUE} lines. Formats copy {@link #note()} byte for byte.
 *
 * @param note       the whole ELF note, header included, name and desc padded to 4 bytes
 * @param guestPaddr where the note lies in guest-physical memory
 * @param source     how it was found, e.g. "vmcoreinfo device" or "guest RAM scan"
 * @param byteOrder  the byte order the guest kernel wrote the note's header in (the guest's)
 */
public record VmcoreInfo(byte[] note, long guestPaddr, String source, ByteOrder byteOrder) {

    /** The kernel's note name (kernel/crash_core.c VMCOREINFO_NOTE_NAME). */
    public static final String NOTE_NAME = "VMCOREINFO";
    /** Upper bound on the note size; the kernel reserves one page (VMCOREINFO_NOTE_SIZE is below 4 KiB + header). */
    public static final int MAX_NOTE_BYTES = 1 << 16;

    /**
     * Returns the descriptor text, without trailing NULs. The sizes in the note header are the guest's: a descriptor
     * running past the note's bytes is cut at their end, and a note too short for its header has no text.
     */
    public String text() {
        byte[] desc = ElfNotes.firstDescClipped(note, byteOrder);
        int end = desc.length;
        while (end > 0 && desc[end - 1] == 0) {
            end--;
        }
        return new String(desc, 0, end, StandardCharsets.UTF_8);
    }

    /** Returns the KEY=VALUE entries in order. */
    public Map<String, String> entries() {
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : text().split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                m.putIfAbsent(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        return Collections.unmodifiableMap(m);
    }

    public String get(String key) {
        return entries().get(key);
    }

    /** Returns OSRELEASE, or null. */
    public String osRelease() {
        return get("OSRELEASE");
    }

    /** Returns PAGESIZE (decimal), or the given default. */
    public int pageSize(int dflt) {
        String v = get("PAGESIZE");
        try {
            return v == null ? dflt : Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            return dflt;
        }
    }

    /** Returns KERNELOFFSET (hexadecimal in the kernel's format), if present. */
    public OptionalLong kernelOffset() {
        return parse(get("KERNELOFFSET"), 16);
    }

    /** Returns NUMBER(phys_base): the kernel prints NUMBER() values in decimal (VMCOREINFO_NUMBER uses %ld). */
    public OptionalLong physBase() {
        return parse(get("NUMBER(phys_base)"), 10);
    }

    /** Returns SYMBOL(name) (hexadecimal), if present. */
    public OptionalLong symbol(String name) {
        return parse(get("SYMBOL(" + name + ")"), 16);
    }

    private static OptionalLong parse(String v, int radix) {
        if (v == null) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(Long.parseUnsignedLong(v.trim(), radix));
        } catch (NumberFormatException e) {
            try {
                return OptionalLong.of(Long.parseLong(v.trim(), radix));
            } catch (NumberFormatException e2) {
                return OptionalLong.empty();
            }
        }
    }

    /** Returns the descriptor text as bytes (what a kdump header's offset_vmcoreinfo points at). */
    public byte[] textBytes() {
        return text().getBytes(StandardCharsets.UTF_8);
    }

    static int align4(int n) {
        return (n + 3) & ~3;
    }
}

package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.guest.VmcoreInfo;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The guest kernel's VMCOREINFO as typed values, parsed once from the note text ({@link VmcoreInfo#text()}). The
 * kernel writes each kind with its own format (kernel/crash_core.c and the arch's arch_crash_save_vmcoreinfo):
 *
 * <pre>
 *   SYMBOL(name)=%lx          address, hexadecimal without 0x
 *   OFFSET(struct.member)=%lu decimal
 *   SIZE(struct)=%lu          decimal
 *   LENGTH(name)=%lu          decimal
 *   NUMBER(name)=%ld          decimal, signed (x86_64 phys_base is often negative); arm64 prints some as 0x%llx
 *   KERNELOFFSET=%lx          hexadecimal without 0x
 *   PAGESIZE=%ld, OSRELEASE=%s, BUILD-ID=%s, CRASHTIME=%lld
 * </pre>
 *
 * A value that does not parse is absent, not guessed: {@link #malformed()} lists such lines for diagnostics. When a
 * key repeats, the first one counts, as in makedumpfile. Immutable and thread-safe.
 */
public final class VmcoreInfoTable {

    private final Map<String, Long> symbols;
    private final Map<String, Long> numbers;
    private final Map<String, Long> offsets;
    private final Map<String, Long> sizes;
    private final Map<String, Long> lengths;
    private final Map<String, String> plain;
    private final List<String> malformed;

    private VmcoreInfoTable(Map<String, Long> symbols, Map<String, Long> numbers, Map<String, Long> offsets,
            Map<String, Long> sizes, Map<String, Long> lengths, Map<String, String> plain, List<String> malformed) {
        this.symbols = Collections.unmodifiableMap(symbols);
        this.numbers = Collections.unmodifiableMap(numbers);
        this.offsets = Collections.unmodifiableMap(offsets);
        this.sizes = Collections.unmodifiableMap(sizes);
        this.lengths = Collections.unmodifiableMap(lengths);
        this.plain = Collections.unmodifiableMap(plain);
        this.malformed = List.copyOf(malformed);
    }

    /** Returns the table of {@code note}'s text. */
    public static VmcoreInfoTable of(VmcoreInfo note) {
        return parse(note.text());
    }

    /** Parses VMCOREINFO text: {@code KEY=VALUE} lines; lines without '=' are ignored. */
    public static VmcoreInfoTable parse(String text) {
        Map<String, Long> symbols = new HashMap<>();
        Map<String, Long> numbers = new HashMap<>();
        Map<String, Long> offsets = new HashMap<>();
        Map<String, Long> sizes = new HashMap<>();
        Map<String, Long> lengths = new HashMap<>();
        Map<String, String> plain = new HashMap<>();
        List<String> malformed = new ArrayList<>();
        for (String line : text.split("\n")) {
            int eq = line.indexOf('=');
            if (eq <= 0) {
                continue;
            }
            String key = line.substring(0, eq);
            String value = line.substring(eq + 1).strip();
            Map<String, Long> kind = null;
            String name = null;
            boolean hex = false;
            int open = key.indexOf('(');
            if (open > 0 && key.endsWith(")")) {
                name = key.substring(open + 1, key.length() - 1);
                switch (key.substring(0, open)) {
                    case "SYMBOL" -> {
                        kind = symbols;
                        hex = true;
                    }
                    case "NUMBER" -> kind = numbers;
                    case "OFFSET" -> kind = offsets;
                    case "SIZE" -> kind = sizes;
                    case "LENGTH" -> kind = lengths;
                    default -> {
                        // another kind (a future one); keep it as text
                    }
                }
            }
            if (kind == null) {
                plain.putIfAbsent(key, value);
                continue;
            }
            OptionalLong v = hex ? parseHex(value) : parseNumber(value);
            if (v.isPresent()) {
                kind.putIfAbsent(name, v.getAsLong());
            } else {
                malformed.add(line);
            }
        }
        return new VmcoreInfoTable(symbols, numbers, offsets, sizes, lengths, plain, malformed);
    }

    /** Returns SYMBOL(name): the kernel virtual address the kernel printed, if present. */
    public OptionalLong symbol(String name) {
        return of(symbols.get(name));
    }

    /** Returns every SYMBOL(name) as name → kernel virtual address, unordered and unmodifiable. */
    public Map<String, Long> symbols() {
        return symbols;
    }

    /** Returns NUMBER(name), if present. */
    public OptionalLong number(String name) {
        return of(numbers.get(name));
    }

    /** Returns OFFSET(struct.member): the member's byte offset in the struct, if present. */
    public OptionalLong offset(String structDotMember) {
        return of(offsets.get(structDotMember));
    }

    /** Returns SIZE(struct), if present. */
    public OptionalLong size(String struct) {
        return of(sizes.get(struct));
    }

    /** Returns LENGTH(name): an array's element count, if present. */
    public OptionalLong length(String name) {
        return of(lengths.get(name));
    }

    /** Returns KERNELOFFSET: how far KASLR moved the kernel image from its link address, if present. */
    public OptionalLong kernelOffset() {
        String v = plain.get("KERNELOFFSET");
        return v == null ? OptionalLong.empty() : parseHex(v);
    }

    /** Returns OSRELEASE, if present. */
    public Optional<String> osRelease() {
        return Optional.ofNullable(plain.get("OSRELEASE"));
    }

    /** Returns PAGESIZE, if present and a number. */
    public OptionalLong pageSize() {
        String v = plain.get("PAGESIZE");
        return v == null ? OptionalLong.empty() : parseNumber(v);
    }

    /** Returns any other KEY=VALUE entry as text (BUILD-ID, CRASHTIME, …), if present. */
    public Optional<String> text(String key) {
        return Optional.ofNullable(plain.get(key));
    }

    /** Returns the lines whose value did not parse as their kind demands, in note order. */
    public List<String> malformed() {
        return malformed;
    }

    /**
     * Returns SYMBOL(name), or throws naming what is missing: for facts a caller cannot do without.
     *
     * @throws KernelUnavailableException if the symbol is absent
     */
    public long requireSymbol(String name) {
        return symbol(name).orElseThrow(() -> new KernelUnavailableException("VMCOREINFO has no SYMBOL(" + name + ")"));
    }

    /**
     * Returns NUMBER(name), or throws naming what is missing.
     *
     * @throws KernelUnavailableException if the number is absent
     */
    public long requireNumber(String name) {
        return number(name).orElseThrow(() -> new KernelUnavailableException("VMCOREINFO has no NUMBER(" + name + ")"));
    }

    /**
     * Returns OFFSET(struct.member), or throws naming what is missing.
     *
     * @throws KernelUnavailableException if the offset is absent
     */
    public long requireOffset(String structDotMember) {
        return offset(structDotMember).orElseThrow(
                () -> new KernelUnavailableException("VMCOREINFO has no OFFSET(" + structDotMember + ")"));
    }

    private static OptionalLong of(Long v) {
        return v == null ? OptionalLong.empty() : OptionalLong.of(v);
    }

    /** Parses %lx (an unsigned 64-bit hexadecimal number, 0x tolerated). */
    static OptionalLong parseHex(String v) {
        String s = v.startsWith("0x") || v.startsWith("0X") ? v.substring(2) : v;
        if (s.isEmpty() || s.length() > 16) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(Long.parseUnsignedLong(s, 16));
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /**
     * Parses a NUMBER/OFFSET/SIZE/LENGTH value: %ld or %lu in decimal (a value above Long.MAX_VALUE wraps, as the
     * kernel's unsigned long does), or 0x-prefixed hexadecimal as arm64 prints kimage_voffset and PHYS_OFFSET.
     */
    static OptionalLong parseNumber(String v) {
        if (v.startsWith("0x") || v.startsWith("0X")) {
            return parseHex(v);
        }
        try {
            return OptionalLong.of(v.startsWith("-") ? Long.parseLong(v) : Long.parseUnsignedLong(v));
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }
}

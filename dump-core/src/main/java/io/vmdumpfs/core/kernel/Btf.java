package io.vmdumpfs.core.kernel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * The guest kernel's BTF (BPF Type Format, include/uapi/linux/btf.h, Documentation/bpf/btf.rst): the C types of the
 * kernel, which distribution kernels carry in the image itself ({@code CONFIG_DEBUG_INFO_BTF}, between
 * {@code __start_BTF} and {@code __stop_BTF}) for BPF. Read here for the few structure offsets VMCOREINFO does not
 * give ({@code rq.curr}, {@code task_struct.pid}), so no debug vmlinux is needed.
 *
 * <pre>
 *   struct btf_header {            struct btf_type {               then, by kind, trailing data:
 *     u16 magic;     0xeB9F          u32 name_off;                   INT      u32 encoding/offset/bits
 *     u8  version;   1               u32 info;  vlen 0-15,           ARRAY    {type, index_type, nelems}
 *     u8  flags;                                kind 24-28,          STRUCT,  vlen × {name_off, type, offset}
 *     u32 hdr_len;                              kind_flag 31         UNION
 *     u32 type_off;  after the header u32 size or type;             ENUM     vlen × {name_off, val}
 *     u32 type_len;                  }                               FUNC_PROTO vlen × {name_off, type}
 *     u32 str_off;                                                   VAR      {linkage}
 *     u32 str_len;                                                   DATASEC  vlen × {type, offset, size}
 *   }                                                                DECL_TAG {component_idx}
 *                                                                    ENUM64   vlen × {name_off, lo32, hi32}
 * </pre>
 *
 * Type ids count from 1 in section order (0 is void). A struct member's {@code offset} is in bits; with the
 * struct's kind_flag set, its low 24 bits are the offset and the high 8 the bitfield size.
 *
 * <p>Hardened: the blob comes from the guest. Every offset and count is checked against the bytes there before it is
 * used, a kind this reader does not know ends the parse (its trailing size is unknown), and every walk through the
 * types (typedef chains, anonymous members) is bounded; anything malformed is a {@link KernelUnavailableException}
 * naming the type and the byte offset, never another exception or a hang. Immutable and thread-safe.
 */
public final class Btf {

    public static final int MAGIC = 0xeb9f;
    /** sizeof(struct btf_header) of version 1; later headers may be longer (hdr_len says), never shorter. */
    static final int HEADER_SIZE = 24;
    static final int TYPE_SIZE = 12;
    /** Larger than any kernel's BTF (a distribution kernel's: about 5 MB); bounds what a bad length allocates. */
    public static final int MAX_BYTES = 64 << 20;
    /** How deep typedef/modifier chains and anonymous members are followed: far more than C code nests. */
    static final int MAX_DEPTH = 32;

    public static final int KIND_INT = 1;
    public static final int KIND_PTR = 2;
    public static final int KIND_ARRAY = 3;
    public static final int KIND_STRUCT = 4;
    public static final int KIND_UNION = 5;
    public static final int KIND_ENUM = 6;
    public static final int KIND_FWD = 7;
    public static final int KIND_TYPEDEF = 8;
    public static final int KIND_VOLATILE = 9;
    public static final int KIND_CONST = 10;
    public static final int KIND_RESTRICT = 11;
    public static final int KIND_FUNC = 12;
    public static final int KIND_FUNC_PROTO = 13;
    public static final int KIND_VAR = 14;
    public static final int KIND_DATASEC = 15;
    public static final int KIND_FLOAT = 16;
    public static final int KIND_DECL_TAG = 17;
    public static final int KIND_TYPE_TAG = 18;
    public static final int KIND_ENUM64 = 19;

    /** BTF_INT_SIGNED in an INT's encoding. */
    static final int INT_SIGNED = 1;

    /**
     * A struct or union member as found: its offset from the start of the outermost struct asked for (anonymous
     * members' offsets added in), and its type.
     *
     * @param bitOffset    offset in bits
     * @param bitfieldSize bits of a bitfield member, else 0
     * @param typeId       the member's type id, as declared (typedefs and modifiers not resolved)
     */
    public record Member(long bitOffset, int bitfieldSize, int typeId) {

        /**
         * Returns the byte offset.
         *
         * @throws KernelUnavailableException for a bitfield or a member not on a byte boundary
         */
        public long byteOffset() {
            if (bitfieldSize != 0 || (bitOffset & 7) != 0) {
                throw new KernelUnavailableException("BTF member at bit " + bitOffset + " is a bitfield");
            }
            return bitOffset >>> 3;
        }
    }

    private final ByteBuffer types; // the type section alone, position 0 = its start
    private final byte[] strings;
    /** Where each type's record starts in {@link #types}; index = type id, [0] unused (void). */
    private final int[] start;

    private Btf(ByteBuffer types, byte[] strings, int[] start) {
        this.types = types;
        this.strings = strings;
        this.start = start;
    }

    /**
     * Parses a BTF blob in the guest's byte order {@code order}.
     *
     * @throws KernelUnavailableException when it is not BTF, not in {@code order}, or malformed anywhere
     */
    public static Btf parse(byte[] blob, ByteOrder order) {
        if (blob.length < HEADER_SIZE) {
            throw bad("is " + blob.length + " bytes, shorter than its header");
        }
        ByteBuffer b = ByteBuffer.wrap(blob).order(order);
        int magic = Short.toUnsignedInt(b.getShort(0));
        if (magic != MAGIC) {
            throw bad(magic == Short.toUnsignedInt(Short.reverseBytes((short) MAGIC))
                    ? "is in the other byte order than the guest's" : String.format("magic is 0x%04x, not 0xeb9f", magic));
        }
        int version = Byte.toUnsignedInt(b.get(2));
        if (version != 1) {
            throw bad("version " + version + " is not known (1 is)");
        }
        long hdrLen = u32(b, 4);
        long typeOff = u32(b, 8);
        long typeLen = u32(b, 12);
        long strOff = u32(b, 16);
        long strLen = u32(b, 20);
        if (hdrLen < HEADER_SIZE || hdrLen > blob.length) {
            throw bad("hdr_len " + hdrLen + " is not within 24 and the blob's " + blob.length + " bytes");
        }
        long typeStart = hdrLen + typeOff;
        long strStart = hdrLen + strOff;
        if (typeStart + typeLen > blob.length || strStart + strLen > blob.length) {
            throw bad("sections (types " + typeOff + "+" + typeLen + ", strings " + strOff + "+" + strLen
                    + " after a " + hdrLen + "-byte header) run past the blob's " + blob.length + " bytes");
        }
        if (typeStart < strStart + strLen && strStart < typeStart + typeLen && typeLen > 0 && strLen > 0) {
            throw bad("the type and string sections overlap");
        }
        if (strLen == 0 || blob[(int) (strStart + strLen - 1)] != 0 || blob[(int) strStart] != 0) {
            // the string section starts with the empty name (name_off 0) and ends with a NUL
            throw bad("the string section does not start and end with a NUL");
        }
        ByteBuffer types = ByteBuffer.wrap(blob, (int) typeStart, (int) typeLen).slice().order(order);
        byte[] strings = Arrays.copyOfRange(blob, (int) strStart, (int) (strStart + strLen));
        return new Btf(types, strings, index(types, strings.length));
    }

    /** Walks the type section once and returns where each type starts; every record must end inside the section. */
    private static int[] index(ByteBuffer types, int strLen) {
        int len = types.capacity();
        // at most one type per 12 bytes: bounds the array before any count from the blob is believed
        int[] start = new int[len / TYPE_SIZE + 2];
        int n = 0;
        int pos = 0;
        while (pos < len) {
            if (len - pos < TYPE_SIZE) {
                throw bad("type " + (n + 1) + " at type-section offset " + pos + " is cut off");
            }
            long nameOff = u32(types, pos);
            int info = types.getInt(pos + 4);
            int kind = kindOf(info);
            int vlen = info & 0xffff;
            if (nameOff >= strLen) {
                throw bad("type " + (n + 1) + " at type-section offset " + pos + ": name_off " + nameOff
                        + " is past the string section's " + strLen + " bytes");
            }
            long trailing = switch (kind) {
                case KIND_INT, KIND_VAR, KIND_DECL_TAG -> 4;
                case KIND_PTR, KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_FUNC,
                        KIND_FLOAT, KIND_TYPE_TAG -> 0;
                case KIND_ARRAY -> 12;
                case KIND_STRUCT, KIND_UNION, KIND_DATASEC, KIND_ENUM64 -> 12L * vlen;
                case KIND_ENUM, KIND_FUNC_PROTO -> 8L * vlen;
                default -> throw bad("type " + (n + 1) + " at type-section offset " + pos + " has kind " + kind
                        + ", which this reader does not know (so not where the next type starts)");
            };
            long end = pos + TYPE_SIZE + trailing;
            if (end > len) {
                throw bad("type " + (n + 1) + " at type-section offset " + pos + " (kind " + kind + ", vlen " + vlen
                        + ") runs past the type section's " + len + " bytes");
            }
            start[++n] = pos;
            pos = (int) end;
        }
        return Arrays.copyOf(start, n + 1);
    }

    /**
     * Reads the guest kernel's BTF: the bytes between {@code __start_BTF} and {@code __stop_BTF} (found through the
     * kernel's symbols, kallsyms in practice).
     *
     * @return empty when the kernel has no such symbols (built without CONFIG_DEBUG_INFO_BTF, or symbols unknown)
     * @throws KernelUnavailableException when the range is implausible or the bytes are not BTF
     * @throws KernelAddressException     when they cannot be read
     */
    public static Optional<Btf> read(GuestKernel kernel) {
        OptionalLong from = kernel.symbol("__start_BTF");
        OptionalLong to = kernel.symbol("__stop_BTF");
        if (from.isEmpty() || to.isEmpty()) {
            return Optional.empty();
        }
        long size = to.getAsLong() - from.getAsLong();
        if (size < HEADER_SIZE || size > MAX_BYTES) {
            throw bad("__stop_BTF - __start_BTF is " + size + " bytes, not a BTF size");
        }
        return Optional.of(parse(kernel.memory().bulk().readBytes(from.getAsLong(), (int) size),
                kernel.platform().byteOrder()));
    }

    /** Returns the number of types (the largest type id). */
    public int typeCount() {
        return start.length - 1;
    }

    /** Returns the kind of type {@code id} (1 to {@link #typeCount()}). */
    public int kind(int id) {
        return kindOf(info(id));
    }

    /** Returns the name of type {@code id}; "" for anonymous types. */
    public String name(int id) {
        return string(u32(types, at(id)));
    }

    /** Returns the size in bytes of an INT, STRUCT, UNION, ENUM, ENUM64, FLOAT or DATASEC type. */
    public long size(int id) {
        int k = kind(id);
        if (k != KIND_INT && k != KIND_STRUCT && k != KIND_UNION && k != KIND_ENUM && k != KIND_ENUM64
                && k != KIND_FLOAT && k != KIND_DATASEC) {
            throw bad("type " + id + " (kind " + k + ") has no size of its own");
        }
        return u32(types, at(id) + 8);
    }

    /** Returns true when INT type {@code id} is signed. */
    public boolean signedInt(int id) {
        if (kind(id) != KIND_INT) {
            throw bad("type " + id + " is not an INT");
        }
        return ((types.getInt(at(id) + TYPE_SIZE) >>> 24) & 0xf & INT_SIGNED) != 0;
    }

    /**
     * Returns the type {@code id} refers to after typedefs and modifiers (volatile, const, restrict, type tags such
     * as {@code __rcu}); {@code id} itself when it is none of those. 0 is void.
     *
     * @throws KernelUnavailableException when the chain is longer than {@link #MAX_DEPTH} (a loop) or leaves the
     *                                    types
     */
    public int resolve(int id) {
        int t = id;
        for (int depth = 0; depth <= MAX_DEPTH; depth++) {
            if (t == 0) {
                return 0;
            }
            int k = kind(t);
            if (k != KIND_TYPEDEF && k != KIND_VOLATILE && k != KIND_CONST && k != KIND_RESTRICT
                    && k != KIND_TYPE_TAG) {
                return t;
            }
            t = referenced(t);
        }
        throw bad("type " + id + ": typedef/modifier chain longer than " + MAX_DEPTH + " (a loop?)");
    }

    /** Returns the type a PTR, TYPEDEF, modifier, FUNC or VAR refers to (its {@code type} field). */
    public int referenced(int id) {
        long t = u32(types, at(id) + 8);
        if (t > typeCount()) {
            throw bad("type " + id + " refers to type " + t + ", beyond the " + typeCount() + " types");
        }
        return (int) t;
    }

    /**
     * Returns the id of the one struct called {@code name}; empty when there is none.
     *
     * @throws KernelUnavailableException when several structs have that name and differ in size (then which one the
     *                                    kernel means is not known)
     */
    public OptionalInt struct(String name) {
        return named(name, KIND_STRUCT);
    }

    /**
     * Returns the member {@code member} of the struct called {@code struct}, searched through anonymous struct and
     * union members too (as C names them: {@code task_struct.pid} even when randstruct wraps the fields).
     *
     * @return empty when either is not there
     * @throws KernelUnavailableException when the types are malformed, or the struct name is ambiguous
     */
    public Optional<Member> member(String struct, String member) {
        OptionalInt id = struct(struct);
        return id.isPresent() ? member(id.getAsInt(), member) : Optional.empty();
    }

    /** Returns the member {@code member} of struct or union {@code id}; see {@link #member(String, String)}. */
    public Optional<Member> member(int id, String member) {
        byte[] want = member.getBytes(StandardCharsets.UTF_8);
        return find(id, want, 0, 0, new BitSet(typeCount() + 1));
    }

    /**
     * Searches struct or union {@code id} for {@code want}, then its anonymous members. Each type is searched once
     * ({@code searched}): C allows no two members of one name, so a type already searched without a match cannot
     * hold it elsewhere, and a blob whose anonymous members refer back to their own type costs one visit per type.
     */
    private Optional<Member> find(int id, byte[] want, long baseBits, int depth, BitSet searched) {
        if (searched.get(id)) {
            return Optional.empty();
        }
        searched.set(id);
        if (depth > MAX_DEPTH) {
            throw bad("anonymous members nest deeper than " + MAX_DEPTH + " (a loop?)");
        }
        int k = kind(id);
        if (k != KIND_STRUCT && k != KIND_UNION) {
            throw bad("type " + id + " (kind " + k + ") is not a struct or union");
        }
        int pos = at(id);
        int info = types.getInt(pos + 4);
        int vlen = info & 0xffff;
        boolean kindFlag = info < 0;
        List<long[]> anonymous = new ArrayList<>();
        for (int i = 0; i < vlen; i++) {
            int m = pos + TYPE_SIZE + TYPE_SIZE * i;
            long nameOff = u32(types, m);
            long type = u32(types, m + 4);
            long offset = u32(types, m + 8);
            if (type > typeCount()) {
                throw bad("type " + id + " member " + i + " has type " + type + ", beyond the " + typeCount()
                        + " types");
            }
            long bits = kindFlag ? offset & 0xffffff : offset;
            int bitfield = kindFlag ? (int) (offset >>> 24) : 0;
            if (nameOff != 0) {
                if (nameEquals(nameOff, want)) {
                    return Optional.of(new Member(baseBits + bits, bitfield, (int) type));
                }
            } else {
                anonymous.add(new long[] {type, bits});
            }
        }
        for (long[] a : anonymous) {
            int t = resolve((int) a[0]);
            if (t != 0 && (kind(t) == KIND_STRUCT || kind(t) == KIND_UNION)) {
                Optional<Member> found = find(t, want, baseBits + a[1], depth + 1, searched);
                if (found.isPresent()) {
                    return found;
                }
            }
        }
        return Optional.empty();
    }

    private OptionalInt named(String name, int kind) {
        byte[] want = name.getBytes(StandardCharsets.UTF_8);
        int found = 0;
        for (int id = 1; id <= typeCount(); id++) {
            if (kind(id) == kind && nameEquals(u32(types, at(id)), want)) {
                if (found != 0 && size(found) != size(id)) {
                    throw bad("two structs called " + name + " (types " + found + " and " + id
                            + ") differ in size");
                }
                if (found == 0) {
                    found = id;
                }
            }
        }
        return found == 0 ? OptionalInt.empty() : OptionalInt.of(found);
    }

    private boolean nameEquals(long nameOff, byte[] want) {
        // name_off < strings.length was checked for types; members are checked here
        if (nameOff + want.length >= strings.length) {
            return false;
        }
        int o = (int) nameOff;
        for (int i = 0; i < want.length; i++) {
            if (strings[o + i] != want[i]) {
                return false;
            }
        }
        return strings[o + want.length] == 0;
    }

    private String string(long off) {
        if (off >= strings.length) {
            throw bad("name_off " + off + " is past the string section's " + strings.length + " bytes");
        }
        int end = (int) off;
        while (strings[end] != 0) { // the section ends with a NUL (checked)
            end++;
        }
        return new String(strings, (int) off, end - (int) off, StandardCharsets.UTF_8);
    }

    private int info(int id) {
        return types.getInt(at(id) + 4);
    }

    private int at(int id) {
        if (id < 1 || id > typeCount()) {
            throw bad("type id " + id + " is not within 1 and " + typeCount());
        }
        return start[id];
    }

    private static int kindOf(int info) {
        return (info >>> 24) & 0x1f;
    }

    private static long u32(ByteBuffer b, int pos) {
        return Integer.toUnsignedLong(b.getInt(pos));
    }

    private static KernelUnavailableException bad(String what) {
        return new KernelUnavailableException("the kernel's BTF " + what);
    }

    @Override
    public String toString() {
        return "BTF: " + typeCount() + " types, " + strings.length + " bytes of names";
    }
}

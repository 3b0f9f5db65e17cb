package io.vmdumpfs.core.testing;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes BTF blobs (include/uapi/linux/btf.h) for tests: types added one by one get ids 1, 2, …; names go into the
 * string section once each. {@link #build} lays out a version-1 header, the type section, then the strings, as the
 * kernel's {@code .BTF} section has them.
 *
 * <pre>
 * BtfBuilder b = new BtfBuilder();
 * int i32 = b.integer("int", 4, true);
 * int pid = b.typedef("pid_t", i32);
 * b.struct("task_struct", 64, b.member("pid", pid, 8 * 16));
 * byte[] blob = b.build(ByteOrder.LITTLE_ENDIAN);
 * </pre>
 */
public final class BtfBuilder {

    /** One member record: {name, type, offset} as the struct's trailing data holds it. */
    public record MemberSpec(String name, int type, long offset) {
    }

    private final List<byte[]> types = new ArrayList<>();
    private final Map<String, Integer> strings = new LinkedHashMap<>();
    private final ByteArrayOutputStream stringBytes = new ByteArrayOutputStream();

    public BtfBuilder() {
        stringBytes.write(0); // name_off 0 is the empty name
        strings.put("", 0);
    }

    /** Returns the string section offset of {@code s}, adding it on first use. */
    public int str(String s) {
        return strings.computeIfAbsent(s, k -> {
            int off = stringBytes.size();
            stringBytes.writeBytes(k.getBytes(StandardCharsets.UTF_8));
            stringBytes.write(0);
            return off;
        });
    }

    /**
     * Adds a type record as it is: btf_type's three words, then {@code trailing} words; returns its id. The words are
     * written in the byte order {@link #build} is given.
     */
    public int raw(int nameOff, int kind, int vlen, boolean kindFlag, int sizeOrType, long... trailing) {
        int info = (kind & 0x1f) << 24 | (vlen & 0xffff) | (kindFlag ? 1 << 31 : 0);
        long[] words = new long[3 + trailing.length];
        words[0] = nameOff;
        words[1] = info;
        words[2] = sizeOrType;
        System.arraycopy(trailing, 0, words, 3, trailing.length);
        byte[] b = new byte[4 * words.length];
        ByteBuffer w = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN); // swapped in build() if asked
        for (int i = 0; i < words.length; i++) {
            w.putInt(4 * i, (int) words[i]);
        }
        types.add(b);
        return types.size();
    }

    public int integer(String name, int bytes, boolean signed) {
        return raw(str(name), 1, 0, false, bytes, (signed ? 1L : 0L) << 24 | 8L * bytes);
    }

    public int pointer(int to) {
        return raw(0, 2, 0, false, to);
    }

    public int array(int elem, int index, int n) {
        return raw(0, 3, 0, false, 0, elem, index, n);
    }

    public int typedef(String name, int to) {
        return raw(str(name), 8, 0, false, to);
    }

    /** Adds a modifier (9 volatile, 10 const, 11 restrict, 18 type tag) of {@code to}. */
    public int modifier(int kind, String name, int to) {
        return raw(str(name), kind, 0, false, to);
    }

    public MemberSpec member(String name, int type, long bitOffset) {
        return new MemberSpec(name, type, bitOffset);
    }

    /** A bitfield member of a struct whose kind_flag is set: {@code bits} wide at {@code bitOffset}. */
    public MemberSpec bitfield(String name, int type, long bitOffset, int bits) {
        return new MemberSpec(name, type, (long) bits << 24 | bitOffset);
    }

    public int struct(String name, long size, MemberSpec... members) {
        return aggregate(4, name, size, false, members);
    }

    public int union(String name, long size, MemberSpec... members) {
        return aggregate(5, name, size, false, members);
    }

    /** A struct (kind 4) or union (5), with kind_flag as given (then bitfield members' offsets carry sizes). */
    public int aggregate(int kind, String name, long size, boolean kindFlag, MemberSpec... members) {
        long[] t = new long[3 * members.length];
        for (int i = 0; i < members.length; i++) {
            t[3 * i] = members[i].name() == null ? 0 : str(members[i].name());
            t[3 * i + 1] = members[i].type();
            t[3 * i + 2] = members[i].offset();
        }
        return raw(str(name), kind, members.length, kindFlag, (int) size, t);
    }

    /** Returns the blob: header (hdr_len 24, types at 0, strings after them), types, strings. */
    public byte[] build(ByteOrder order) {
        ByteArrayOutputStream typeBytes = new ByteArrayOutputStream();
        for (byte[] t : types) {
            if (order == ByteOrder.BIG_ENDIAN) {
                byte[] s = t.clone();
                ByteBuffer in = ByteBuffer.wrap(t).order(ByteOrder.LITTLE_ENDIAN);
                ByteBuffer out = ByteBuffer.wrap(s).order(ByteOrder.BIG_ENDIAN);
                for (int i = 0; i < t.length; i += 4) {
                    out.putInt(i, in.getInt(i));
                }
                typeBytes.writeBytes(s);
            } else {
                typeBytes.writeBytes(t);
            }
        }
        byte[] tb = typeBytes.toByteArray();
        byte[] sb = stringBytes.toByteArray();
        ByteBuffer h = ByteBuffer.allocate(24 + tb.length + sb.length).order(order);
        h.putShort((short) 0xeb9f).put((byte) 1).put((byte) 0).putInt(24).putInt(0).putInt(tb.length)
                .putInt(tb.length).putInt(sb.length);
        h.put(tb).put(sb);
        return h.array();
    }
}

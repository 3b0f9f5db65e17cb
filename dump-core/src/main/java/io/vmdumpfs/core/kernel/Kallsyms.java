package io.vmdumpfs.core.kernel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The guest kernel's own symbol table (kallsyms), found through the SYMBOL(kallsyms_*) entries VMCOREINFO carries
 * since Linux 6.0: symbol addresses without a vmlinux, for the variables VMCOREINFO does not list (x86_64's
 * {@code page_offset_base} and {@code vmemmap_base}, which KASLR moves on every boot).
 *
 * <p>The tables (kernel/kallsyms.c and scripts/kallsyms.c):
 * <pre>
 *   kallsyms_num_syms     u32: number of symbols
 *   kallsyms_names        per symbol: a length, then that many token numbers (one byte each); the length is one
 *                         byte, or since Linux 6.1 two when its top bit is set (low 7 bits, then the next byte's
 *                         value times 128)
 *   kallsyms_token_table  256 NUL-terminated strings; a symbol's name is its tokens' strings joined, its first
 *                         character being the symbol type ('T', 't', 'D', 'b', …)
 *   kallsyms_token_index  256 u16: where each token's string starts in the token table
 *   kallsyms_offsets      per symbol an s32, read one of three ways (below), or
 *   kallsyms_addresses    per symbol an unsigned long, on kernels without base-relative offsets
 *   kallsyms_relative_base the base of relative offsets
 * </pre>
 *
 * How an offset becomes an address depends on the kernel's configuration, which VMCOREINFO does not say: relative
 * to kallsyms_relative_base (as u32); "absolute percpu" (x86_64 before 6.15: non-negative values are absolute,
 * negative ones count down from relative_base − 1); or relative to the offset's own address (7.0 and later). And
 * whether a length byte above 127 starts a two-byte length is not written down either. Each reading is tried and
 * the one under which {@code _stext} decodes to SYMBOL(_stext) is kept; no table passes that check by chance.
 *
 * <p>Only the raw tables are kept (about 2 MB for a distribution kernel); a lookup decodes names as it goes. Each
 * lookup scans all names (a few milliseconds): meant for a handful of lookups per dump. Immutable and thread-safe.
 */
public final class Kallsyms {

    /** More symbols than any kernel has (a distribution kernel: about 150 000); bounds what a bad count allocates. */
    static final int MAX_SYMBOLS = 1 << 22;
    /** Bound on kallsyms_names, which a damaged count or lengths could otherwise make us read without end. */
    static final int MAX_NAMES_BYTES = 64 << 20;
    private static final int TOKENS = 256;

    /** How kallsyms_offsets are read; see the class comment. */
    enum Encoding { ABSOLUTE, BASE_RELATIVE, ABSOLUTE_PERCPU, PLACE_RELATIVE }

    private final int count;
    private final byte[] names;
    private final boolean longLengths;
    private final byte[] tokenTable;
    private final int[] tokenStart;
    private final long[] addresses;
    private final Encoding encoding;

    private Kallsyms(int count, byte[] names, boolean longLengths, byte[] tokenTable, int[] tokenStart,
            long[] addresses, Encoding encoding) {
        this.count = count;
        this.names = names;
        this.longLengths = longLengths;
        this.tokenTable = tokenTable;
        this.tokenStart = tokenStart;
        this.addresses = addresses;
        this.encoding = encoding;
    }

    /**
     * Reads the guest's kallsyms tables.
     *
     * @return empty when VMCOREINFO does not locate them (kernels before 6.0, or built without kallsyms)
     * @throws KernelUnavailableException when they are located but do not decode to a table in which {@code _stext}
     *                                    has the address VMCOREINFO gives
     * @throws KernelAddressException     when they cannot be read
     */
    public static Optional<Kallsyms> load(VmcoreInfoTable info, KernelMemory memory) {
        OptionalLong numSyms = info.symbol("kallsyms_num_syms");
        OptionalLong namesAt = info.symbol("kallsyms_names");
        OptionalLong tokenTableAt = info.symbol("kallsyms_token_table");
        OptionalLong tokenIndexAt = info.symbol("kallsyms_token_index");
        OptionalLong offsetsAt = info.symbol("kallsyms_offsets");
        OptionalLong addressesAt = info.symbol("kallsyms_addresses");
        OptionalLong stext = info.symbol("_stext");
        if (numSyms.isEmpty() || namesAt.isEmpty() || tokenTableAt.isEmpty() || tokenIndexAt.isEmpty()
                || offsetsAt.isEmpty() && addressesAt.isEmpty() || stext.isEmpty()) {
            return Optional.empty();
        }
        long n = memory.readU32(numSyms.getAsLong());
        if (n == 0 || n > MAX_SYMBOLS) {
            throw new KernelUnavailableException("kallsyms_num_syms is " + n + ", not a symbol count");
        }
        int count = (int) n;
        ByteBuffer idx = ByteBuffer.wrap(memory.readBytes(tokenIndexAt.getAsLong(), 2 * TOKENS)).order(memory.order());
        int[] tokenStart = new int[TOKENS];
        int tableLen = 0;
        for (int t = 0; t < TOKENS; t++) {
            tokenStart[t] = Short.toUnsignedInt(idx.getShort(2 * t));
            tableLen = Math.max(tableLen, tokenStart[t]);
        }
        // The token table ends with the NUL of the token that starts last; a token is at most a symbol name long.
        byte[] tokenTable = memory.readBytes(tokenTableAt.getAsLong(), tableLen + 1024);
        long[] raw = readAddressTable(memory, count, offsetsAt, addressesAt);
        byte[] names = null;
        KernelUnavailableException last = null;
        // Two-byte lengths came with 6.1 (commit 73bbb94466fd3); try the likely reading first.
        boolean likelyLong = releaseAtLeast(info.osRelease().orElse(""), 6, 1);
        for (boolean longLengths : new boolean[] {likelyLong, !likelyLong}) {
            try {
                byte[] nm = names != null && namesLength(names, count, longLengths) >= 0 ? names
                        : readNames(memory, namesAt.getAsLong(), count, longLengths);
                names = nm;
                Kallsyms k = new Kallsyms(count, nm, longLengths, tokenTable, tokenStart, null, null);
                k.requirePlausibleTypes();
                int stextIndex = k.indexOf("_stext");
                if (stextIndex < 0) {
                    throw new KernelUnavailableException("kallsyms has no _stext");
                }
                // kallsyms_relative_base is an unsigned long: 8 bytes on 64-bit kernels, 4 on 32-bit ones (where the
                // next 4 are kallsyms_num_syms). The word size is not known here; the _stext check below tells.
                long[] relativeBases = {0};
                if (info.symbol("kallsyms_relative_base").isPresent()) {
                    long at = info.symbol("kallsyms_relative_base").getAsLong();
                    relativeBases = new long[] {memory.readU64(at), memory.readU32(at)};
                }
                for (long relativeBase : relativeBases) {
                    for (Encoding e : Encoding.values()) {
                        if ((e == Encoding.ABSOLUTE) != offsetsAt.isEmpty()) {
                            continue;
                        }
                        if ((e == Encoding.BASE_RELATIVE || e == Encoding.ABSOLUTE_PERCPU)
                                && info.symbol("kallsyms_relative_base").isEmpty()) {
                            continue;
                        }
                        long base = e == Encoding.PLACE_RELATIVE ? offsetsAt.getAsLong() : relativeBase;
                        if (address(e, base, raw, stextIndex) == stext.getAsLong()) {
                            long[] addresses = new long[count];
                            for (int i = 0; i < count; i++) {
                                addresses[i] = address(e, base, raw, i);
                            }
                            return Optional.of(new Kallsyms(count, nm, longLengths, tokenTable, tokenStart, addresses,
                                    e));
                        }
                    }
                }
                throw new KernelUnavailableException("no reading of kallsyms_offsets gives _stext its VMCOREINFO "
                        + "address 0x" + Long.toHexString(stext.getAsLong()));
            } catch (KernelUnavailableException | KernelAddressException | IllegalArgumentException e) {
                last = e instanceof KernelUnavailableException k ? k
                        : new KernelUnavailableException("kallsyms: " + e.getMessage(), e);
            }
        }
        throw last;
    }

    /** nm's symbol types, the first character of every name kallsyms stores. */
    private static final String TYPES = "AaBbCcDdGgiNnpRrSsTtUuVvWw?-";

    /**
     * Checks that every name starts with a symbol type: a names table read with the wrong length encoding goes out
     * of step at its first long name and from there on decodes token numbers as lengths and lengths as tokens, which
     * gives non-type first characters at once. (The _stext check alone would pass when _stext comes first.)
     *
     * @throws KernelUnavailableException naming the first symbol that does not decode
     */
    private void requirePlausibleTypes() {
        int pos = 0;
        for (int i = 0; i < count; i++) {
            int len = names[pos++] & 0xff;
            if (longLengths && (len & 0x80) != 0) {
                len = (len & 0x7f) | (names[pos++] & 0xff) << 7;
            }
            // The type is the first character of the first token (scripts/kallsyms never makes an empty token).
            int p = len == 0 ? tokenTable.length : tokenStart[names[pos] & 0xff];
            int type = p < tokenTable.length ? tokenTable[p] & 0xff : 0;
            if (type == 0 || TYPES.indexOf(type) < 0) {
                throw new KernelUnavailableException("kallsyms symbol " + i + " does not start with a symbol type ("
                        + (longLengths ? "two" : "one") + "-byte lengths)");
            }
            pos += len;
        }
    }

    /** Returns the number of symbols. */
    public int count() {
        return count;
    }

    /** Returns how the offsets were read (for diagnostics and tests). */
    Encoding encoding() {
        return encoding;
    }

    /**
     * Returns the address of the symbol called {@code name}: the first global one (upper-case type) if there is
     * one, else the first local one.
     */
    public OptionalLong address(String name) {
        int global = -1;
        int local = -1;
        byte[] want = name.getBytes(StandardCharsets.UTF_8);
        int pos = 0;
        for (int i = 0; i < count; i++) {
            int len = names[pos++] & 0xff;
            if (longLengths && (len & 0x80) != 0) {
                len = (len & 0x7f) | (names[pos++] & 0xff) << 7;
            }
            int type = matches(pos, len, want);
            if (type >= 0) {
                boolean isGlobal = type >= 'A' && type <= 'Z';
                if (isGlobal) {
                    global = i;
                    break;
                }
                if (local < 0) {
                    local = i;
                }
            }
            pos += len;
        }
        int i = global >= 0 ? global : local;
        return i < 0 ? OptionalLong.empty() : OptionalLong.of(addresses[i]);
    }

    /** Returns the index of the first symbol called {@code name}, or -1. */
    int indexOf(String name) {
        byte[] want = name.getBytes(StandardCharsets.UTF_8);
        int pos = 0;
        for (int i = 0; i < count; i++) {
            if (pos >= names.length) {
                return -1;
            }
            int len = names[pos++] & 0xff;
            if (longLengths && (len & 0x80) != 0) {
                len = (len & 0x7f) | (names[pos++] & 0xff) << 7;
            }
            if (matches(pos, len, want) >= 0) {
                return i;
            }
            pos += len;
        }
        return -1;
    }

    /**
     * Returns the symbol type character when the symbol whose {@code len} token numbers start at {@code pos} is
     * called {@code want}, else -1. Expands tokens one at a time and stops at the first byte that differs.
     */
    private int matches(int pos, int len, byte[] want) {
        int type = -1;
        int matched = 0; // bytes of want matched so far
        for (int k = 0; k < len; k++) {
            int token = names[pos + k] & 0xff;
            int p = tokenStart[token];
            for (; p < tokenTable.length && tokenTable[p] != 0; p++) {
                byte c = tokenTable[p];
                if (type < 0) {
                    type = c & 0xff;
                    continue;
                }
                if (matched >= want.length || want[matched] != c) {
                    return -1;
                }
                matched++;
            }
        }
        return matched == want.length ? type : -1;
    }

    private static long address(Encoding e, long base, long[] raw, int i) {
        int s32 = (int) raw[i];
        return switch (e) {
            case ABSOLUTE -> raw[i];
            case BASE_RELATIVE -> base + Integer.toUnsignedLong(s32);
            case ABSOLUTE_PERCPU -> s32 >= 0 ? s32 : base - 1 - s32;
            case PLACE_RELATIVE -> base + 4L * i + s32;
        };
    }

    /** Reads kallsyms_offsets (as s32 values, kept in longs) or, when there are none, kallsyms_addresses. */
    private static long[] readAddressTable(KernelMemory memory, int count, OptionalLong offsetsAt,
            OptionalLong addressesAt) {
        long[] raw = new long[count];
        if (offsetsAt.isPresent()) {
            ByteBuffer b = ByteBuffer.wrap(memory.readBytes(offsetsAt.getAsLong(), 4 * count)).order(memory.order());
            for (int i = 0; i < count; i++) {
                raw[i] = b.getInt(4 * i);
            }
        } else {
            ByteBuffer b = ByteBuffer.wrap(memory.readBytes(addressesAt.getAsLong(), 8 * count)).order(memory.order());
            for (int i = 0; i < count; i++) {
                raw[i] = b.getLong(8 * i);
            }
        }
        return raw;
    }

    /**
     * Reads kallsyms_names: as many bytes as {@code count} entries take, in 64 KiB steps, so that nothing far past the
     * array's end is read. Entries are measured as the bytes arrive.
     */
    private static byte[] readNames(KernelMemory memory, long namesAt, int count, boolean longLengths) {
        final int step = 64 << 10;
        byte[] buf = new byte[step];
        int have = 0;
        int pos = 0; // start of entry i
        int i = 0;
        while (true) {
            // before entry i is measured, its length (up to 2 bytes) must have arrived; at the end, the last entry
            int need = i < count ? pos + 2 : pos;
            if (need > have) {
                if (have + step > MAX_NAMES_BYTES) {
                    throw new KernelUnavailableException("kallsyms_names is longer than " + MAX_NAMES_BYTES
                            + " bytes for " + count + " symbols");
                }
                if (have + step > buf.length) {
                    buf = java.util.Arrays.copyOf(buf, Math.min(MAX_NAMES_BYTES, Math.max(have + step, 2 * buf.length)));
                }
                memory.read(namesAt + have, ByteBuffer.wrap(buf, have, step));
                have += step;
                continue;
            }
            if (i == count) {
                break;
            }
            int len = buf[pos] & 0xff;
            int head = 1;
            if (longLengths && (len & 0x80) != 0) {
                len = (len & 0x7f) | (buf[pos + 1] & 0xff) << 7;
                head = 2;
            }
            pos += head + len;
            i++;
        }
        return java.util.Arrays.copyOf(buf, pos);
    }

    /** Returns the bytes {@code count} entries take in {@code names}, or -1 if they run past its end. */
    private static int namesLength(byte[] names, int count, boolean longLengths) {
        return namesLength(names, count, longLengths, names.length);
    }

    private static int namesLength(byte[] names, int count, boolean longLengths, int have) {
        int pos = 0;
        for (int i = 0; i < count; i++) {
            if (pos >= have) {
                return -1;
            }
            int len = names[pos++] & 0xff;
            if (longLengths && (len & 0x80) != 0) {
                if (pos >= have) {
                    return -1;
                }
                len = (len & 0x7f) | (names[pos++] & 0xff) << 7;
            }
            pos += len;
        }
        return pos <= have ? pos : -1;
    }

    /** Returns true when OSRELEASE {@code release} ("6.1.0-57-cloud-amd64") is at least major.minor. */
    static boolean releaseAtLeast(String release, int major, int minor) {
        String[] f = release.split("[.-]", 3);
        try {
            int ma = Integer.parseInt(f[0]);
            int mi = f.length > 1 ? Integer.parseInt(f[1]) : 0;
            return ma > major || ma == major && mi >= minor;
        } catch (NumberFormatException e) {
            return true; // an unknown release: a recent kernel is the likelier
        }
    }

    @Override
    public String toString() {
        return "kallsyms: " + count + " symbols, " + names.length + " bytes of names, " + encoding
                + (longLengths ? ", two-byte lengths" : "");
    }
}

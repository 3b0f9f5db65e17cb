package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.kernel.Kallsyms.Encoding;
import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticKernel;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * kallsyms tables as scripts/kallsyms.c lays them out, encoded here from a symbol list and put into a synthetic
 * guest's kernel image, then read back through {@link Kallsyms}: each offset encoding, both length encodings, and
 * the tables that do not decode.
 */
class KallsymsTest {

    /** Image window: kernel virtual START_KERNEL_MAP + x is guest-physical x. */
    static final long K = X86_64Kernel.START_KERNEL_MAP;
    static final long STEXT = K + 0x200000;
    /** Where the tables go (guest-physical). */
    static final long NUM = 0x300000;
    static final long TOKEN_TABLE = 0x301000;
    static final long TOKEN_INDEX = 0x303000;
    static final long RELATIVE_BASE = 0x304000;
    static final long OFFSETS = 0x310000;
    static final long NAMES = 0x400000;

    @TempDir
    Path tmp;

    private SyntheticGuest guest;

    @BeforeEach
    void setUp() {
        guest = SyntheticGuest.builder(tmp).block(0, 8L << 20, "pc.ram").build();
    }

    @AfterEach
    void tearDown() throws Exception {
        guest.close();
    }

    /** The symbols: a percpu one (small address), text and data, a local that shadows nothing, a duplicate. */
    static Map<String, Long> symbols() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("Afixed_percpu_data", 0L);
        m.put("Dcpu_number", 0x1f000L);
        m.put("T_text", STEXT);
        m.put("T_stext", STEXT);
        m.put("tdo_one_initcall_local", STEXT + 0x1230);
        m.put("dpage_offset_base", K + 0x2001000); // a local of the same name as the global below, listed first
        m.put("Dpage_offset_base", K + 0x2002480);
        m.put("Dvmemmap_base", K + 0x2002470);
        m.put("B_end", K + 0x3830000);
        return m;
    }

    @ParameterizedTest
    @EnumSource(value = Encoding.class, names = {"BASE_RELATIVE", "ABSOLUTE_PERCPU", "PLACE_RELATIVE"})
    void load_eachOffsetEncoding_findsSymbols(Encoding encoding) {
        Map<String, Long> syms = symbols();
        if (encoding == Encoding.BASE_RELATIVE || encoding == Encoding.PLACE_RELATIVE) {
            syms.remove("Afixed_percpu_data"); // only the percpu encoding has absolute values below the base
            syms.remove("Dcpu_number");
        }
        Kallsyms k = load(syms, encoding, true, "6.1.0");
        assertEquals(encoding, k.encoding());
        assertEquals(syms.size(), k.count());
        assertEquals(OptionalLong.of(K + 0x2002480), k.address("page_offset_base"), "the global wins");
        assertEquals(OptionalLong.of(K + 0x2002470), k.address("vmemmap_base"));
        assertEquals(OptionalLong.of(STEXT + 0x1230), k.address("do_one_initcall_local"), "a local alone");
        assertEquals(OptionalLong.of(K + 0x3830000), k.address("_end"));
        assertEquals(OptionalLong.empty(), k.address("page_offset"), "a prefix is not a name");
        assertEquals(OptionalLong.empty(), k.address("page_offset_base_"), "nor a longer one");
        if (encoding == Encoding.ABSOLUTE_PERCPU) {
            assertEquals(OptionalLong.of(0x1f000), k.address("cpu_number"));
        }
    }

    @Test
    void load_absoluteAddresses_findsSymbols() {
        Map<String, Long> syms = symbols();
        Kallsyms k = load(syms, Encoding.ABSOLUTE, true, "5.15.0");
        assertEquals(Encoding.ABSOLUTE, k.encoding());
        assertEquals(OptionalLong.of(0x1f000), k.address("cpu_number"));
    }

    /** A name of 200 tokens: two length bytes since 6.1, one byte (value 200) before. */
    @Test
    void load_longNameBothLengthEncodings_eachDecodedWhateverTheReleaseSays() {
        String longName = "x".repeat(199); // plus the type: 200 single-character tokens
        for (boolean longLengths : new boolean[] {true, false}) {
            for (String release : new String[] {"6.1.0", "5.19.0"}) {
                Map<String, Long> syms = symbols();
                syms.put("t" + longName, STEXT + 0x4000);
                syms.put("Tafter_long", STEXT + 0x5000);
                Kallsyms k = load(syms, Encoding.ABSOLUTE_PERCPU, longLengths, release);
                String what = (longLengths ? "two-byte" : "one-byte") + " lengths, OSRELEASE " + release;
                assertEquals(OptionalLong.of(STEXT + 0x4000), k.address(longName), what);
                assertEquals(OptionalLong.of(STEXT + 0x5000), k.address("after_long"), what);
            }
        }
    }

    @Test
    void load_noKallsymsInVmcoreinfo_empty() {
        KernelMemory mem = memory();
        assertFalse(Kallsyms.load(VmcoreInfoTable.parse("OSRELEASE=6.1.0\nSYMBOL(_stext)=ffffffff80200000\n"), mem)
                .isPresent());
    }

    @Test
    void load_stextDoesNotMatch_refused() {
        Map<String, Long> syms = symbols();
        String vmci = encodeAndPut(syms, Encoding.ABSOLUTE_PERCPU, true, "6.1.0")
                .replace("SYMBOL(_stext)=" + Long.toHexString(STEXT), "SYMBOL(_stext)=" + Long.toHexString(STEXT + 4096));
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> Kallsyms.load(VmcoreInfoTable.parse(vmci), memory()));
        assertTrue(e.getMessage().contains("_stext"), e.getMessage());
    }

    @Test
    void load_absurdSymbolCount_refusedBeforeAllocating() {
        Map<String, Long> syms = symbols();
        String vmci = encodeAndPut(syms, Encoding.ABSOLUTE_PERCPU, true, "6.1.0");
        new SyntheticKernel(guest, 4, 0x700000).put(NUM, le32(0x7fff_ffff)).write();
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> Kallsyms.load(VmcoreInfoTable.parse(vmci), memory()));
        assertTrue(e.getMessage().contains("kallsyms_num_syms"), e.getMessage());
    }

    @Test
    void load_namesRunningPastRam_addressError() {
        Map<String, Long> syms = symbols();
        String vmci = encodeAndPut(syms, Encoding.ABSOLUTE_PERCPU, true, "6.1.0");
        // a count far above the names there: decoding runs on through zero bytes (length 0) and then junk
        new SyntheticKernel(guest, 4, 0x700000).put(NUM, le32(4_000_000)).write();
        assertThrows(RuntimeException.class, () -> Kallsyms.load(VmcoreInfoTable.parse(vmci), memory()));
    }

    private Kallsyms load(Map<String, Long> syms, Encoding encoding, boolean longLengths, String release) {
        String vmci = encodeAndPut(syms, encoding, longLengths, release);
        Optional<Kallsyms> k = Kallsyms.load(VmcoreInfoTable.parse(vmci), memory());
        assertTrue(k.isPresent());
        return k.get();
    }

    private KernelMemory memory() {
        KernelAddressSpace space = new KernelAddressSpace(new KernelImageWindow(K, 1L << 30, 0),
                new X86_64PageTables(0, 4, 0));
        return new KernelMemory(space, guest.dump().memory(), ByteOrder.LITTLE_ENDIAN, false);
    }

    /** Tokens: 0-127 single characters; 128 and up some multi-character ones, as the kernel's compression makes. */
    static List<String> tokens() {
        List<String> t = new ArrayList<>();
        for (int c = 0; c < 128; c++) {
            t.add(c < 0x20 ? "" : String.valueOf((char) c));
        }
        for (String s : new String[] {"page_", "offset", "_base", "Dpage", "vmemmap", "_text", "initcall"}) {
            t.add(s);
        }
        while (t.size() < 256) {
            t.add("");
        }
        return t;
    }

    /** Encodes the tables, puts them into guest RAM, and returns VMCOREINFO text that locates them. */
    private String encodeAndPut(Map<String, Long> syms, Encoding encoding, boolean longLengths, String release) {
        List<String> tokens = tokens();
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        ByteBuffer index = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
        for (String tok : tokens) {
            index.putShort((short) table.size());
            table.writeBytes(tok.getBytes(StandardCharsets.US_ASCII));
            table.write(0);
        }
        ByteArrayOutputStream names = new ByteArrayOutputStream();
        for (String name : syms.keySet()) {
            List<Integer> enc = new ArrayList<>();
            for (int p = 0; p < name.length(); ) {
                int best = name.charAt(p);
                int bestLen = 1;
                for (int t = 128; t < 256; t++) {
                    String tok = tokens.get(t);
                    if (tok.length() > bestLen && name.startsWith(tok, p)) {
                        best = t;
                        bestLen = tok.length();
                    }
                }
                enc.add(best);
                p += bestLen;
            }
            int len = enc.size();
            if (longLengths && len > 127) {
                names.write(0x80 | (len & 0x7f));
                names.write(len >> 7);
            } else {
                names.write(len);
            }
            enc.forEach(names::write);
        }
        long base = STEXT;
        long offsetsVaddr = K + OFFSETS;
        ByteBuffer addr = ByteBuffer.allocate(8 * syms.size()).order(ByteOrder.LITTLE_ENDIAN);
        int i = 0;
        for (long a : syms.values()) {
            switch (encoding) {
                case ABSOLUTE -> addr.putLong(a);
                case BASE_RELATIVE -> addr.putInt((int) (a - base));
                case ABSOLUTE_PERCPU -> addr.putInt(a < base ? (int) a : (int) (base - 1 - a));
                case PLACE_RELATIVE -> addr.putInt((int) (a - (offsetsVaddr + 4L * i)));
            }
            i++;
        }
        new SyntheticKernel(guest, 4, 0x700000)
                .put(NUM, le32(syms.size()))
                .put(TOKEN_TABLE, table.toByteArray())
                .put(TOKEN_INDEX, index.array())
                .put(RELATIVE_BASE, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, base).array())
                .put(OFFSETS, java.util.Arrays.copyOf(addr.array(), addr.position()))
                .put(NAMES, names.toByteArray())
                .write();
        StringBuilder v = new StringBuilder("OSRELEASE=" + release + "\n");
        v.append("SYMBOL(_stext)=").append(Long.toHexString(STEXT)).append('\n');
        v.append("SYMBOL(kallsyms_num_syms)=").append(Long.toHexString(K + NUM)).append('\n');
        v.append("SYMBOL(kallsyms_names)=").append(Long.toHexString(K + NAMES)).append('\n');
        v.append("SYMBOL(kallsyms_token_table)=").append(Long.toHexString(K + TOKEN_TABLE)).append('\n');
        v.append("SYMBOL(kallsyms_token_index)=").append(Long.toHexString(K + TOKEN_INDEX)).append('\n');
        if (encoding == Encoding.ABSOLUTE) {
            v.append("SYMBOL(kallsyms_addresses)=").append(Long.toHexString(K + OFFSETS)).append('\n');
        } else {
            v.append("SYMBOL(kallsyms_offsets)=").append(Long.toHexString(K + OFFSETS)).append('\n');
        }
        if (encoding == Encoding.BASE_RELATIVE || encoding == Encoding.ABSOLUTE_PERCPU) {
            v.append("SYMBOL(kallsyms_relative_base)=").append(Long.toHexString(K + RELATIVE_BASE)).append('\n');
        }
        return v.toString();
    }

    static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, v).array();
    }
}

package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.testing.BtfBuilder;
import io.vmdumpfs.core.testing.SyntheticTasks;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Random;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Btf} on blobs written by {@link BtfBuilder}: the types a kernel has for its run queues and tasks, every
 * kind's trailing data, both byte orders; and malformed blobs, each refused with a {@link KernelUnavailableException}
 * that says what is wrong, and random damage that never raises anything else nor hangs.
 */
class BtfTest {

    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    @Test
    void member_linuxTypes_offsetsThroughTheAnonymousStruct() {
        Btf btf = Btf.parse(SyntheticTasks.linuxBtf().build(LE), LE);
        assertEquals(SyntheticTasks.RQ_CURR, btf.member("rq", "curr").orElseThrow().byteOffset());
        assertEquals(SyntheticTasks.RQ_IDLE, btf.member("rq", "idle").orElseThrow().byteOffset());
        Btf.Member pid = btf.member("task_struct", "pid").orElseThrow();
        assertEquals(SyntheticTasks.TASK_PID, pid.byteOffset(), "randstruct's anonymous struct offset added in");
        assertEquals(SyntheticTasks.TASK_COMM, btf.member("task_struct", "comm").orElseThrow().byteOffset());
        int pidType = btf.resolve(pid.typeId());
        assertEquals("pid_t", btf.name(pid.typeId()));
        assertEquals(Btf.KIND_INT, btf.kind(pidType));
        assertEquals(4, btf.size(pidType));
        assertTrue(btf.signedInt(pidType));
        int curr = btf.resolve(btf.member("rq", "curr").orElseThrow().typeId());
        assertEquals(Btf.KIND_PTR, btf.kind(curr), "the __rcu type tag resolved away");
        assertEquals("task_struct", btf.name(btf.referenced(curr)));
        int ti = btf.resolve(btf.member("task_struct", "thread_info").orElseThrow().typeId());
        assertEquals(SyntheticTasks.THREAD_INFO_CPU, btf.member(ti, "cpu").orElseThrow().byteOffset());
    }

    @Test
    void member_absent_empty() {
        Btf btf = Btf.parse(SyntheticTasks.linuxBtf().build(LE), LE);
        assertEquals(Optional.empty(), btf.member("rq", "cur"), "a prefix is not a name");
        assertEquals(Optional.empty(), btf.member("rq", "curr_"));
        assertEquals(Optional.empty(), btf.member("no_such_struct", "curr"));
        assertEquals(OptionalInt.empty(), btf.struct("thread_inf"));
    }

    /** One type of every kind the kernel writes, each with its trailing data, then the struct looked for. */
    @Test
    void parse_everyKindBefore_trailingDataSkippedRight() {
        BtfBuilder b = new BtfBuilder();
        int i32 = b.integer("int", 4, true);                                              // 1 INT
        b.pointer(i32);                                                                   // 2 PTR
        b.array(i32, i32, 3);                                                             // 3 ARRAY
        b.union("u", 8, b.member("x", i32, 0), b.member("y", i32, 0));                    // 5 UNION
        b.raw(b.str("e"), 6, 3, false, 4, b.str("A"), 0, b.str("B"), 1, b.str("C"), 2);   // 6 ENUM
        b.raw(b.str("fwd"), 7, 0, false, 0);                                              // 7 FWD
        b.typedef("t", i32);                                                              // 8 TYPEDEF
        b.modifier(9, "", i32);                                                           // 9 VOLATILE
        b.modifier(10, "", i32);                                                          // 10 CONST
        b.modifier(11, "", i32);                                                          // 11 RESTRICT
        int proto = b.raw(0, 13, 2, false, i32, b.str("a"), i32, b.str("b"), i32);        // 13 FUNC_PROTO
        b.raw(b.str("f"), 12, 1, false, proto);                                           // 12 FUNC
        int var = b.raw(b.str("v"), 14, 0, false, i32, 1);                                // 14 VAR
        b.raw(b.str(".data"), 15, 2, false, 16, var, 0, 4, var, 8, 4);                    // 15 DATASEC
        b.raw(b.str("double"), 16, 0, false, 8);                                          // 16 FLOAT
        b.raw(b.str("tag"), 17, 0, false, var, -1);                                       // 17 DECL_TAG
        b.modifier(18, "rcu", i32);                                                       // 18 TYPE_TAG
        b.raw(b.str("e64"), 19, 2, false, 8, b.str("X"), 1, 0, b.str("Y"), 2, 1);        // 19 ENUM64
        int target = b.struct("target", 16, b.member("a", i32, 0), b.member("wanted", i32, 96));
        Btf btf = Btf.parse(b.build(LE), LE);
        assertEquals(target, btf.typeCount());
        assertEquals(OptionalInt.of(target), btf.struct("target"));
        assertEquals(12, btf.member("target", "wanted").orElseThrow().byteOffset());
        assertEquals("e64", btf.name(target - 1));
        assertEquals(Btf.KIND_ENUM64, btf.kind(target - 1));
    }

    @Test
    void parse_bigEndianBlob_readInTheGuestsOrderOnly() {
        byte[] be = SyntheticTasks.linuxBtf().build(ByteOrder.BIG_ENDIAN);
        Btf btf = Btf.parse(be, ByteOrder.BIG_ENDIAN);
        assertEquals(SyntheticTasks.TASK_PID, btf.member("task_struct", "pid").orElseThrow().byteOffset());
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class, () -> Btf.parse(be, LE));
        assertTrue(e.getMessage().contains("other byte order"), e.getMessage());
    }

    @Test
    void member_bitfieldUnderKindFlag_offsetAndWidth() {
        BtfBuilder b = new BtfBuilder();
        int u32 = b.integer("unsigned int", 4, false);
        b.aggregate(4, "flags", 8, true, b.bitfield("a", u32, 0, 3), b.bitfield("b", u32, 3, 5),
                b.bitfield("c", u32, 32, 0));
        Btf btf = Btf.parse(b.build(LE), LE);
        assertEquals(new Btf.Member(3, 5, u32), btf.member("flags", "b").orElseThrow());
        assertThrows(KernelUnavailableException.class, () -> btf.member("flags", "b").orElseThrow().byteOffset());
        assertEquals(4, btf.member("flags", "c").orElseThrow().byteOffset(), "a whole member under kind_flag");
    }

    @Test
    void struct_sameNameTwice_sameSizeTakesTheFirstDifferentSizeRefused() {
        BtfBuilder b = new BtfBuilder();
        int i32 = b.integer("int", 4, true);
        int first = b.struct("s", 8, b.member("x", i32, 32));
        b.struct("s", 8, b.member("x", i32, 32));
        assertEquals(OptionalInt.of(first), Btf.parse(b.build(LE), LE).struct("s"));
        b.struct("s", 16, b.member("x", i32, 64));
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> Btf.parse(b.build(LE), LE).struct("s"));
        assertTrue(e.getMessage().contains("differ in size"), e.getMessage());
    }

    @Test
    void resolve_typedefLoop_refusedNotHung() {
        BtfBuilder b = new BtfBuilder();
        b.typedef("a", 2);
        b.typedef("b", 1);
        Btf btf = Btf.parse(b.build(LE), LE);
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class, () -> btf.resolve(1));
        assertTrue(e.getMessage().contains("chain"), e.getMessage());
    }

    @Test
    void member_anonymousMemberOfItsOwnType_searchedOnce() {
        BtfBuilder b = new BtfBuilder();
        // struct 1 has 200 anonymous members of its own type: without searching each type once, 200^32 visits
        BtfBuilder.MemberSpec[] self = new BtfBuilder.MemberSpec[200];
        Arrays.fill(self, b.member(null, 1, 0));
        b.struct("loop", 8, self);
        Btf btf = Btf.parse(b.build(LE), LE);
        assertTimeoutPreemptively(Duration.ofSeconds(5), () -> assertEquals(Optional.empty(),
                btf.member("loop", "x")));
    }

    @Test
    void member_anonymousNestingDeeperThanAnyKernel_refused() {
        BtfBuilder b = new BtfBuilder();
        int i32 = b.integer("int", 4, true);
        int inner = b.struct("", 4, b.member("deep", i32, 0));
        for (int i = 0; i < Btf.MAX_DEPTH + 2; i++) {
            inner = b.struct("", 4, b.member(null, inner, 0));
        }
        b.struct("outer", 4, b.member(null, inner, 0));
        Btf btf = Btf.parse(b.build(LE), LE);
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> btf.member("outer", "deep"));
        assertTrue(e.getMessage().contains("nest"), e.getMessage());
    }

    @Test
    void member_typeBeyondTheTypes_refused() {
        BtfBuilder b = new BtfBuilder();
        b.struct("s", 8, b.member(null, 99, 0));
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> Btf.parse(b.build(LE), LE).member("s", "x"));
        assertTrue(e.getMessage().contains("beyond"), e.getMessage());
    }

    static Stream<Arguments> malformed() {
        return Stream.of(
                bad("short", "shorter than its header", b -> b.limit(20)),
                bad("magic", "magic is 0x1234", b -> b.putShort(0, (short) 0x1234)),
                bad("version", "version 2", b -> b.put(2, (byte) 2)),
                bad("hdr_len small", "hdr_len 8", b -> b.putInt(4, 8)),
                bad("hdr_len huge", "hdr_len", b -> b.putInt(4, 0x7fff_ffff)),
                bad("type_len", "run past", b -> b.putInt(12, 0x7fff_0000)),
                bad("type_len into the strings", "overlap", b -> b.putInt(12, b.getInt(12) + 4)),
                bad("str_off", "run past", b -> b.putInt(16, 0xffff_fff0)),
                bad("str_len", "run past", b -> b.putInt(20, b.getInt(20) + 1)),
                bad("overlap", "overlap", b -> b.putInt(16, 12)),
                bad("strings unterminated", "NUL", b -> b.put(b.capacity() - 1, (byte) 'x')),
                bad("unknown kind", "kind 20", b -> b.putInt(24 + 4, 20 << 24)),
                bad("kind 31", "kind 31", b -> b.putInt(24 + 4, 31 << 24)),
                bad("vlen past the end", "runs past the type section", b -> b.putInt(24 + 4, 4 << 24 | 0xffff)),
                bad("name_off past strings", "name_off", b -> b.putInt(24, 0x7fff_0000)));
    }

    private static Arguments bad(String name, String message, Consumer<ByteBuffer> damage) {
        return Arguments.of(name, message, damage);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void parse_malformed_refusedSayingWhat(String name, String message, Consumer<ByteBuffer> damage) {
        ByteBuffer b = ByteBuffer.wrap(SyntheticTasks.linuxBtf().build(LE)).order(LE);
        damage.accept(b);
        byte[] blob = Arrays.copyOf(b.array(), b.limit());
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class, () -> Btf.parse(blob, LE));
        assertTrue(e.getMessage().contains(message), name + ": " + e.getMessage());
        assertTrue(e.getMessage().startsWith("the kernel's BTF "), e.getMessage());
    }

    @Test
    void parse_everyTruncation_refusedOrParsedNothingElse() {
        byte[] blob = SyntheticTasks.linuxBtf().build(LE);
        for (int len = 0; len < blob.length; len++) {
            byte[] cut = Arrays.copyOf(blob, len);
            assertThrows(KernelUnavailableException.class, () -> Btf.parse(cut, LE), "cut at " + len);
        }
    }

    /**
     * Random damage to a valid blob (1 to 4 bytes, in the header, the types or the strings; seeded, so a failure
     * repeats): parsing and every lookup either work or raise {@link KernelUnavailableException}, and all of it ends.
     */
    @Test
    void parseAndLookups_randomDamage_onlyRefusalsAndNoHang() {
        byte[] blob = SyntheticTasks.linuxBtf().build(LE);
        Random r = new Random(0xb7f);
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            int refused = 0;
            for (int round = 0; round < 20_000; round++) {
                byte[] d = blob.clone();
                int n = 1 + r.nextInt(4);
                for (int k = 0; k < n; k++) {
                    int at = r.nextInt(4) == 0 ? r.nextInt(24) : r.nextInt(d.length);
                    d[at] = r.nextInt(3) == 0 ? (byte) r.nextInt(256) : (byte) (d[at] ^ (1 << r.nextInt(8)));
                }
                try {
                    Btf btf = Btf.parse(d, LE);
                    for (String[] m : new String[][] {{"rq", "curr"}, {"rq", "idle"}, {"task_struct", "pid"},
                            {"task_struct", "comm"}, {"task_struct", "thread_info"}}) {
                        try {
                            btf.member(m[0], m[1]).ifPresent(x -> {
                                x.byteOffset();
                                btf.resolve(x.typeId());
                            });
                        } catch (KernelUnavailableException e) {
                            refused++;
                        }
                    }
                    for (int id = 1; id <= btf.typeCount(); id++) {
                        try {
                            btf.name(id);
                            int t = btf.resolve(id);
                            if (t != 0 && btf.kind(t) == Btf.KIND_INT) {
                                btf.size(t);
                                btf.signedInt(t);
                            }
                        } catch (KernelUnavailableException e) {
                            refused++;
                        }
                    }
                } catch (KernelUnavailableException e) {
                    refused++;
                }
            }
            assertTrue(refused > 1000, "damage was noticed: " + refused);
        });
    }
}

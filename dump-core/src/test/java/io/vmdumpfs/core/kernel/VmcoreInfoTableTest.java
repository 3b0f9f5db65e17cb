package io.vmdumpfs.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.guest.VmcoreInfo;
import io.vmdumpfs.core.testing.SyntheticGuest;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class VmcoreInfoTableTest {

    /** Lines as a 6.1 x86_64 kernel and an arm64 kernel print them. */
    static final String TEXT = """
            OSRELEASE=6.1.0-57-cloud-amd64
            PAGESIZE=4096
            SYMBOL(init_uts_ns)=ffffffffa6bf9b60
            SYMBOL(mem_section)=ffff8cb74fea2000
            LENGTH(mem_section)=2048
            SIZE(page)=64
            OFFSET(page.flags)=0
            OFFSET(uts_namespace.name)=0
            NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129
            NUMBER(phys_base)=-432013312
            NUMBER(pgtable_l5_enabled)=0
            NUMBER(kimage_voffset)=0xffff800070000000
            NUMBER(VA_BITS)=48
            KERNELOFFSET=24000000
            CRASHTIME=1700000000
            SYMBOL(_stext)=ffffffffa5000000
            SYMBOL(_stext)=ffffffff81000000
            SYMBOL(broken)=zz
            NUMBER(broken)=12x
            no equals sign here
            """;

    @Test
    void parse_eachKind_typedValues() {
        VmcoreInfoTable t = VmcoreInfoTable.parse(TEXT);
        assertEquals(OptionalLong.of(0xffffffffa6bf9b60L), t.symbol("init_uts_ns"));
        assertEquals(OptionalLong.of(2048), t.length("mem_section"));
        assertEquals(OptionalLong.of(64), t.size("page"));
        assertEquals(OptionalLong.of(0), t.offset("page.flags"));
        assertEquals(OptionalLong.of(-129), t.number("PAGE_BUDDY_MAPCOUNT_VALUE"));
        assertEquals(OptionalLong.of(-432013312), t.number("phys_base"), "decimal and signed, not hex");
        assertEquals(OptionalLong.of(0xffff800070000000L), t.number("kimage_voffset"), "arm64 prints 0x-hex");
        assertEquals(OptionalLong.of(48), t.number("VA_BITS"));
        assertEquals(OptionalLong.of(0x24000000), t.kernelOffset(), "KERNELOFFSET is hex without 0x");
        assertEquals(Optional.of("6.1.0-57-cloud-amd64"), t.osRelease());
        assertEquals(OptionalLong.of(4096), t.pageSize());
        assertEquals(Optional.of("1700000000"), t.text("CRASHTIME"));
    }

    @Test
    void parse_repeatedKey_firstWins() {
        assertEquals(OptionalLong.of(0xffffffffa5000000L), VmcoreInfoTable.parse(TEXT).symbol("_stext"));
    }

    @Test
    void parse_malformedValues_absentAndListed() {
        VmcoreInfoTable t = VmcoreInfoTable.parse(TEXT);
        assertEquals(OptionalLong.empty(), t.symbol("broken"));
        assertEquals(OptionalLong.empty(), t.number("broken"));
        assertEquals(List.of("SYMBOL(broken)=zz", "NUMBER(broken)=12x"), t.malformed());
    }

    @Test
    void parse_absentKeys_emptyAndRequireNamesThem() {
        VmcoreInfoTable t = VmcoreInfoTable.parse("OSRELEASE=6.1\n");
        assertEquals(OptionalLong.empty(), t.symbol("init_uts_ns"));
        assertEquals(OptionalLong.empty(), t.kernelOffset());
        KernelUnavailableException e = assertThrows(KernelUnavailableException.class,
                () -> t.requireNumber("phys_base"));
        assertEquals("VMCOREINFO has no NUMBER(phys_base)", e.getMessage());
        assertTrue(assertThrows(KernelUnavailableException.class, () -> t.requireOffset("uts_namespace.name"))
                .getMessage().contains("OFFSET(uts_namespace.name)"));
    }

    @Test
    void parse_hexTooLong_malformed() {
        VmcoreInfoTable t = VmcoreInfoTable.parse("SYMBOL(x)=1ffffffffffffffff\nKERNELOFFSET=\n");
        assertEquals(OptionalLong.empty(), t.symbol("x"));
        assertEquals(OptionalLong.empty(), t.kernelOffset());
    }

    @Test
    void of_note_parsesTheNotesText() {
        VmcoreInfo note = new VmcoreInfo(SyntheticGuest.vmcoreinfoNote(TEXT), 0, "test", java.nio.ByteOrder.LITTLE_ENDIAN);
        assertEquals(OptionalLong.of(0x24000000), VmcoreInfoTable.of(note).kernelOffset());
    }
}

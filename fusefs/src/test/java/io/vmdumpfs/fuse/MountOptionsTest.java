package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.format.kdump.DumpLevel;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class MountOptionsTest {

    private static MountOptions parse(String... values) {
        return MountOptions.parse(List.of(values));
    }

    @Test
    void parse_none() {
        assertEquals(MountOptions.DEFAULTS, parse());
    }

    @Test
    void parse_commaSeparated() {
        MountOptions o = parse("allow_other,uid=1000,gid=100,cache_size=64M,blocks=/tmp/b.txt");
        assertTrue(o.allowOther());
        assertEquals(OptionalLong.of(1000), o.uid());
        assertEquals(OptionalLong.of(100), o.gid());
        assertEquals(OptionalLong.of(64L << 20), o.cacheSizeBytes());
        assertEquals(Optional.of(Path.of("/tmp/b.txt")), o.blocksFile());
    }

    @Test
    void parse_severalValues_lastWins() {
        MountOptions o = parse("uid=1", "uid=2,gid=3", "gid=4");
        assertEquals(OptionalLong.of(2), o.uid());
        assertEquals(OptionalLong.of(4), o.gid());
    }

    @Test
    void parse_emptyItemsAndBlanks_skipped() {
        assertEquals(MountOptions.DEFAULTS, parse(",, ,", ""));
        assertTrue(parse(" allow_other ,").allowOther());
    }

    @Test
    void parse_escapedComma_keptInValue() {
        assertEquals(Optional.of(Path.of("/tmp/a,b")), parse("blocks=/tmp/a\\,b,allow_other").blocksFile());
    }

    @ParameterizedTest
    @CsvSource({
        "0, 0",
        "4096, 4096",
        "1K, 1024",
        "1k, 1024",
        "2KiB, 2048",
        "3KB, 3072",
        "512M, 536870912",
        "1G, 1073741824",
        "2g, 2147483648",
        "1T, 1099511627776",
        "100B, 100",
    })
    void parse_cacheSizeSuffixes(String value, long bytes) {
        assertEquals(OptionalLong.of(bytes), parse("cache_size=" + value).cacheSizeBytes());
    }

    @ParameterizedTest
    @ValueSource(strings = {"cache_size", "cache_size=", "cache_size=M", "cache_size=-1", "cache_size=1.5G",
        "cache_size=12X", "cache_size=0x10", "cache_size=B", "cache_size=1 G"})
    void parse_cacheSizeMalformed_error(String opt) {
        CliException e = assertThrows(CliException.class, () -> parse(opt));
        assertTrue(e.getMessage().startsWith("mount option 'cache_size' needs a size"), e.getMessage());
    }

    @Test
    void parse_cacheSizeOverflow_error() {
        CliException e = assertThrows(CliException.class, () -> parse("cache_size=9000000000G"));
        assertEquals("mount option 'cache_size=9000000000G' is too large", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"ro", "rw", "noauto", "auto", "user", "nouser", "users", "_netdev", "nofail", "defaults",
        "exec", "noexec", "suid", "nosuid", "dev", "nodev", "x-systemd.automount", "x-gvfs-show",
        "comment=systemd.automount"})
    void parse_fstabOption_ignored(String opt) {
        assertEquals(MountOptions.DEFAULTS, parse(opt));
    }

    @Test
    void parse_mountFuseDefaults_ignored() {
        // What mount.fuse passes for an fstab line with "defaults,noauto".
        assertEquals(MountOptions.DEFAULTS, parse("rw,nosuid,nodev,noexec,noauto,user,dev,suid,exec,auto,nouser,async"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"foo", "allow_root", "uid", "big_writes", "direct_io", "Allow_Other"})
    void parse_unknownOption_error(String opt) {
        CliException e = assertThrows(CliException.class, () -> parse("ro," + opt));
        assertTrue(e.getMessage().contains("'" + opt + "'") || e.getMessage().contains("'uid'"), e.getMessage());
    }

    @Test
    void parse_unknownOption_messageNamesItAndHelp() {
        CliException e = assertThrows(CliException.class, () -> parse("foo=bar"));
        assertEquals("unknown mount option 'foo=bar'; see vmdumpfs --help", e.getMessage());
    }

    @Test
    void parse_flagWithValue_error() {
        CliException e = assertThrows(CliException.class, () -> parse("allow_other=1"));
        assertEquals("mount option 'allow_other' takes no value", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"uid=", "uid=-1", "uid=abc", "uid=1e3", "gid=4294967295", "gid=99999999999"})
    void parse_badId_error(String opt) {
        assertThrows(CliException.class, () -> parse(opt));
    }

    @Test
    void parse_maxId_accepted() {
        assertEquals(OptionalLong.of(MountOptions.MAX_ID), parse("uid=4294967294").uid());
    }

    @Test
    void parse_blocksWithoutFile_error() {
        assertThrows(CliException.class, () -> parse("blocks="));
        assertThrows(CliException.class, () -> parse("blocks"));
    }

    @Test
    void toOptionString_roundTrips() {
        MountOptions o = new MountOptions(true, OptionalLong.of(7), OptionalLong.of(8), OptionalLong.of(12345),
                Optional.of(Path.of("/x/a,b\\c")), true);
        assertEquals(o, MountOptions.parse(List.of(o.toOptionString())));
        assertEquals("", MountOptions.DEFAULTS.toOptionString());
    }

    @Test
    void parse_dumpLevel() {
        assertEquals(DumpLevel.NONE, parse().dumpLevel());
        assertEquals(new DumpLevel(31), parse("dump_level=31").dumpLevel());
        assertEquals(new DumpLevel(17), parse("allow_other,dump_level=17").dumpLevel());
        assertEquals(new DumpLevel(1), parse("dump_level=8", "dump_level=1").dumpLevel(), "the last one counts");
        assertEquals(DumpLevel.NONE, parse("dump_level=0").dumpLevel());
    }

    @ParameterizedTest
    @ValueSource(strings = {"dump_level", "dump_level=", "dump_level=32", "dump_level=-1", "dump_level=x",
        "dump_level=0x1f"})
    void parse_badDumpLevel_errorNamesTheOption(String opt) {
        CliException e = assertThrows(CliException.class, () -> parse(opt));
        assertTrue(e.getMessage().startsWith("mount option 'dump_level': "), e.getMessage());
        assertTrue(e.getMessage().contains("0 to 31"), e.getMessage());
    }

    @Test
    void toOptionString_dumpLevel_roundTrips() {
        MountOptions o = parse("uid=3,dump_level=31");
        assertEquals("uid=3,dump_level=31", o.toOptionString());
        assertEquals(o, MountOptions.parse(List.of(o.toOptionString())));
        assertEquals("", parse("dump_level=0").toOptionString());
    }

    @Test
    void split_escapes() {
        assertEquals(List.of("a,b", "c\\d", "e"), MountOptions.split("a\\,b,c\\\\d,e"));
        assertFalse(MountOptions.split("x").isEmpty());
    }
}

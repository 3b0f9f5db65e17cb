package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class MountInfoTest {

    private static final String TEXT = """
            22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
            42 27 0:39 / /tmp/mnt1 ro,nosuid,nodev,relatime shared:5 - fuse.vmdumpfs vmdumpfs:/var/crash/q.core ro,user_id=0
            43 22 0:40 / /mnt/with\\040space rw master:2 - tmpfs tm\\134p rw
            garbage line
            44 22 0:41 / /mnt/stacked rw - tmpfs a rw
            45 44 0:42 / /mnt/stacked rw - fuse.vmdumpfs vmdumpfs:/b ro
            """;

    @Test
    void parse_fields() {
        List<MountInfo.Entry> m = MountInfo.parse(TEXT);
        assertEquals(5, m.size());
        assertEquals(new MountInfo.Entry("0:39", "/tmp/mnt1", "fuse.vmdumpfs", "vmdumpfs:/var/crash/q.core"), m.get(1));
    }

    @Test
    void parse_octalEscapes() {
        assertEquals(new MountInfo.Entry("0:40", "/mnt/with space", "tmpfs", "tm\\p"), MountInfo.parse(TEXT).get(2));
    }

    @Test
    void find_stacked_returnsTopmost() {
        assertEquals("fuse.vmdumpfs", MountInfo.find(MountInfo.parse(TEXT), Path.of("/mnt/stacked")).get().fsType());
    }

    @Test
    void find_absent_empty() {
        assertTrue(MountInfo.find(MountInfo.parse(TEXT), Path.of("/tmp")).isEmpty());
    }

    @Test
    void unescape_leavesOtherBackslashes() {
        assertEquals("a\\9b\\", MountInfo.unescape("a\\9b\\"));
    }

    @Test
    void read_ownNamespace_hasRoot() {
        assertTrue(MountInfo.find(MountInfo.read(), Path.of("/")).isPresent());
    }
}

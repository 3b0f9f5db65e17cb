package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The launcher's launch.sh sizes the serving JVM's heap by the same rule as {@link MountCommand#heapMib}; the JVM
 * re-executes itself when the launcher's heap is smaller than its own, so a drift costs every mount ~0.5 s unseen.
 */
class LaunchScriptTest {

    private static final Path SCRIPT = Path.of("src/main/sh/launch.sh"); // tests run in the module directory

    private static int shellConstant(String name) throws Exception {
        Matcher m = Pattern.compile("(?m)^" + name + "=(\\d+)$").matcher(Files.readString(SCRIPT));
        if (!m.find()) {
            throw new AssertionError(name + " not set in " + SCRIPT.toAbsolutePath());
        }
        return Integer.parseInt(m.group(1));
    }

    @Test
    void heapConstants_sameAsMountCommand() throws Exception {
        assertEquals(MountCommand.YOUNG_MIB, shellConstant("VMDUMPFS_YOUNG_MIB"));
        assertEquals(MountCommand.HEADROOM_MIB, shellConstant("VMDUMPFS_HEAP_HEADROOM_MIB"));
    }
}

package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class BackgroundTest {

    @Test
    void absolutePaths_jarClassPathAndArchive_resolvedAgainstCwd() {
        List<String> got = Background.absolutePaths(List.of("-XX:+UseSerialGC", "-XX:SharedArchiveFile=t/a.jsa",
                "-cp", "lib/a.jar::/abs/b.jar", "-Dx=y", "-jar", "fusefs/target/vmdumpfs.jar"), Path.of("/work"));
        assertEquals(List.of("-XX:+UseSerialGC", "-XX:SharedArchiveFile=/work/t/a.jsa",
                "-cp", "/work/lib/a.jar::/abs/b.jar", "-Dx=y", "-jar", "/work/fusefs/target/vmdumpfs.jar"), got);
    }

    @Test
    void absolutePaths_otherFlags_keptAsTheyAre() {
        assertEquals(List.of("-XX:TieredStopAtLevel=1", "-Xss1m"),
                Background.absolutePaths(List.of("-XX:TieredStopAtLevel=1", "-Xss1m"), Path.of("/w")));
    }

    @Test
    void absolutePaths_flagWithoutValue_kept() {
        assertEquals(List.of("-jar"), Background.absolutePaths(List.of("-jar"), Path.of("/w")));
    }

    @Test
    void jvmCommand_notStartedByMain_fallsBackToClassPath() {
        // In a test JVM programArgs() is null: the command is rebuilt from java.home and java.class.path.
        List<String> cmd = Background.jvmCommand();
        assertTrue(cmd.get(0).endsWith("/bin/java"), cmd.toString());
        assertEquals(Main.class.getName(), cmd.get(cmd.size() - 1));
        assertTrue(Path.of(cmd.get(2).split(":")[0]).isAbsolute(), cmd.toString());
    }
}

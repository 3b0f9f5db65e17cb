package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.PrintStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class CommandArgsTest {

    private static final PrintStream NOWHERE = new PrintStream(OutputStream.nullOutputStream());

    private static MountCommand parseMount(List<String> args) {
        CommandLine cl = new CommandLine(new MountCommand(NOWHERE));
        cl.setOverwrittenOptionsAllowed(true);
        cl.parseArgs(args.toArray(String[]::new));
        return cl.getCommand();
    }

    @Test
    void of_parsedMount_parsesBackToTheSameValues() {
        MountCommand m = parseMount(List.of("-o", "ro", "--debug", "/c ore", "-o", "uid=5", "--x-shown-as", "/s", "/mnt"));
        List<String> args = CommandArgs.of(new CommandLine(m).getCommandSpec());
        MountCommand again = parseMount(args.subList(1, args.size()));
        assertEquals("mount", args.get(0));
        assertEquals(List.of("ro", "uid=5"), again.options);
        assertEquals(Path.of("/c ore"), again.core);
        assertEquals(Path.of("/mnt"), again.mountPoint);
        assertEquals(Path.of("/s"), again.shownAs);
        assertEquals(true, again.debug);
        assertFalse(again.foreground || again.fuseDebug || again.notifyReady);
    }

    @Test
    void of_unsetOptions_notWritten() {
        MountCommand m = parseMount(List.of("/c", "/m"));
        assertEquals(List.of("mount", "--", "/c", "/m"), CommandArgs.of(new CommandLine(m).getCommandSpec()));
        assertNull(parseMount(List.of("/c", "/m")).shownAs);
    }

    @Test
    void of_positionalLikeAnOption_staysPositional() {
        MountCommand m = parseMount(List.of("--", "-core", "/m"));
        List<String> args = CommandArgs.of(new CommandLine(m).getCommandSpec());
        assertEquals(Path.of("-core"), parseMount(args.subList(1, args.size())).core);
    }
}

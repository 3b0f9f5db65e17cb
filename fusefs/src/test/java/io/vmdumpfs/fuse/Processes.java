package io.vmdumpfs.fuse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Finds processes by their command line, so mount tests can check that no server is left behind. */
public final class Processes {

    private Processes() {
    }

    /** Returns the pids of processes (not this one) whose command line contains {@code s}. */
    public static List<Long> mentioning(String s) {
        List<Long> pids = new ArrayList<>();
        long self = ProcessHandle.current().pid();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) procs::iterator) {
                String name = p.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit) || Long.parseLong(name) == self) {
                    continue;
                }
                try {
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8);
                    if (cmd.replace('\0', ' ').contains(s)) {
                        pids.add(Long.parseLong(name));
                    }
                } catch (IOException gone) {
                    // exited while we looked
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return pids;
    }
}

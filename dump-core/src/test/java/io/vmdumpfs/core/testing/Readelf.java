package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** binutils' readelf as an independent judge of ELF files: its view of program headers and notes. */
public final class Readelf {

    /** One program header as readelf prints it. */
    public record Phdr(String type, long offset, long vaddr, long paddr, long filesz, long memsz) {
    }

    private static final Pattern PHDR = Pattern.compile(
            "^\\s*(\\w+)\\s+0x([0-9a-f]+)\\s+0x([0-9a-f]+)\\s+0x([0-9a-f]+)\\s+0x([0-9a-f]+)\\s+0x([0-9a-f]+)",
            Pattern.MULTILINE);

    private Readelf() {
    }

    /** Returns the output of {@code readelf ARGS FILE}; fails the test on a non-zero exit. */
    public static String run(Path file, String... args) {
        QemuFixture.requireCommand("readelf", "apt-get install binutils");
        List<String> cmd = new ArrayList<>(List.of("readelf"));
        cmd.addAll(List.of(args));
        cmd.add(file.toString());
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(60, TimeUnit.SECONDS);
            assertEquals(0, p.exitValue(), () -> String.join(" ", cmd) + " failed:\n" + out);
            return out;
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Returns the program headers of {@code file} ({@code readelf -lW}). */
    public static List<Phdr> programHeaders(Path file) {
        Matcher m = PHDR.matcher(run(file, "-lW"));
        List<Phdr> out = new ArrayList<>();
        while (m.find()) {
            out.add(new Phdr(m.group(1), Long.parseUnsignedLong(m.group(2), 16), Long.parseUnsignedLong(m.group(3), 16),
                    Long.parseUnsignedLong(m.group(4), 16), Long.parseUnsignedLong(m.group(5), 16),
                    Long.parseUnsignedLong(m.group(6), 16)));
        }
        return out;
    }

    /** Returns the PT_LOAD headers only. */
    public static List<Phdr> loads(Path file) {
        return programHeaders(file).stream().filter(p -> p.type().equals("LOAD")).toList();
    }

    /** Returns the descriptor bytes of the first note owned by {@code owner} ({@code readelf -nW}), or null. */
    public static byte[] noteDesc(Path file, String owner) {
        String out = run(file, "-nW");
        int at = out.indexOf("\n  " + owner + " ");
        if (at < 0) {
            return null;
        }
        int data = out.indexOf("description data:", at);
        if (data < 0) {
            return new byte[0];
        }
        int end = out.indexOf('\n', data);
        String hex = out.substring(data + "description data:".length(), end < 0 ? out.length() : end)
                .replaceAll("\\s+", "");
        return HexFormat.of().parseHex(hex);
    }
}

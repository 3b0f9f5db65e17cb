package io.vmdumpfs.core.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The debug package's System.map of a guest kernel: where each symbol was linked. Under KASLR the guest has it
 * KERNELOFFSET higher (per-CPU symbols excepted: they are offsets into the per-CPU area); a source of symbol
 * addresses that does not go through the dump.
 */
public final class SystemMap {

    private SystemMap() {
    }

    /**
     * Returns /usr/lib/debug/boot/System.map-{@code release} as name → link address (the first of equal names); skips
     * (fails in CI) when it is not installed.
     */
    public static Map<String, Long> of(String release) {
        Path p = Path.of("/usr/lib/debug/boot/System.map-" + release);
        QemuFixture.require(Files.isReadable(p), p + " missing (apt-get install linux-image-" + release + "-dbg)");
        Map<String, Long> m = new HashMap<>();
        try {
            for (String line : Files.readAllLines(p)) {
                String[] f = line.split(" ");
                if (f.length == 3) {
                    m.putIfAbsent(f[2], Long.parseUnsignedLong(f[0], 16));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return m;
    }
}

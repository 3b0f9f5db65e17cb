package io.vmdumpfs.core.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where a real fixture's guest kernel has its symbols and image, from sources other than the dump: the debug
 * package's System.map (link addresses; add KERNELOFFSET under KASLR), and, in fixtures that have it, the guest's own
 * {@code guest-facts.txt} (its /proc/kallsyms and /proc/iomem lines, uname; scripts/make-qemu-core.sh writes it).
 */
public final class KernelTruth {

    private KernelTruth() {
    }

    /**
     * Returns the debug package's System.map of {@code release} as name → link address (the first of equal names);
     * skips (fails in CI) when it is not installed.
     */
    public static Map<String, Long> systemMap(String release) {
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

    /** What the guest printed about itself: guest-facts.txt's "KEY VALUE" lines. */
    public record GuestFacts(List<String> lines) {

        /** Returns the values of every line with {@code key}. */
        public List<String> all(String key) {
            List<String> out = new ArrayList<>();
            for (String l : lines) {
                if (l.startsWith(key + " ")) {
                    out.add(l.substring(key.length() + 1));
                }
            }
            return out;
        }

        /** Returns the value of the first line with {@code key}, if any. */
        public Optional<String> first(String key) {
            List<String> v = all(key);
            return v.isEmpty() ? Optional.empty() : Optional.of(v.get(0));
        }

        /** Returns the guest's /proc/kallsyms addresses (name → address) of the symbols the fixture listed. */
        public Map<String, Long> kallsyms() {
            Map<String, Long> m = new HashMap<>();
            for (String v : all("kallsyms")) {
                String[] f = v.trim().split("\\s+");
                if (f.length == 3) {
                    m.putIfAbsent(f[2], Long.parseUnsignedLong(f[0], 16));
                }
            }
            return m;
        }

        /** Returns the /proc/iomem range named {@code name} ("Kernel code") as {start, end inclusive}, if listed. */
        public Optional<long[]> iomem(String name) {
            for (String v : all("iomem")) {
                int colon = v.indexOf(" : ");
                if (colon > 0 && v.substring(colon + 3).trim().equals(name)) {
                    String[] r = v.substring(0, colon).trim().split("-");
                    return Optional.of(new long[] {Long.parseUnsignedLong(r[0], 16), Long.parseUnsignedLong(r[1], 16)});
                }
            }
            return Optional.empty();
        }
    }

    /** Returns the fixture's guest-facts.txt, if its script version writes one. */
    public static Optional<GuestFacts> guestFacts(QemuFixture f) {
        Path p = f.dir().resolve("guest-facts.txt");
        if (!Files.isRegularFile(p)) {
            return Optional.empty();
        }
        try {
            return Optional.of(new GuestFacts(Files.readAllLines(p)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

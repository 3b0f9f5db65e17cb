package io.vmdumpfs.hardening;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The numbers one test class reports to {@code scripts/hardening.sh}: KEY=VALUE lines in
 * {@code fusefs/target/hardening/NAME.properties}, rewritten on every {@link #put} so that a run that dies half-way
 * still leaves what it counted.
 */
final class Summary {

    private final Path file;
    private final Map<String, String> values = new LinkedHashMap<>();

    Summary(String name) {
        this.file = Path.of("target", "hardening", name + ".properties").toAbsolutePath();
    }

    synchronized Summary put(String key, Object value) {
        values.put(key, String.valueOf(value));
        StringBuilder sb = new StringBuilder();
        values.forEach((k, v) -> sb.append(k).append('=').append(v.replace('\n', ' ')).append('\n'));
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, sb.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    synchronized long add(String key, long delta) {
        long v = Long.parseLong(values.getOrDefault(key, "0")) + delta;
        put(key, v);
        return v;
    }
}

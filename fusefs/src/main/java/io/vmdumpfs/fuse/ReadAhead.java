package io.vmdumpfs.fuse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Raises the kernel's read-ahead for our mount. A FUSE mount starts with 128 KiB (and FUSE INIT can only lower it), so
 * a cold sequential reader has about one 128 KiB request in flight, each waiting for the disk under the core: reading
 * the 3 GiB guest's vmcore.elf ran at 0.26-0.45 GB/s. With 1 MiB the kernel keeps several requests in flight, served
 * in parallel by libfuse's threads: 0.61-0.70 GB/s, more than {@code cat} of the core itself (the disk's own
 * read-ahead is one stream). 4 MiB was slower again (0.37 GB/s): too many requests compete for one disk.
 *
 * <p>The knob is the mount's backing device in sysfs, writable by root only; for anybody else the mount keeps the
 * kernel's default. The setting goes away with the mount.
 */
final class ReadAhead {

    /** What we set, in KiB. */
    static final int KIB = 1024;

    private ReadAhead() {
    }

    /** Returns the sysfs file of the backing device {@code device} ("major:minor" from mountinfo). */
    static Path sysfsFile(String device) {
        return Path.of("/sys/class/bdi", device, "read_ahead_kb");
    }

    /**
     * Sets {@code file} to {@code kib} unless it is already at least that.
     *
     * @return what happened, for the debug log
     */
    static String raise(Path file, int kib) {
        try {
            int now = Integer.parseInt(Files.readString(file, StandardCharsets.US_ASCII).strip());
            if (now >= kib) {
                return "read-ahead stays at " + now + " KiB";
            }
            if (!Files.isWritable(file)) {
                return "read-ahead stays at " + now + " KiB (" + file + " is writable by root only)";
            }
            Files.writeString(file, Integer.toString(kib), StandardCharsets.US_ASCII);
            return "read-ahead raised from " + now + " to " + kib + " KiB";
        } catch (IOException | NumberFormatException | SecurityException e) {
            return "read-ahead unchanged: " + e;
        }
    }
}

package io.vmdumpfs.fuse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The mount table of this process's mount namespace, from {@code /proc/self/mountinfo} (proc(5)). Used to refuse a
 * mount point that is already mounted on, and to see our own mount appear.
 *
 * <p>Only the fields we need are kept. A line that does not parse is skipped rather than failing: the file is
 * written by the kernel, and a new kernel may add optional fields.
 */
final class MountInfo {

    static final Path PROC_MOUNTINFO = Path.of("/proc/self/mountinfo");

    /**
     * One mount.
     *
     * @param device     field 3, "major:minor" of the mounted file system (a FUSE mount's is "0:N")
     * @param mountPoint field 5, unescaped
     * @param fsType     the field after " - ", e.g. "fuse.vmdumpfs"
     * @param source     the field after fsType, e.g. "vmdumpfs:/path/core"
     */
    record Entry(String device, String mountPoint, String fsType, String source) {
    }

    private MountInfo() {
    }

    /** Returns the current mounts, or an empty list when /proc is not mounted. */
    static List<Entry> read() {
        try {
            return parse(Files.readString(PROC_MOUNTINFO, StandardCharsets.UTF_8));
        } catch (IOException e) {
            return List.of();
        }
    }

    /** Returns the last mount on {@code mountPoint} (the visible one when mounts are stacked), if any. */
    static Optional<Entry> find(List<Entry> mounts, Path mountPoint) {
        String want = mountPoint.toString();
        Entry found = null;
        for (Entry e : mounts) {
            if (e.mountPoint().equals(want)) {
                found = e;
            }
        }
        return Optional.ofNullable(found);
    }

    /**
     * Parses mountinfo text. A line is:
     * {@code 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue}.
     */
    static List<Entry> parse(String text) {
        List<Entry> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            String[] f = line.split(" ");
            int sep = -1;
            for (int i = 6; i < f.length; i++) {
                if (f[i].equals("-")) {
                    sep = i;
                    break;
                }
            }
            if (f.length < 5 || sep < 0 || sep + 2 >= f.length) {
                continue;
            }
            out.add(new Entry(f[2], unescape(f[4]), unescape(f[sep + 1]), unescape(f[sep + 2])));
        }
        return out;
    }

    /** Undoes the kernel's octal escapes (mangle() in fs/proc_namespace.c: space, tab, newline, backslash). */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && isOctal(s, i + 1)) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private static boolean isOctal(String s, int from) {
        if (from + 3 > s.length()) {
            return false;
        }
        for (int i = from; i < from + 3; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '7') {
                return false;
            }
        }
        return true;
    }
}

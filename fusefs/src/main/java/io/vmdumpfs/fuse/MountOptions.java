package io.vmdumpfs.fuse;

import io.vmdumpfs.core.format.kdump.DumpLevel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/**
 * The {@code -o} options, parsed. Each {@code -o} value is a comma-separated list, as mount(8) and libfuse take it;
 * {@code \,} puts a comma into a value (libfuse's escape). When an option is given twice the last one wins.
 *
 * <p>Options that fstab and mount.fuse pass for every file system ({@code rw}, {@code defaults}, {@code nofail},
 * {@code x-*}, …) are accepted and ignored: the mount is read-only whatever they say, and refusing {@code rw} would
 * break the {@code defaults} that mount.fuse expands. Anything else unknown is an error, never silently dropped.
 *
 * @param allowOther     let other users see the files (FUSE {@code allow_other}); modes become 0444/0555
 * @param uid            owner of every file, instead of the mounting user
 * @param gid            group of every file, instead of the mounting user's group
 * @param cacheSizeBytes bound of the chunk cache in bytes, instead of the default
 * @param blocksFile     read the guest block table from this file (blocks.txt format) instead of discovering it
 * @param nonempty       allow mounting over a non-empty directory (libfuse2's {@code nonempty})
 * @param dumpLevel      which pages the kdump files leave out (makedumpfile's {@code -d}, 0 to 31; 0: none)
 */
public record MountOptions(boolean allowOther, OptionalLong uid, OptionalLong gid, OptionalLong cacheSizeBytes,
        Optional<Path> blocksFile, boolean nonempty, DumpLevel dumpLevel) {

    /** No options given. */
    public static final MountOptions DEFAULTS = new MountOptions(false, OptionalLong.empty(), OptionalLong.empty(),
            OptionalLong.empty(), Optional.empty(), false, DumpLevel.NONE);

    /** The options without a dump level: every page dumped. */
    public MountOptions(boolean allowOther, OptionalLong uid, OptionalLong gid, OptionalLong cacheSizeBytes,
            Optional<Path> blocksFile, boolean nonempty) {
        this(allowOther, uid, gid, cacheSizeBytes, blocksFile, nonempty, DumpLevel.NONE);
    }

    /** Accepted and ignored: mount(8)/fstab generic options that mount.fuse may hand to any FUSE file system. */
    static final Set<String> IGNORED = Set.of("ro", "rw", "auto", "noauto", "user", "nouser", "users", "_netdev",
            "nofail", "defaults", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "async", "sync", "atime",
            "noatime", "relatime", "norelatime", "strictatime", "nodiratime", "owner", "group", "loud", "silent");

    /** Largest uid/gid Linux accepts: (uid_t) -1 is reserved to mean "no change". */
    static final long MAX_ID = 0xFFFF_FFFEL;

    /**
     * Returns the options in {@code values} (each a comma-separated list, as given to {@code -o}).
     *
     * @throws CliException for an unknown option or a bad value, naming the option
     */
    public static MountOptions parse(List<String> values) {
        boolean allowOther = false;
        boolean nonempty = false;
        OptionalLong uid = OptionalLong.empty();
        OptionalLong gid = OptionalLong.empty();
        OptionalLong cacheSize = OptionalLong.empty();
        Optional<Path> blocks = Optional.empty();
        DumpLevel dumpLevel = DumpLevel.NONE;
        for (String value : values) {
            for (String opt : split(value)) {
                int eq = opt.indexOf('=');
                String key = eq < 0 ? opt : opt.substring(0, eq);
                String arg = eq < 0 ? null : opt.substring(eq + 1);
                switch (key) {
                    case "allow_other" -> allowOther = flag(key, arg);
                    case "nonempty" -> nonempty = flag(key, arg);
                    case "uid" -> uid = OptionalLong.of(parseId(key, arg));
                    case "gid" -> gid = OptionalLong.of(parseId(key, arg));
                    case "cache_size" -> cacheSize = OptionalLong.of(parseSize(key, arg));
                    case "dump_level" -> dumpLevel = parseDumpLevel("mount option 'dump_level'", arg);
                    case "blocks" -> {
                        if (arg == null || arg.isEmpty()) {
                            throw new CliException("mount option 'blocks' needs a file: -o blocks=FILE");
                        }
                        blocks = Optional.of(Path.of(arg));
                    }
                    default -> {
                        if (!isIgnored(key)) {
                            throw new CliException("unknown mount option '" + opt + "'; see vmdumpfs --help");
                        }
                    }
                }
            }
        }
        return new MountOptions(allowOther, uid, gid, cacheSize, blocks, nonempty, dumpLevel);
    }

    /** Returns these options with {@code blocksFile} replaced. */
    public MountOptions withBlocksFile(Optional<Path> file) {
        return new MountOptions(allowOther, uid, gid, cacheSizeBytes, file, nonempty, dumpLevel);
    }

    /**
     * Returns the dump level {@code arg} names (0 to 31).
     *
     * @param what the option, for the message ("mount option 'dump_level'", "--dump-level")
     * @throws CliException naming the option otherwise
     */
    static DumpLevel parseDumpLevel(String what, String arg) {
        try {
            return DumpLevel.parse(arg);
        } catch (IllegalArgumentException e) {
            throw new CliException(what + ": " + e.getMessage());
        }
    }

    /** Returns the options as one {@code -o} value that {@link #parse} reads back to equal options. */
    public String toOptionString() {
        List<String> o = new ArrayList<>();
        if (allowOther) {
            o.add("allow_other");
        }
        uid.ifPresent(v -> o.add("uid=" + v));
        gid.ifPresent(v -> o.add("gid=" + v));
        cacheSizeBytes.ifPresent(v -> o.add("cache_size=" + v));
        blocksFile.ifPresent(p -> o.add("blocks=" + escape(p.toString())));
        if (nonempty) {
            o.add("nonempty");
        }
        if (dumpLevel.filters()) {
            o.add("dump_level=" + dumpLevel.bits());
        }
        return String.join(",", o);
    }

    /** Returns {@code value} with backslashes and commas escaped, for one item of an option list (ours or libfuse's). */
    static String escape(String value) {
        return value.replace("\\", "\\\\").replace(",", "\\,");
    }

    /** Returns true for options that are accepted and have no effect (see the class comment). */
    static boolean isIgnored(String key) {
        return IGNORED.contains(key) || key.startsWith("x-") || key.equals("comment");
    }

    /**
     * Splits one {@code -o} value at unescaped commas, dropping empty items; {@code \,} and {@code \\} stand for a
     * comma and a backslash.
     */
    static List<String> split(String value) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '\\' && i + 1 < value.length()) {
                cur.append(value.charAt(++i));
            } else if (c == ',') {
                add(out, cur);
            } else {
                cur.append(c);
            }
        }
        add(out, cur);
        return out;
    }

    private static void add(List<String> out, StringBuilder cur) {
        String s = cur.toString().trim();
        if (!s.isEmpty()) {
            out.add(s);
        }
        cur.setLength(0);
    }

    private static boolean flag(String key, String arg) {
        if (arg != null) {
            throw new CliException("mount option '" + key + "' takes no value");
        }
        return true;
    }

    static long parseId(String key, String arg) {
        if (arg == null || !arg.matches("[0-9]{1,10}")) {
            throw new CliException("mount option '" + key + "' needs a numeric id: -o " + key + "=N");
        }
        long id = Long.parseLong(arg);
        if (id > MAX_ID) {
            throw new CliException("mount option '" + key + "=" + arg + "' is out of range (0.." + MAX_ID + ")");
        }
        return id;
    }

    /**
     * Returns a byte count: digits with an optional binary suffix K, M, G or T (upper or lower case, optionally
     * followed by "B" or "iB"), e.g. {@code 512M} = 536870912.
     *
     * @throws CliException for anything else, or a value above {@code Long.MAX_VALUE}
     */
    static long parseSize(String key, String arg) {
        String usage = "mount option '" + key + "' needs a size in bytes, e.g. -o " + key + "=512M";
        if (arg == null) {
            throw new CliException(usage);
        }
        String s = arg.trim().toUpperCase(Locale.ROOT);
        if (s.endsWith("IB")) {
            s = s.substring(0, s.length() - 2);
        } else if (s.endsWith("B")) {
            s = s.substring(0, s.length() - 1);
        }
        int shift = 0;
        if (!s.isEmpty()) {
            shift = switch (s.charAt(s.length() - 1)) {
                case 'K' -> 10;
                case 'M' -> 20;
                case 'G' -> 30;
                case 'T' -> 40;
                default -> 0;
            };
        }
        String digits = shift == 0 ? s : s.substring(0, s.length() - 1);
        if (!digits.matches("[0-9]{1,19}")) {
            throw new CliException(usage + " (got '" + arg + "')");
        }
        try {
            long n = Long.parseLong(digits);
            if (n > (Long.MAX_VALUE >> shift)) {
                throw new NumberFormatException();
            }
            return n << shift;
        } catch (NumberFormatException e) {
            throw new CliException("mount option '" + key + "=" + arg + "' is too large");
        }
    }
}

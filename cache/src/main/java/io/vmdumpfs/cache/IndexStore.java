package io.vmdumpfs.cache;

import io.vmdumpfs.core.format.IndexRepository;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.CRC32C;

/**
 * The {@link IndexRepository} of a mount: index files in the user's cache directory ({@code $XDG_CACHE_HOME/vmdumpfs},
 * else {@code ~/.cache/vmdumpfs}, as the XDG Base Directory spec says), under {@value #SUBDIR}/. Everything about
 * those files lives here: where they are, their envelope and checksum, atomic replacement, and keeping the directory
 * within a size budget ({@link #prune}; loading an index refreshes its modification time, so the least recently
 * used go first).
 *
 * <p>File name: {@code KIND-DIGEST.idx}, DIGEST being the first 128 bits of the key's digest. Content, little-endian:
 * <pre>
 * 0   char[8]  magic "VMDFSIDX"
 * 8   u32      envelope version (1)
 * 12  u32      CRC-32C of bytes 0..12 and 16..64 (the header without this field)
 * 16  u8[32]   the key's full digest
 * 48  u64      content length L
 * 56  u64      0
 * 64  u8[L]    content, as the format wrote it
 * ... u32      CRC-32C of the content
 * </pre>
 * A file that fails a check (or whose content the format's reader rejects) is deleted and reported empty: the format
 * builds again. Files are written under a temporary name and renamed, so a reader never sees half a file.
 *
 * <p>The files are small (kdump: about 2 bytes per stored guest page and codec), so the budget only matters after
 * many cores. Thread-safe: every call works on its own file handles.
 */
public final class IndexStore implements IndexRepository {

    private static final System.Logger LOG = System.getLogger(IndexStore.class.getName());

    /** Default budget for all persisted indexes: room for the kdump indexes of about 100 GiB of busy guests. */
    public static final long DEFAULT_MAX_BYTES = 256L << 20;
    /** The index files' suffix; nothing else is ever deleted. */
    static final String SUFFIX = ".idx";
    /** The subdirectory of the cache directory holding the index files. */
    public static final String SUBDIR = "indexes";
    static final byte[] MAGIC = "VMDFSIDX".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;
    static final int HEADER = 64;
    /** I/O batch of the checksumming channels. */
    private static final int BATCH = 1 << 20;

    private final Path dir;

    /** Keeps index files under {@code cacheDir}/{@value #SUBDIR} (created when the first is stored). */
    public IndexStore(Path cacheDir) {
        this.dir = cacheDir.resolve(SUBDIR);
    }

    /** Returns the cache directory for this process's environment, or empty when there is no home directory. */
    public static Optional<Path> defaultDirectory() {
        return directory(System.getenv(), System.getProperty("user.home"));
    }

    /**
     * Returns {@code $XDG_CACHE_HOME/vmdumpfs} when XDG_CACHE_HOME is set to an absolute path (the spec says to
     * ignore a relative one), else {@code HOME/.cache/vmdumpfs}; empty when neither is usable.
     */
    static Optional<Path> directory(Map<String, String> env, String userHome) {
        String xdg = env.get("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isEmpty() && Path.of(xdg).isAbsolute()) {
            return Optional.of(Path.of(xdg, "vmdumpfs"));
        }
        String home = env.getOrDefault("HOME", userHome);
        if (home == null || home.isEmpty() || !Path.of(home).isAbsolute()) {
            return Optional.empty();
        }
        return Optional.of(Path.of(home, ".cache", "vmdumpfs"));
    }

    /**
     * Creates {@code dir} (mode 0700 where POSIX permissions exist: the indexes reveal which cores a user opened)
     * and returns it.
     *
     * @throws UncheckedIOException if it cannot be created
     */
    public static Path create(Path dir) {
        try {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir);
                try {
                    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
                } catch (UnsupportedOperationException e) {
                    // not a POSIX file system: keep its default permissions
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create cache directory " + dir, e);
        }
    }

    /**
     * Deletes the least recently used {@code *.idx} files in the subdirectories of {@code dir} (one level: indexes/
     * and any older layout's) until they take at most {@code maxBytes}. Files vanishing meanwhile are fine (another
     * mount pruning too).
     *
     * @return the bytes deleted
     */
    public static long prune(Path dir, long maxBytes) throws IOException {
        record Entry(Path path, long size, long mtime) {
        }
        List<Entry> entries = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (DirectoryStream<Path> subs = Files.newDirectoryStream(dir, Files::isDirectory)) {
            for (Path sub : subs) {
                try (DirectoryStream<Path> files = Files.newDirectoryStream(sub, "*" + SUFFIX)) {
                    for (Path f : files) {
                        try {
                            BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
                            if (a.isRegularFile()) {
                                entries.add(new Entry(f, a.size(), a.lastModifiedTime().toMillis()));
                            }
                        } catch (NoSuchFileException e) {
                            // deleted meanwhile
                        }
                    }
                }
            }
        }
        long total = entries.stream().mapToLong(Entry::size).sum();
        entries.sort(Comparator.comparingLong(Entry::mtime));
        long deleted = 0;
        for (Entry e : entries) {
            if (total - deleted <= maxBytes) {
                break;
            }
            if (Files.deleteIfExists(e.path())) {
                deleted += e.size();
            }
        }
        return deleted;
    }

    /** Returns the file an index of {@code key} is kept in. */
    public Path fileOf(Key key) {
        return dir.resolve(key.kind() + "-" + key.digest().substring(0, 32) + SUFFIX);
    }

    @Override
    public <T> Optional<T> load(Key key, Reader<T> reader) {
        Path file = fileOf(key);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < HEADER + 4) {
                return corrupt(key, file, "size " + size);
            }
            ByteBuffer head = readFully(ch, 0, HEADER);
            if (!Arrays.equals(Arrays.copyOf(head.array(), 8), MAGIC)) {
                return corrupt(key, file, "bad magic");
            }
            if (head.getInt(8) != VERSION) {
                return corrupt(key, file, "envelope version " + head.getInt(8));
            }
            if (head.getInt(12) != headerCrc(head)) {
                return corrupt(key, file, "header checksum mismatch");
            }
            if (!Arrays.equals(Arrays.copyOfRange(head.array(), 16, 48), HexFormat.of().parseHex(key.digest()))) {
                return corrupt(key, file, "key does not match its name");
            }
            long length = head.getLong(48);
            if (length < 0 || HEADER + length + 4 != size) {
                return corrupt(key, file, "content of " + length + " bytes in a file of " + size);
            }
            CrcReader in = new CrcReader(ch, HEADER, length);
            T value;
            try {
                value = reader.read(in);
            } catch (CorruptIndexException | EOFException e) {
                return corrupt(key, file, e.getMessage());
            }
            if (in.remaining > 0) {
                return corrupt(key, file, in.remaining + " bytes of content left unread");
            }
            if (readFully(ch, HEADER + length, 4).getInt(0) != (int) in.crc.getValue()) {
                return corrupt(key, file, "checksum mismatch");
            }
            touch(file);
            LOG.log(Level.DEBUG, "loaded index {0}", file);
            return Optional.of(value);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            // e.g. permissions: leave the file alone, the format builds in memory
            LOG.log(Level.WARNING, "cannot read index " + file + " (" + e + "); building it in memory");
            return Optional.empty();
        }
    }

    private <T> Optional<T> corrupt(Key key, Path file, String why) {
        LOG.log(Level.WARNING, "index {0} is corrupt ({1}); rebuilding it", file, why);
        discard(key);
        return Optional.empty();
    }

    /** Marks the index as just used: {@link #prune} removes the least recently used. */
    private static void touch(Path file) {
        try {
            Files.setLastModifiedTime(file, FileTime.from(Instant.now()));
        } catch (IOException e) {
            // a read-only cache directory: pruning order is all we lose
        }
    }

    @Override
    public boolean store(Key key, Writer writer) {
        Path file = fileOf(key);
        try {
            create(dir);
            Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp"); // mode 0600
            try {
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                    CrcWriter out = new CrcWriter(ch, HEADER);
                    writer.write(out);
                    ByteBuffer head = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
                    head.put(0, MAGIC).putInt(8, VERSION).put(16, HexFormat.of().parseHex(key.digest()))
                            .putLong(48, out.length);
                    head.putInt(12, headerCrc(head));
                    writeFully(ch, head, 0);
                    writeFully(ch, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN)
                            .putInt(0, (int) out.crc.getValue()), HEADER + out.length);
                    ch.force(true);
                }
                try {
                    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
                }
                LOG.log(Level.DEBUG, "stored index {0}", file);
                return true;
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException | RuntimeException e) {
            // the index still serves this mount from memory; only the next mount is slower
            LOG.log(Level.WARNING, "cannot store index " + file + ": " + e);
            return false;
        }
    }

    @Override
    public void discard(Key key) {
        Path file = fileOf(key);
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot delete index " + file + ": " + e);
        }
    }

    private static int headerCrc(ByteBuffer head) {
        CRC32C crc = new CRC32C();
        crc.update(head.array(), 0, 12);
        crc.update(head.array(), 16, HEADER - 16);
        return (int) crc.getValue();
    }

    private static ByteBuffer readFully(FileChannel ch, long pos, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, pos + b.position()) < 0) {
                throw new EOFException("ends early at " + (pos + b.position()));
            }
        }
        return b;
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b, pos + b.position());
        }
    }

    /** The content of an index file: at most its length, checksummed as it is read. */
    private static final class CrcReader implements ReadableByteChannel {
        final CRC32C crc = new CRC32C();
        private final FileChannel ch;
        private long pos;
        long remaining;

        CrcReader(FileChannel ch, long pos, long length) {
            this.ch = ch;
            this.pos = pos;
            this.remaining = length;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            if (remaining == 0) {
                return -1;
            }
            ByteBuffer d = dst.duplicate();
            d.limit(d.position() + (int) Math.min(d.remaining(), Math.min(remaining, BATCH)));
            int n = ch.read(d, pos);
            if (n < 0) {
                throw new EOFException("index file ends early");
            }
            crc.update(dst.duplicate().limit(dst.position() + n));
            dst.position(dst.position() + n);
            pos += n;
            remaining -= n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    /** The content of an index file being written: counted and checksummed as it goes. */
    private static final class CrcWriter implements WritableByteChannel {
        final CRC32C crc = new CRC32C();
        private final FileChannel ch;
        private final long start;
        long length;

        CrcWriter(FileChannel ch, long start) {
            this.ch = ch;
            this.start = start;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            int n = src.remaining();
            crc.update(src.duplicate());
            writeFully(ch, src, start + length - src.position());
            length += n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }
}

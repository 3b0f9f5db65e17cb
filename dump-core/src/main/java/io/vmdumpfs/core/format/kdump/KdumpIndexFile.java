package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.zip.CRC32C;

/**
 * A kdump index persisted between mounts, so a remount of the same core serves its kdump files at once.
 *
 * <p>File name: {@code kdump-CODEC-KEY.idx}, KEY being the first 128 bits of {@link #key}: SHA-256 of the codec's
 * output fingerprint, the page and chunk size, {@link CoreFile#identity()} (device, inode, size, mtime), the first
 * 64 KiB of the core and the block table. A different core, a rewritten core, other discovered blocks or another
 * compressor version give another name, so a stale index is never used.
 *
 * <p>Content, little-endian:
 * <pre>
 * 0   char[8]  magic "VMDFSKIX"
 * 8   u32      format version (1)
 * 12  u32      page size
 * 16  u32      pages per chunk
 * 20  u32      0
 * 24  u8[32]   the full key
 * 56  u64      page count N
 * 64  u16[N]   stored size of each page (0 = zero page)
 * ... u32      CRC-32C of all bytes before it
 * </pre>
 * A file that fails any check is reported {@link Status#CORRUPT}; the caller deletes it and builds again.
 * Files are written to a temporary name and renamed, so a reader never sees half a file.
 */
final class KdumpIndexFile {

    static final byte[] MAGIC = "VMDFSKIX".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;
    static final int HEADER = 64;
    /** Bytes of the core hashed into the key: its ELF header, program headers and notes in practice. */
    static final int CORE_PREFIX = 64 * 1024;
    /** I/O batch for sizes: 512 Ki pages. */
    private static final int BATCH = 1 << 20;

    /** ABSENT: no such file; UNREADABLE: the OS refused (leave the file alone); CORRUPT: delete and rebuild. */
    enum Status { ABSENT, OK, UNREADABLE, CORRUPT }

    /** The outcome of {@link #read}: the index when OK, otherwise why not. */
    record Loaded(Status status, KdumpIndex index, String problem) {
    }

    private KdumpIndexFile() {
    }

    /** Returns the 32-byte key of {@code dump}'s index for {@code codec}. Reads the first 64 KiB of the core. */
    static byte[] key(GuestDump dump, KdumpCodec codec) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from the JDK", e);
        }
        CoreFile core = dump.core();
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        md.update(("vmdumpfs kdump index v" + VERSION + "\0" + codec.codecName + "\0" + codec.fingerprint() + "\0"
                + dump.platform().pageSize() + "\0" + KdumpIndex.CHUNK_PAGES + "\0" + core.identity() + "\0")
                .getBytes(StandardCharsets.UTF_8));
        md.update(core.read(0, (int) Math.min(CORE_PREFIX, core.size())));
        for (GuestPhysBlock blk : dump.memory().blocks()) {
            for (long v : new long[] {blk.guestPaddrStart(), blk.guestPaddrEnd(), blk.fileOffset()}) {
                md.update(b.putLong(0, v).array());
            }
        }
        return md.digest();
    }

    static Path path(Path dir, KdumpCodec codec, byte[] key) {
        return dir.resolve("kdump-" + codec.codecName + "-" + HexFormat.of().formatHex(key, 0, 16) + ".idx");
    }

    /**
     * Reads the index at {@code file} and checks it against the key and the expected geometry.
     *
     * @return ABSENT when there is no file, UNREADABLE when it cannot be read, CORRUPT with the reason when any
     *         check fails
     */
    static Loaded read(Path file, byte[] key, int pageSize, int pageCount) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long expected = HEADER + 2L * pageCount + 4;
            if (ch.size() != expected) {
                return corrupt("size " + ch.size() + ", expected " + expected);
            }
            CRC32C crc = new CRC32C();
            ByteBuffer head = readFully(ch, 0, HEADER);
            crc.update(head.array());
            byte[] magic = Arrays.copyOf(head.array(), 8);
            if (!Arrays.equals(magic, MAGIC)) {
                return corrupt("bad magic");
            }
            if (head.getInt(8) != VERSION || head.getInt(12) != pageSize
                    || head.getInt(16) != KdumpIndex.CHUNK_PAGES) {
                return corrupt("version/page size/chunk size " + head.getInt(8) + "/" + head.getInt(12) + "/"
                        + head.getInt(16) + " do not match");
            }
            if (!Arrays.equals(Arrays.copyOfRange(head.array(), 24, 56), key)) {
                return corrupt("key does not match its name");
            }
            if (head.getLong(56) != pageCount) {
                return corrupt("page count " + head.getLong(56) + ", expected " + pageCount);
            }
            char[] sizes = new char[pageCount];
            long pos = HEADER;
            for (int i = 0; i < pageCount; ) {
                int n = Math.min(BATCH / 2, pageCount - i);
                ByteBuffer buf = readFully(ch, pos, 2 * n);
                crc.update(buf.array(), 0, 2 * n);
                for (int k = 0; k < n; k++) {
                    char s = buf.getChar(2 * k);
                    if (s > pageSize) {
                        return corrupt("page " + (i + k) + " has stored size " + (int) s);
                    }
                    sizes[i + k] = s;
                }
                pos += 2L * n;
                i += n;
            }
            int stored = readFully(ch, pos, 4).getInt(0);
            if (stored != (int) crc.getValue()) {
                return corrupt("checksum mismatch");
            }
            return new Loaded(Status.OK, new KdumpIndex(pageSize, sizes), null);
        } catch (NoSuchFileException e) {
            return new Loaded(Status.ABSENT, null, null);
        } catch (IOException e) {
            return new Loaded(Status.UNREADABLE, null, e.toString());
        }
    }

    private static Loaded corrupt(String why) {
        return new Loaded(Status.CORRUPT, null, why);
    }

    private static ByteBuffer readFully(FileChannel ch, long pos, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, pos + b.position()) < 0) {
                throw new IOException("ends early at " + (pos + b.position()));
            }
        }
        return b;
    }

    /**
     * Writes {@code index} to {@code file} atomically (a temporary file in the same directory, then a rename).
     * Creates the directory when missing.
     */
    static void write(Path file, byte[] key, KdumpIndex index) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp"); // mode 0600
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                CRC32C crc = new CRC32C();
                ByteBuffer head = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
                head.put(0, MAGIC).putInt(8, VERSION).putInt(12, index.pageSize())
                        .putInt(16, KdumpIndex.CHUNK_PAGES).put(24, key).putLong(56, index.pageCount());
                crc.update(head.array());
                writeFully(ch, head);
                char[] sizes = index.sizes();
                ByteBuffer buf = ByteBuffer.allocate(BATCH).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < sizes.length; ) {
                    int n = Math.min(BATCH / 2, sizes.length - i);
                    buf.clear();
                    buf.asCharBuffer().put(sizes, i, n);
                    buf.limit(2 * n);
                    crc.update(buf.array(), 0, 2 * n);
                    writeFully(ch, buf);
                    i += n;
                }
                ByteBuffer tail = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, (int) crc.getValue());
                writeFully(ch, tail);
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}

package io.vmdumpfs.core.elf;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.OptionalLong;
import java.util.zip.GZIPInputStream;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4FrameInputStream;
import net.jpountz.xxhash.XXHashFactory;
import org.tukaani.xz.SeekableFileInputStream;
import org.tukaani.xz.SeekableXZInputStream;
import org.tukaani.xz.XZInputStream;

/**
 * How a core file is compressed, recognised by its magic bytes, never by its name: systemd-coredump names its
 * files {@code core.qemu-system-x86.UID.BOOTID.PID.USEC.zst}, but a renamed or copied core keeps its content.
 *
 * <p>A new format is one constant here. Limits: each stream is read from the start to the end once (none of these
 * formats allows reading at random, see {@link CoreSource}); concatenated frames and streams are read as one, as the
 * command line tools do.
 */
public enum Compression {

    /** Not compressed (an ELF core, or anything we do not recognise: the core reader names the problem then). */
    NONE("plain", new byte[0], null),

    /** Zstandard frame, magic 28 b5 2f fd (RFC 8878 §3.1.1 Magic_Number 0xFD2FB528 little-endian). */
    ZSTD("zstd", new byte[] {0x28, (byte) 0xb5, 0x2f, (byte) 0xfd}, "zstd -d -k"),

    /** xz stream, magic fd 37 7a 58 5a 00 (xz file format 1.0.4 §2.1.1.1 Header Magic Bytes). */
    XZ("xz", new byte[] {(byte) 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00}, "xz -d -k"),

    /** LZ4 frame, magic 04 22 4d 18 (lz4 Frame format §General Structure, 0x184D2204 little-endian). */
    LZ4("lz4", new byte[] {0x04, 0x22, 0x4d, 0x18}, "lz4 -d"),

    /** gzip member, magic 1f 8b 08 (RFC 1952 §2.3.1 ID1 ID2 and CM = deflate): cores gzipped by hand. */
    GZIP("gzip", new byte[] {0x1f, (byte) 0x8b, 0x08}, "gunzip -k");

    /** Bytes {@link #detect} needs: the longest magic. */
    public static final int MAGIC_BYTES = 6;

    /** Formats we recognise but do not read, with the command that decompresses them. */
    private static final Object[][] UNSUPPORTED = {
        {new byte[] {0x42, 0x5a, 0x68}, "bzip2", "bunzip2 -k"},                   // "BZh"
        {new byte[] {0x02, 0x21, 0x4c, 0x18}, "legacy lz4 (lz4 -l)", "lz4 -d"},  // 0x184C2102 LE
        {new byte[] {0x5d, 0x00, 0x00}, "lzma (.lzma)", "unlzma -k"},             // LZMA_Alone props 0x5d
    };

    private final String displayName;
    private final byte[] magic;
    private final String decompressCommand;

    Compression(String displayName, byte[] magic, String decompressCommand) {
        this.displayName = displayName;
        this.magic = magic;
        this.decompressCommand = decompressCommand;
    }

    /** Returns the short name used in messages and cache keys: plain, zstd, xz, lz4, gzip. */
    public String displayName() {
        return displayName;
    }

    /** Returns the command an admin would run to decompress a file of this kind, for hints. */
    public String decompressCommand() {
        return decompressCommand;
    }

    /**
     * Returns the compression whose magic {@code head} starts with, or {@link #NONE}.
     *
     * @param head the first bytes of the file (up to {@link #MAGIC_BYTES} are looked at)
     * @param len  how many of them there are (a file shorter than the magic is plain)
     * @throws UnsupportedCompressionException for a compression we recognise but do not read (bzip2, legacy lz4)
     */
    public static Compression detect(byte[] head, int len) {
        for (Compression c : values()) {
            if (c != NONE && startsWith(head, len, c.magic)) {
                return c;
            }
        }
        for (Object[] u : UNSUPPORTED) {
            if (startsWith(head, len, (byte[]) u[0])) {
                throw new UnsupportedCompressionException((String) u[1], (String) u[2]);
            }
        }
        return NONE;
    }

    /** A compression we recognise but do not read; {@link CoreSource} turns it into a BadCoreException. */
    public static final class UnsupportedCompressionException extends RuntimeException {
        /** The format's name, e.g. "bzip2". */
        public final String format;
        /** The command that decompresses it, e.g. "bunzip2 -k". */
        public final String command;

        UnsupportedCompressionException(String format, String command) {
            super(format, null, false, false);
            this.format = format;
            this.command = command;
        }
    }

    private static boolean startsWith(byte[] head, int len, byte[] magic) {
        return len >= magic.length && Arrays.equals(head, 0, magic.length, magic, 0, magic.length);
    }

    /**
     * Returns the decompressed size when the file records it where it is cheap to read, else empty: a zstd frame's
     * Frame_Content_Size (one frame; a multi-frame file gives the first frame's, a lower bound), an LZ4 frame's
     * Content Size, the xz Index's total (read from the end of the file). gzip's ISIZE is modulo 2^32, useless for
     * cores, and systemd-coredump writes zstd and lz4 without a size (it streams), so "unknown" is common.
     *
     * @param head the first bytes of the file, at least 18 (the largest zstd frame header) when the file has them
     * @param len  how many of {@code head} are valid
     */
    OptionalLong contentSize(Path file, byte[] head, int len) {
        try {
            switch (this) {
                case ZSTD -> {
                    long n = Zstd.getFrameContentSize(head, 0, len);
                    return n >= 0 ? OptionalLong.of(n) : OptionalLong.empty();
                }
                case LZ4 -> {
                    // LZ4 Frame Descriptor: FLG at 4 (bit 3 = Content Size present), BD at 5, then 8 bytes LE.
                    if (len >= 14 && (head[4] & 0x08) != 0) {
                        long n = java.nio.ByteBuffer.wrap(head, 6, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
                        return n >= 0 ? OptionalLong.of(n) : OptionalLong.empty();
                    }
                    return OptionalLong.empty();
                }
                case XZ -> {
                    // Reads the Stream Footer and Index only: memory grows with the number of blocks, not the data.
                    try (SeekableXZInputStream in = new SeekableXZInputStream(new SeekableFileInputStream(file.toFile()))) {
                        return OptionalLong.of(in.length());
                    }
                }
                default -> {
                    return OptionalLong.empty();
                }
            }
        } catch (IOException | RuntimeException e) {
            // Damage shows when the stream is read, with a better position; the size is only for the space check.
            return OptionalLong.empty();
        }
    }

    /**
     * Returns a stream of the decompressed bytes of {@code raw}. Decoders that run on the untrusted file are the
     * bounds-checked ones: lz4-java's pure-Java safe decompressor (never its JNI or Unsafe ones), zstd's reference
     * decoder (zstd-jni), xz-java and the JDK's inflater.
     */
    InputStream open(InputStream raw) throws IOException {
        return switch (this) {
            case NONE -> raw;
            case ZSTD -> new ZstdInputStream(raw);
            case XZ -> new XZInputStream(raw);
            case LZ4 -> new LZ4FrameInputStream(raw, LZ4Factory.safeInstance().safeDecompressor(),
                    XXHashFactory.safeInstance().hash32(), false);
            case GZIP -> new GZIPInputStream(raw, 1 << 16);
        };
    }
}

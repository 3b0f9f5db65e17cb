package io.vmdumpfs.core.elf;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/**
 * The core file a user named, before the core reader opens it: plain (opened as it is, never copied) or compressed
 * with zstd, xz, lz4 or gzip (systemd-coredump's {@code .zst}, {@code .xz}, {@code .lz4}), recognised by its magic.
 *
 * <p>A compressed core cannot be opened directly: the reader needs random access (the ELF headers point all over
 * the file, and a FUSE read asks for any offset), and a zstd, lz4 or single-block xz stream can only be decoded from
 * its start. So it is decoded once ({@link #decode}) into a copy that {@link Copies} keeps (the cache module keeps
 * them between mounts) and the copy is opened instead ({@link #resolve}).
 *
 * <p>Immutable; each {@link #decode} is a new stream.
 */
public final class CoreSource {

    /** Where decompressed copies of compressed cores are made and kept. */
    @FunctionalInterface
    public interface Copies {
        /**
         * Returns a complete decompressed copy of {@code source} (compressed), making it from {@link #decode} if
         * there is none yet.
         *
         * @throws BadCoreException as {@link CoreSource#resolve} documents
         */
        Path copyOf(CoreSource source);
    }

    /** Bytes read to recognise the compression and, for zstd and lz4, its recorded size. */
    static final int HEAD = 64;

    private final Path path;
    private final Compression compression;
    private final byte[] head;
    private final int headLen;

    private CoreSource(Path path, Compression compression, byte[] head, int headLen) {
        this.path = path;
        this.compression = compression;
        this.head = head;
        this.headLen = headLen;
    }

    /**
     * Returns the source {@code given} names, looking at its first bytes. A file that cannot be opened or read, or is
     * not a regular file (a FIFO: reading would block or eat its bytes), counts as plain, so that the core reader
     * reports it in its usual words.
     *
     * @throws BadCoreException (UNSUPPORTED) for a compression we recognise but do not read (bzip2, legacy lz4,
     *                          lzma), naming the command that decompresses it
     */
    public static CoreSource of(Path given) {
        byte[] head = new byte[HEAD];
        if (!Files.isRegularFile(given)) {
            return new CoreSource(given, Compression.NONE, head, 0);
        }
        int len;
        try (InputStream in = Files.newInputStream(given)) {
            len = in.readNBytes(head, 0, head.length);
        } catch (IOException | UnsupportedOperationException e) {
            return new CoreSource(given, Compression.NONE, head, 0);
        }
        try {
            return new CoreSource(given, Compression.detect(head, len), head, len);
        } catch (Compression.UnsupportedCompressionException e) {
            throw new BadCoreException(Kind.UNSUPPORTED, given, "compressed with " + e.format
                    + ", which vmdumpfs does not read; decompress it first: " + e.command + " " + given);
        }
    }

    /** Returns true when {@code file} starts with the magic of a compression that {@link #resolve} decompresses. */
    public static boolean isCompressed(Path file) {
        try {
            return of(file).compression() != Compression.NONE;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Returns the file the user named. */
    public Path path() {
        return path;
    }

    public Compression compression() {
        return compression;
    }

    /**
     * Returns the file to open: {@link #path()} itself when plain, else the decompressed copy {@code copies} keeps.
     *
     * @throws BadCoreException CORRUPT when the compressed data is damaged or truncated; UNSUPPORTED for data that is
     *                          no ELF core once decompressed; IO when the copy cannot be made (the message says why)
     */
    public Path resolve(Copies copies) {
        return compression == Compression.NONE ? path : copies.copyOf(this);
    }

    /**
     * Returns the decompressed size when the file records it where it is cheap to read (see
     * {@link Compression#contentSize}), else empty.
     */
    public OptionalLong decompressedSize() {
        return compression.contentSize(path, head, headLen);
    }

    /**
     * Opens a decoding stream of the whole core, from its first byte.
     *
     * @throws BadCoreException IO if the file cannot be opened, CORRUPT if its stream header is damaged
     */
    public Decoder decode() {
        return new Decoder(this);
    }

    /**
     * The decompressed bytes of a source, read in order once. Errors come as one-line {@link BadCoreException}s that
     * tell damaged data (CORRUPT) from a failing read of the compressed file (IO); the first bytes must be an ELF
     * header (UNSUPPORTED otherwise). Not thread-safe.
     */
    public static final class Decoder implements Closeable {
        private final CoreSource source;
        private final CountingInputStream raw;
        private final InputStream in;
        private boolean first = true;

        private Decoder(CoreSource source) {
            this.source = source;
            try {
                this.raw = new CountingInputStream(new BufferedInputStream(Files.newInputStream(source.path), 1 << 18));
            } catch (IOException e) {
                throw new BadCoreException(Kind.IO, source.path, "cannot read: " + oneLine(e), e);
            }
            try {
                this.in = source.compression.open(raw); // reads the stream header
            } catch (IOException | RuntimeException e) {
                closeQuietly(raw);
                throw failure(e);
            }
        }

        /**
         * Fills {@code buf} with the next decompressed bytes; fewer than {@code buf.length} only at the end.
         *
         * @return bytes read, 0 at the end
         */
        public int read(byte[] buf) {
            int n;
            try {
                n = in.readNBytes(buf, 0, buf.length);
            } catch (IOException | RuntimeException e) {
                throw failure(e);
            }
            if (first && (n < 4 || buf[0] != 0x7f || buf[1] != 'E' || buf[2] != 'L' || buf[3] != 'F')) {
                throw new BadCoreException(Kind.UNSUPPORTED, source.path, "decompresses ("
                        + source.compression.displayName() + ") to data that is not an ELF core");
            }
            first = false;
            return n;
        }

        /** Returns how many compressed bytes the decoder consumed so far: the measure of progress. */
        public long compressedBytesRead() {
            return raw.count;
        }

        private BadCoreException failure(Throwable e) {
            if (e instanceof BadCoreException b) {
                return b;
            }
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof SourceReadException) {
                    return new BadCoreException(Kind.IO, source.path, "cannot read: " + oneLine(t), e);
                }
            }
            return new BadCoreException(Kind.CORRUPT, source.path, "damaged or truncated "
                    + source.compression.displayName() + " data (at compressed byte " + raw.count + "): " + oneLine(e), e);
        }

        @Override
        public void close() {
            closeQuietly(in);
            closeQuietly(raw);
        }

        private static void closeQuietly(Closeable c) {
            try {
                c.close();
            } catch (IOException ignored) {
                // a read-only stream: nothing is lost
            }
        }
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
    }

    /** Counts the compressed bytes the decoder consumed; tags read failures so they are not taken for damage. */
    private static final class CountingInputStream extends FilterInputStream {
        private long count;

        CountingInputStream(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b;
            try {
                b = super.read();
            } catch (IOException e) {
                throw new SourceReadException(e);
            }
            if (b >= 0) {
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n;
            try {
                n = super.read(b, off, len);
            } catch (IOException e) {
                throw new SourceReadException(e);
            }
            if (n > 0) {
                count += n;
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long s;
            try {
                s = super.skip(n);
            } catch (IOException e) {
                throw new SourceReadException(e);
            }
            count += s;
            return s;
        }
    }

    /** The operating system failed to read the compressed file (as opposed to its content being damaged). */
    private static final class SourceReadException extends IOException {
        SourceReadException(IOException cause) {
            super(cause.getMessage(), cause);
        }
    }
}

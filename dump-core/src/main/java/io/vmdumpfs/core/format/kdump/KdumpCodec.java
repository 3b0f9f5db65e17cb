package io.vmdumpfs.core.format.kdump;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import io.airlift.compress.lzo.LzoCompressor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.zip.Deflater;
import org.xerial.snappy.Snappy;

/**
 * The page compressions of makedumpfile's kdump-compressed format. {@link #flag} is both the disk_dump_header
 * {@code status} bit and the page_desc {@code flags} bit (makedumpfile diskdump_mod.h {@code DUMP_DH_COMPRESSED_*}).
 *
 * <p>Each codec compresses one page on its own, as makedumpfile and QEMU do, so crash can decompress any page alone:
 * <ul>
 *   <li>zlib: libdeflate when Debian's libdeflate0 is installed ({@link LibDeflate}: about three times as fast as
 *       zlib), else the JDK's {@link Deflater} at level 1 (QEMU's {@code compress2(..., Z_BEST_SPEED)}); both write the
 *       zlib wrapper; crash and makedumpfile call {@code uncompress()}. On an idle guest's pages (kernel text and
 *       data) libdeflate's level 1 is 4-5 % larger than zlib's level 1, its level 2 about 1 % smaller but a third
 *       slower; on random data level 2 is no smaller and half as fast, on text and repetitive data (a busy guest's
 *       page cache) no smaller and a quarter slower. So each page of a chunk takes level 2 when the page before it
 *       compressed, but to more than a quarter of its size (kernel-like), else level 1 ({@link #compressNext}).
 *       Measured on the test fixtures' pages: 0.6 % (pc 256 MiB) and 0.8 % (q35 3 GiB) smaller than zlib's level 1
 *       (QEMU's), a third of the pages at level 2; on random, text and repetitive pages as small and as fast as
 *       level 1.</li>
 *   <li>lzo: LZO1X-1 from aircompressor, a plain lzo1x stream (no lzop header) that crash and makedumpfile decode
 *       with {@code lzo1x_decompress_safe}.</li>
 *   <li>snappy: the raw snappy format (not the framing format), for {@code snappy_uncompress}.</li>
 *   <li>zstd: level 1, one frame per page with the content size, as {@code makedumpfile -z}; crash calls
 *       {@code ZSTD_decompressDCtx}.</li>
 * </ul>
 *
 * <p>Output must be deterministic: the persisted index stores only compressed sizes, and a chunk recompressed later
 * must come out byte for byte the same. {@link #fingerprint()} hashes the output for a fixed input so that an index
 * written by another library version is not reused.
 */
public enum KdumpCodec {
    /** makedumpfile {@code DUMP_DH_COMPRESSED_ZLIB}. */
    ZLIB("zlib", 0x1),
    /** makedumpfile {@code DUMP_DH_COMPRESSED_LZO}. */
    LZO("lzo", 0x2),
    /** makedumpfile {@code DUMP_DH_COMPRESSED_SNAPPY}. */
    SNAPPY("snappy", 0x4),
    /** makedumpfile {@code DUMP_DH_COMPRESSED_ZSTD}. */
    ZSTD("zstd", 0x20);

    /** The name used in file names: vmcore.kdump-{@code name}. */
    public final String codecName;
    /** The status / page_desc flags bit. */
    public final int flag;

    private volatile String fingerprint;

    KdumpCodec(String codecName, int flag) {
        this.codecName = codecName;
        this.flag = flag;
    }

    /** Returns the mounted file name, e.g. {@code vmcore.kdump-zlib}. */
    public String fileName() {
        return "vmcore.kdump-" + codecName;
    }

    /**
     * Compresses single pages. Not thread-safe: each thread uses its own (they hold native or table state).
     */
    public interface PageCompressor extends AutoCloseable {
        /**
         * Compresses {@code page[off, off + pageSize)} into {@code out} from index 0, as the first page of a chunk.
         *
         * @return the compressed length when it is smaller than the page, else -1 (the page is then stored raw)
         */
        int compress(byte[] page, int off, byte[] out);

        /** Starts a chunk: its pages follow through {@link #compressNext}, in page order. */
        default void startChunk() {
        }

        /**
         * Compresses the next page of the chunk, like {@link #compress}. A codec may choose its effort from the pages
         * before in the chunk (zlib does), so the same pages in the same order always give the same bytes, and a chunk
         * compressed again (a cache miss) gives what the index build gave.
         */
        default int compressNext(byte[] page, int off, byte[] out) {
            return compress(page, off, out);
        }

        /** Returns the size {@code out} must have. */
        int outSize();

        @Override
        void close();
    }

    /** Returns a new compressor for pages of {@code pageSize} bytes. */
    public PageCompressor newCompressor(int pageSize) {
        switch (this) {
            case ZLIB:
                return LibDeflate.INSTANCE != null ? new LibDeflateZlibCompressor(pageSize) : new ZlibCompressor(pageSize);
            case LZO:
                return new LzoPageCompressor(pageSize);
            case SNAPPY:
                return new SnappyCompressor(pageSize);
            case ZSTD:
                return new ZstdCompressor(pageSize);
            default:
                throw new AssertionError(this);
        }
    }

    /** Returns the codec whose file is named {@code vmcore.kdump-NAME}, or null. */
    public static KdumpCodec ofFileName(String fileName) {
        for (KdumpCodec c : values()) {
            if (c.fileName().equals(fileName)) {
                return c;
            }
        }
        return null;
    }

    /**
     * Returns a hex digest of this codec's output for a fixed 16 KiB test input (text, zeros, noise). Two library
     * versions that compress differently give different fingerprints, which keys the persisted index.
     */
    public String fingerprint() {
        String f = fingerprint;
        if (f == null) {
            int pageSize = 4096;
            byte[] sample = new byte[4 * pageSize];
            byte[] text = "VMCOREINFO OSRELEASE=6.1.0 PAGESIZE=4096 SYMBOL(init_uts_ns)=ffffffff\n"
                    .getBytes(StandardCharsets.US_ASCII);
            for (int i = 0; i < pageSize; i++) {
                sample[i] = text[i % text.length];
            }
            long x = 0x9E3779B97F4A7C15L; // page 2 left zero, page 3 pseudo-random
            for (int i = 3 * pageSize; i < sample.length; i++) {
                x ^= x << 13;
                x ^= x >>> 7;
                x ^= x << 17;
                sample[i] = (byte) x;
            }
            for (int i = pageSize; i < 2 * pageSize; i++) {
                sample[i] = (byte) (i / 64);
            }
            try (PageCompressor c = newCompressor(pageSize)) {
                MessageDigest md = MessageDigest.getInstance("SHA-256");
                md.update(c.toString().getBytes(StandardCharsets.UTF_8)); // the compressor and its rule, by name
                byte[] out = new byte[c.outSize()];
                c.startChunk();
                for (int p = 0; p < 4; p++) {
                    int n = c.compressNext(sample, p * pageSize, out);
                    md.update((byte) p);
                    if (n > 0) {
                        md.update(out, 0, n);
                    }
                }
                f = HexFormat.of().formatHex(md.digest(), 0, 8);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("SHA-256 is missing from the JDK", e);
            }
            fingerprint = f;
        }
        return f;
    }

    /**
     * zlib through libdeflate, its level chosen per page from the page before (see the class comment); its output is
     * a standard zlib stream, like compress2()'s.
     */
    private static final class LibDeflateZlibCompressor implements PageCompressor {
        /** Level 2 follows a page compressed to at least this fraction of its size (kernel-like). */
        static final int KERNEL_LIKE_DIVISOR = 4;

        private final jnr.ffi.Pointer fast = alloc(1);
        private final jnr.ffi.Pointer better = alloc(2);
        private final int pageSize;
        private boolean nextBetter = true;

        LibDeflateZlibCompressor(int pageSize) {
            this.pageSize = pageSize;
        }

        private static jnr.ffi.Pointer alloc(int level) {
            jnr.ffi.Pointer p = LibDeflate.INSTANCE.libdeflate_alloc_compressor(level);
            if (p == null) {
                throw new OutOfMemoryError("libdeflate_alloc_compressor failed");
            }
            return p;
        }

        @Override
        public int compress(byte[] page, int off, byte[] out) {
            return compress(better, page, off, out);
        }

        @Override
        public void startChunk() {
            nextBetter = true;
        }

        @Override
        public int compressNext(byte[] page, int off, byte[] out) {
            int n = compress(nextBetter ? better : fast, page, off, out);
            // random data: level 1 fails as surely and twice as fast; very compressible: level 1 packs it as well
            nextBetter = n > 0 && n * KERNEL_LIKE_DIVISOR >= pageSize;
            return n;
        }

        private int compress(jnr.ffi.Pointer compressor, byte[] page, int off, byte[] out) {
            byte[] in = off == 0 && page.length == pageSize ? page : java.util.Arrays.copyOfRange(page, off, off + pageSize);
            // Room for pageSize - 1 bytes only: libdeflate returns 0 when the result does not fit, i.e. is not smaller.
            long n = LibDeflate.INSTANCE.libdeflate_zlib_compress(compressor, in, pageSize, out, pageSize - 1);
            return n > 0 ? (int) n : -1;
        }

        @Override
        public int outSize() {
            return pageSize;
        }

        @Override
        public void close() {
            LibDeflate.INSTANCE.libdeflate_free_compressor(fast);
            LibDeflate.INSTANCE.libdeflate_free_compressor(better);
        }

        @Override
        public String toString() {
            return "libdeflate zlib, level 2 after a page compressed to 1/" + KERNEL_LIKE_DIVISOR + " or more, else 1";
        }
    }

    private static final class ZlibCompressor implements PageCompressor {
        private final Deflater deflater = new Deflater(1, false); // false = with zlib header, as compress2()
        private final int pageSize;

        @Override
        public String toString() {
            return "JDK zlib, level 1";
        }

        ZlibCompressor(int pageSize) {
            this.pageSize = pageSize;
        }

        @Override
        public int compress(byte[] page, int off, byte[] out) {
            deflater.reset();
            deflater.setInput(page, off, pageSize);
            deflater.finish();
            // Room for pageSize - 1 bytes only: if the stream is not finished by then it is not smaller.
            int n = 0;
            while (!deflater.finished() && n < pageSize - 1) {
                int k = deflater.deflate(out, n, pageSize - 1 - n);
                if (k == 0) {
                    break; // no progress with room left: cannot happen after finish(), but never spin
                }
                n += k;
            }
            return deflater.finished() ? n : -1;
        }

        @Override
        public int outSize() {
            return pageSize;
        }

        @Override
        public void close() {
            deflater.end();
        }
    }

    private static final class LzoPageCompressor implements PageCompressor {
        private final LzoCompressor lzo = new LzoCompressor();
        private final int pageSize;
        private final int outSize;

        LzoPageCompressor(int pageSize) {
            this.pageSize = pageSize;
            this.outSize = lzo.maxCompressedLength(pageSize);
        }

        @Override
        public int compress(byte[] page, int off, byte[] out) {
            int n = lzo.compress(page, off, pageSize, out, 0, outSize);
            return n < pageSize ? n : -1;
        }

        @Override
        public int outSize() {
            return outSize;
        }

        @Override
        public void close() {
        }

        @Override
        public String toString() {
            return "aircompressor LZO1X-1";
        }
    }

    private static final class SnappyCompressor implements PageCompressor {
        private final int pageSize;
        private final int outSize;

        SnappyCompressor(int pageSize) {
            this.pageSize = pageSize;
            this.outSize = Snappy.maxCompressedLength(pageSize);
        }

        @Override
        public int compress(byte[] page, int off, byte[] out) {
            try {
                int n = Snappy.compress(page, off, pageSize, out, 0);
                return n < pageSize ? n : -1;
            } catch (IOException e) {
                throw new UncheckedIOException("snappy failed on a page", e);
            }
        }

        @Override
        public int outSize() {
            return outSize;
        }

        @Override
        public void close() {
        }

        @Override
        public String toString() {
            return "snappy-java, raw format";
        }
    }

    private static final class ZstdCompressor implements PageCompressor {
        private final ZstdCompressCtx ctx = new ZstdCompressCtx().setLevel(1).setContentSize(true).setChecksum(false);
        private final int pageSize;
        private final int outSize;

        ZstdCompressor(int pageSize) {
            this.pageSize = pageSize;
            this.outSize = (int) Zstd.compressBound(pageSize);
        }

        @Override
        public int compress(byte[] page, int off, byte[] out) {
            int n = ctx.compressByteArray(out, 0, outSize, page, off, pageSize);
            return n < pageSize ? n : -1;
        }

        @Override
        public int outSize() {
            return outSize;
        }

        @Override
        public void close() {
            ctx.close();
        }

        @Override
        public String toString() {
            return "zstd-jni, level 1, with content size";
        }
    }
}

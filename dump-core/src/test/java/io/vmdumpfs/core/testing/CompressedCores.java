package io.vmdumpfs.core.testing;

import com.github.luben.zstd.ZstdOutputStream;
import io.vmdumpfs.core.elf.Compression;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.Random;
import java.util.zip.GZIPOutputStream;
import net.jpountz.lz4.LZ4FrameOutputStream;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.XZOutputStream;

/** Compressed cores for tests of {@link io.vmdumpfs.core.elf.CoreSource} and the cache module's copies of them. */
public final class CompressedCores {

    private CompressedCores() {
    }

    /**
     * Returns a fake ELF core of {@code blocks} 4 KiB blocks plus {@code tail} bytes: the ELF magic, then one block
     * in four random and the rest zero (as in a QEMU core, where untouched guest RAM is zero), a random tail.
     */
    public static byte[] fakeCore(int blocks, int tail) {
        byte[] b = new byte[blocks * 4096 + tail];
        Random r = new Random(42);
        for (int i = 0; i < blocks; i++) {
            if (i % 4 == 0) {
                byte[] blk = new byte[4096];
                r.nextBytes(blk);
                System.arraycopy(blk, 0, b, i * 4096, 4096);
            }
        }
        for (int i = blocks * 4096; i < b.length; i++) {
            b[i] = (byte) (r.nextInt(255) + 1);
        }
        b[0] = 0x7f;
        b[1] = 'E';
        b[2] = 'L';
        b[3] = 'F';
        return b;
    }

    /**
     * Compresses {@code data} as the command line tools and systemd-coredump do: streaming (no content size), with
     * the content checksum that zstd(1), lz4(1), xz and gzip write by default.
     */
    public static byte[] compress(Compression c, byte[] data) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (OutputStream out = switch (c) {
            case NONE -> bos;
            case ZSTD -> new ZstdOutputStream(bos).setChecksum(true);
            case XZ -> new XZOutputStream(bos, new LZMA2Options(1));
            case LZ4 -> new LZ4FrameOutputStream(bos, LZ4FrameOutputStream.BLOCKSIZE.SIZE_4MB,
                    LZ4FrameOutputStream.FLG.Bits.BLOCK_INDEPENDENCE, LZ4FrameOutputStream.FLG.Bits.CONTENT_CHECKSUM);
            case GZIP -> new GZIPOutputStream(bos);
        }) {
            out.write(data);
        }
        return bos.toByteArray();
    }
}

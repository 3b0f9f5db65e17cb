package io.vmdumpfs.core.elf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.github.luben.zstd.Zstd;
import io.vmdumpfs.core.testing.CompressedCores;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CompressionTest {

    static final Path FILE = Path.of("f");

    static Compression detect(String hex) {
        byte[] b = HexFormat.of().parseHex(hex);
        return Compression.detect(b, b.length);
    }

    @Test
    void detect_magics() {
        assertEquals(Compression.ZSTD, detect("28b52ffd0458"));
        assertEquals(Compression.XZ, detect("fd377a585a00"));
        assertEquals(Compression.LZ4, detect("04224d186440"));
        assertEquals(Compression.GZIP, detect("1f8b08000000"));
        assertEquals(Compression.NONE, detect("7f454c460201")); // ELF
    }

    @Test
    void detect_shortOrEmpty_isPlain() {
        assertEquals(Compression.NONE, detect(""));
        assertEquals(Compression.NONE, detect("28b52f"));   // zstd magic cut short
        assertEquals(Compression.NONE, detect("fd377a585a")); // xz magic without its 00
    }

    @Test
    void detect_unsupported_throws() {
        assertEquals("bzip2", assertThrows(Compression.UnsupportedCompressionException.class,
                () -> detect("425a68393141")).format);
        assertEquals("legacy lz4 (lz4 -l)", assertThrows(Compression.UnsupportedCompressionException.class,
                () -> detect("02214c18")).format);
    }

    @Test
    void contentSize_zstdWithSize_isRead() throws IOException {
        byte[] z = Zstd.compress(new byte[123_456]);
        assertEquals(OptionalLong.of(123_456), Compression.ZSTD.contentSize(FILE, z, Math.min(z.length, 64)));
    }

    @Test
    void contentSize_xz_isReadFromTheIndex(@TempDir Path tmp) throws IOException {
        byte[] data = CompressedCores.fakeCore(100, 5);
        Path f = Files.write(tmp.resolve("c.xz"), CompressedCores.compress(Compression.XZ, data));
        byte[] head = Files.readAllBytes(f);
        assertEquals(OptionalLong.of(data.length), Compression.XZ.contentSize(f, head, 64));
    }

    @Test
    void contentSize_streamedLz4_isUnknown() throws IOException {
        byte[] z = CompressedCores.compress(Compression.LZ4, new byte[1000]);
        assertEquals(OptionalLong.empty(), Compression.LZ4.contentSize(FILE, z, Math.min(z.length, 64)));
    }
}

package io.vmdumpfs.hardening;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * One writable copy of a fixture core that the corpus damages and repairs in place, so that 700 cases cost one
 * 700 MB copy instead of 700. The fixture itself is only ever opened for reading.
 *
 * <p>Byte edits remember the bytes they replace. A truncation at X is repaired by copying the fixture's bytes from X
 * back ({@code size - X} bytes, in the kernel: {@link FileChannel#transferTo}); a cut in the first half is instead
 * made as a fresh prefix copy of X bytes ({@link #prefixCopy}), whichever copies less.
 *
 * <p>Not thread-safe.
 */
final class WorkCopy implements AutoCloseable {

    private final Path original;
    private final Path copy;
    private final Path scratch;
    private final long size;
    private final List<Object[]> saved = new ArrayList<>();
    private boolean truncated;
    private Path prefix;

    WorkCopy(Path original, Path dir) throws IOException {
        this.original = original;
        this.copy = dir.resolve("work.core");
        this.scratch = dir;
        this.size = Files.size(original);
        copyRange(original, 0, copy, 0, size);
    }

    Path path() {
        return copy;
    }

    long size() {
        return size;
    }

    /** Overwrites {@code bytes} at {@code offset}; {@link #restore} puts the old ones back. */
    void put(long offset, byte[] bytes) {
        try (FileChannel ch = FileChannel.open(copy, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer old = ByteBuffer.allocate(bytes.length);
            ch.read(old, offset);
            saved.add(new Object[] {offset, old.array()});
            ch.write(ByteBuffer.wrap(bytes), offset);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Overwrites a little-endian value of {@code width} bytes at {@code offset}. */
    void putLe(long offset, int width, long value) {
        byte[] b = new byte[width];
        for (int i = 0; i < width; i++) {
            b[i] = (byte) (value >>> (8 * i));
        }
        put(offset, b);
    }

    /** XORs the byte at {@code offset} with {@code mask} (non-zero), returning the new byte. */
    byte flip(long offset, int mask) {
        byte b = read(offset, 1)[0];
        byte n = (byte) (b ^ mask);
        put(offset, new byte[] {n});
        return n;
    }

    byte[] read(long offset, int length) {
        try (FileChannel ch = FileChannel.open(copy, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(length);
            while (b.hasRemaining() && ch.read(b, offset + b.position()) > 0) {
                // fill
            }
            return b.array();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Returns a file holding the core cut at {@code length}: the work copy truncated, or a fresh prefix copy. */
    Path truncated(long length) {
        try {
            if (length < size / 2) {
                prefix = scratch.resolve("prefix.core");
                Files.deleteIfExists(prefix);
                copyRange(original, 0, prefix, 0, length);
                return prefix;
            }
            try (FileChannel ch = FileChannel.open(copy, StandardOpenOption.WRITE)) {
                ch.truncate(length);
            }
            truncated = true;
            return copy;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Undoes every change since the last restore. */
    void restore() {
        try {
            if (prefix != null) {
                Files.deleteIfExists(prefix);
                prefix = null;
            }
            if (truncated) {
                long cut = Files.size(copy);
                copyRange(original, cut, copy, cut, size - cut);
                truncated = false;
            }
            try (FileChannel ch = FileChannel.open(copy, StandardOpenOption.WRITE)) {
                for (int i = saved.size() - 1; i >= 0; i--) {
                    ch.write(ByteBuffer.wrap((byte[]) saved.get(i)[1]), (Long) saved.get(i)[0]);
                }
            }
            saved.clear();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Copies {@code length} bytes from {@code from}@{@code fromOffset} to {@code to}@{@code toOffset}, in the kernel. */
    static void copyRange(Path from, long fromOffset, Path to, long toOffset, long length) throws IOException {
        try (FileChannel in = FileChannel.open(from, StandardOpenOption.READ);
                FileChannel out = FileChannel.open(to, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            out.position(toOffset);
            long done = 0;
            while (done < length) {
                long n = in.transferTo(fromOffset + done, length - done, out);
                if (n <= 0) {
                    throw new IOException("copy of " + from + " stopped at " + (fromOffset + done));
                }
                done += n;
            }
        }
    }

    @Override
    public void close() throws IOException {
        Files.deleteIfExists(copy);
        if (prefix != null) {
            Files.deleteIfExists(prefix);
        }
    }
}

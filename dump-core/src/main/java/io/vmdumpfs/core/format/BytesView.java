package io.vmdumpfs.core.format;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * A small file held in memory, such as blocks.txt or vmcoreinfo. Keeps its own copy of the bytes; thread-safe.
 * Meant for files of kilobytes: the whole content lives on the heap for the life of the mount.
 */
public final class BytesView implements View {

    private final byte[] bytes;

    public BytesView(byte[] bytes) {
        this.bytes = bytes.clone();
    }

    /** Returns a view of {@code text} encoded as UTF-8. */
    public static BytesView ofText(String text) {
        return new BytesView(text.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public long size() {
        return bytes.length;
    }

    @Override
    public int read(long offset, ByteBuffer dst) {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset);
        }
        if (offset >= bytes.length) {
            return 0;
        }
        int n = (int) Math.min(dst.remaining(), bytes.length - offset);
        dst.put(bytes, (int) offset, n);
        return n;
    }
}

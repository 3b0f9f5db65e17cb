package io.vmdumpfs.fuse;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.View;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The mount's {@code status} file: one line per file, saying whether it is ready or how far its build is (kdump
 * indexes take a while on big guests; {@code stat} of such a file waits, this file shows why). Content is made
 * afresh on every call, so it is served with direct I/O (see {@link VirtualFile#changing()}).
 */
final class StatusView implements View {

    private final List<VirtualFile> files;

    StatusView(List<VirtualFile> files) {
        this.files = List.copyOf(files);
    }

    /** Returns the current status text. Never blocks: opening a view is cheap, only sizes wait for builds. */
    String text() {
        StringBuilder sb = new StringBuilder();
        for (VirtualFile f : files) {
            String line;
            try {
                line = f.view().buildStatus().orElse(f.name() + ": ready");
            } catch (BadCoreException e) {
                line = f.name() + ": failed: " + e.getMessage();
            }
            sb.append(line).append('\n');
        }
        return sb.toString();
    }

    @Override
    public long size() {
        return text().getBytes(StandardCharsets.UTF_8).length;
    }

    @Override
    public int read(long offset, ByteBuffer dst) {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset);
        }
        byte[] b = text().getBytes(StandardCharsets.UTF_8);
        if (offset >= b.length) {
            return 0;
        }
        int n = (int) Math.min(dst.remaining(), b.length - offset);
        dst.put(b, (int) offset, n);
        return n;
    }
}

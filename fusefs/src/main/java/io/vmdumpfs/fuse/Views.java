package io.vmdumpfs.fuse;

import io.vmdumpfs.core.format.View;
import java.nio.ByteBuffer;

/** Helpers over {@link View} shared by the FUSE adapter and {@code convert}. */
final class Views {

    private Views() {
    }

    /**
     * Fills {@code dst} with the view's bytes from {@code offset} on, looping over short reads, and returns the count;
     * less than {@code dst.remaining()} only at end of file. The FUSE adapter needs this: a short FUSE read means EOF
     * to the kernel, which would then shrink its idea of the file size.
     */
    static int readFully(View view, long offset, ByteBuffer dst) {
        int total = 0;
        while (dst.hasRemaining()) {
            int pos = dst.position();
            int got = view.read(offset + total, dst);
            if (got <= 0) {
                break;
            }
            // Views advance dst like FileChannel.read; pin the position in case one does not.
            dst.position(pos + got);
            total += got;
        }
        return total;
    }
}

package io.vmdumpfs.fuse;

import io.vmdumpfs.cache.CaffeineChunkCache;
import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.ChunkCache;
import io.vmdumpfs.core.format.NotePids;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.guest.RamCoverage;
import io.vmdumpfs.core.guest.Vcpus;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;

/**
 * The mount's {@code status} file: one line per file, saying whether it is ready or how far its build is (kdump
 * indexes take a while on big guests; {@code stat} of such a file waits, this file shows why). Content is made
 * afresh on every call, so it is served with direct I/O (see {@link VirtualFile#changing()}).
 */
final class StatusView implements View {

    private final List<VirtualFile> files;
    private final ChunkCache cache;
    private final String vcpus;
    private final String pids;
    private final String ram;

    StatusView(List<VirtualFile> files) {
        this(files, ChunkCache.NONE);
    }

    /** With a line about {@code cache} at the end, when it is a {@link CaffeineChunkCache}. */
    StatusView(List<VirtualFile> files, ChunkCache cache) {
        this(files, cache, null);
    }

    /**
     * With a first line about the vCPUs whose registers the dump files' notes carry, and whether those are exact
     * ({@link Vcpus#describe()}), when {@code vcpus} is not null.
     */
    StatusView(List<VirtualFile> files, ChunkCache cache, Vcpus vcpus) {
        this(files, cache, vcpus, null);
    }

    /**
     * With, after the vCPUs, a line about how much of the guest's RAM the core holds ({@link RamCoverage#summary}:
     * "RAM: complete: 256 MiB", or "RAM: partial: …" naming what is absent and why), when {@code ram} is not null.
     */
    StatusView(List<VirtualFile> files, ChunkCache cache, Vcpus vcpus, GuestMemory ram) {
        this(files, cache, vcpus, null, ram);
    }

    /**
     * With, after the vCPUs when there are any, a line saying what the NT_PRSTATUS notes carry as pr_pid
     * ({@link NotePids#describe()}: the running tasks' pids, or QEMU's cpu + 1 and why), when {@code pids} is not
     * null.
     */
    StatusView(List<VirtualFile> files, ChunkCache cache, Vcpus vcpus, NotePids pids, GuestMemory ram) {
        this.files = List.copyOf(files);
        this.cache = cache;
        this.vcpus = vcpus == null ? null : "vCPUs: " + vcpus.describe();
        this.pids = pids == null || vcpus == null || vcpus.list().isEmpty() ? null : "pr_pid: " + pids.describe();
        this.ram = ram == null ? null : "RAM: " + RamCoverage.summary(ram);
    }

    /** Returns the current status text. Never blocks: opening a view is cheap, only sizes wait for builds. */
    String text() {
        StringBuilder sb = new StringBuilder();
        if (vcpus != null) {
            sb.append(vcpus).append('\n');
        }
        if (pids != null) {
            sb.append(pids).append('\n');
        }
        if (ram != null) {
            sb.append(ram).append('\n');
        }
        for (VirtualFile f : files) {
            String line;
            try {
                line = f.view().buildStatus().orElse(f.name() + ": ready");
            } catch (BadCoreException e) {
                line = f.name() + ": failed: " + e.getMessage();
            }
            sb.append(line).append('\n');
        }
        if (cache instanceof CaffeineChunkCache c) {
            // what the kdump files' chunks take, and whether reads find them (a miss compresses a chunk again)
            sb.append(String.format(Locale.ROOT, "chunk cache: %.1f of %.1f MiB, %d hits, %d misses\n",
                    c.weightedBytes() / 1048576.0, c.maxBytes() / 1048576.0, c.hits(), c.misses()));
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

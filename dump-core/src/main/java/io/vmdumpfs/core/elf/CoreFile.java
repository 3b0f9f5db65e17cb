package io.vmdumpfs.core.elf;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * The core file, opened read-only. All reads are positional ({@link FileChannel#read(ByteBuffer, long)}), so any
 * number of threads may read at once without sharing a cursor, and the OS page cache does the caching.
 *
 * <p>The size is taken once at open: the core is treated as immutable. If it shrinks later, reads past the new end
 * fail with {@link Kind#IO} rather than returning short data.
 */
public final class CoreFile implements Closeable {

    private final Path path;
    private final FileChannel channel;
    private final long size;
    private final FileIdentity identity;
    private final CoreDescriptor descriptor;
    /** For {@link #readOnce}; off with -Dvmdumpfs.dropBehind=false (to compare). */
    private final DropBehind dropBehind;
    /** Found on first use; guarded by this object for the one scan, then only read. */
    private volatile DataRuns dataRuns;

    /** @param fileKey the file's (device, inode) at open, so that another descriptor can be checked to be this file */
    private CoreFile(Path path, FileChannel channel, long size, Object fileKey, FileIdentity identity) {
        this.path = path;
        this.channel = channel;
        this.size = size;
        this.identity = identity;
        boolean on = Boolean.parseBoolean(System.getProperty("vmdumpfs.dropBehind", "true"));
        this.descriptor = new CoreDescriptor(path, fileKey, size);
        this.dropBehind = on ? new DropBehind(descriptor) : null;
    }

    /**
     * Opens {@code path} read-only. Refuses directories, FIFOs and devices up front: opening a FIFO for reading
     * would block until a writer appears.
     */
    public static CoreFile open(Path path) {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(path, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new BadCoreException(Kind.IO, path, "no such file");
        } catch (AccessDeniedException e) {
            throw new BadCoreException(Kind.IO, path, "permission denied");
        } catch (IOException e) {
            throw new BadCoreException(Kind.IO, path, "cannot read: " + e.getMessage(), e);
        }
        if (attrs.isDirectory()) {
            throw new BadCoreException(Kind.IO, path, "is a directory, not a core file");
        }
        if (!attrs.isRegularFile()) {
            throw new BadCoreException(Kind.IO, path, "not a regular file (FIFO, socket or device); copy the core to a file first");
        }
        try {
            FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
            long size = ch.size();
            FileIdentity id;
            try {
                id = FileIdentity.of(path);
            } catch (BadCoreException e) {
                id = new FileIdentity(null, path.toAbsolutePath(), size, attrs.lastModifiedTime().toMillis() * 1_000_000);
            }
            // the size the reader relies on is the channel's, taken once: the identity must say the same
            return new CoreFile(path, ch, size, attrs.fileKey(),
                    new FileIdentity(id.dev(), id.ino(), size, id.mtimeNanos()));
        } catch (AccessDeniedException e) {
            throw new BadCoreException(Kind.IO, path, "permission denied");
        } catch (IOException e) {
            throw new BadCoreException(Kind.IO, path, "cannot open: " + e.getMessage(), e);
        }
    }

    public Path path() {
        return path;
    }

    /** Returns the file size as it was when opened. */
    public long size() {
        return size;
    }

    /**
     * Reads exactly {@code dst.remaining()} bytes at {@code fileOffset}.
     *
     * @throws BadCoreException (IO) if the file ends early or the read fails
     */
    public void readFully(long fileOffset, ByteBuffer dst) {
        long pos = fileOffset;
        try {
            while (dst.hasRemaining()) {
                int n = channel.read(dst, pos);
                if (n < 0) {
                    throw new BadCoreException(Kind.IO, path,
                            "ends at " + hex(pos) + " (expected data up to " + hex(fileOffset + dst.remaining() + (pos - fileOffset)) + "); was it truncated?");
                }
                pos += n;
            }
        } catch (IOException e) {
            throw new BadCoreException(Kind.IO, path, "read failed at offset " + hex(pos) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads like {@link #readFully}, for a reader whose data is cached elsewhere (vmcore.elf, in the FUSE page
     * cache): behind a sequential run of such reads the core's pages are dropped from the page cache
     * ({@link DropBehind} says why).
     */
    public void readOnce(long fileOffset, ByteBuffer dst) {
        int n = dst.remaining();
        readFully(fileOffset, dst);
        servedOnce(fileOffset, n);
    }

    /**
     * Notes that the core's bytes [{@code fileOffset}, {@code fileOffset + length}) were handed, without passing
     * through this object, to a reader whose data is cached elsewhere (the FUSE server splices them from its own
     * descriptor): {@link #readOnce}'s drop-behind, without the read.
     */
    public void servedOnce(long fileOffset, long length) {
        if (dropBehind != null) {
            dropBehind.onRead(fileOffset, length);
        }
    }

    /**
     * Returns the size the file has now (fstat), which is less than {@link #size()} if it was truncated since open.
     *
     * @throws BadCoreException (IO) if the file cannot be stat'ed
     */
    public long currentSize() {
        try {
            return channel.size();
        } catch (IOException e) {
            throw new BadCoreException(Kind.IO, path, "cannot stat: " + e.getMessage(), e);
        }
    }

    /**
     * Returns a native read-only descriptor of this very file, for a server that has the kernel move its bytes
     * (splice) instead of reading them, or -1 when there is none (no libc, no /proc, the path names another file now,
     * or closed). The first call opens it; do not close it, {@link #close()} does.
     */
    public int descriptor() {
        return descriptor.fd();
    }

    /** Returns a new little-endian buffer holding {@code length} bytes at {@code fileOffset}. */
    public ByteBuffer read(long fileOffset, int length) {
        ByteBuffer buf = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        readFully(fileOffset, buf);
        return buf.flip();
    }

    /**
     * Returns a read-only little-endian view of {@code length} bytes at {@code fileOffset}, mapped rather than read:
     * for scans of megabytes of the process's heap, which a read would copy twice (through a temporary direct
     * buffer) before the scan starts. The range must lie inside the file.
     *
     * @throws BadCoreException (IO) if the file cannot be mapped
     */
    public ByteBuffer map(long fileOffset, long length) {
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, fileOffset, length).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new BadCoreException(Kind.IO, path, "cannot map " + length + " bytes at offset " + hex(fileOffset)
                    + ": " + e.getMessage(), e);
        }
    }

    /** Returns the underlying channel, for zero-copy transfers. Do not change its position. */
    public FileChannel channel() {
        return channel;
    }

    /** Returns what identifies this file's content (device, inode, size, mtime), as it was at open. */
    public FileIdentity identity() {
        return identity;
    }

    /**
     * Returns where the file holds data and where holes (which read as zeros without I/O). Found on the first call
     * with lseek on the core's descriptor; without a descriptor, or on a file system that cannot tell, the whole
     * file counts as data.
     */
    public DataRuns dataRuns() {
        DataRuns r = dataRuns;
        if (r == null) {
            synchronized (this) {
                r = dataRuns;
                if (r == null) {
                    r = scanDataRuns();
                    dataRuns = r;
                }
            }
        }
        return r;
    }

    private DataRuns scanDataRuns() {
        if (descriptor.fd() < 0) {
            return DataRuns.whole(size);
        }
        try {
            return DataRuns.scan(descriptor::seek, size);
        } catch (IllegalStateException e) {
            return DataRuns.whole(size); // holes unknown: read everything, as before
        }
    }

    @Override
    public void close() throws IOException {
        if (dropBehind != null) {
            dropBehind.close();
        }
        descriptor.close();
        channel.close();
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}

package io.vmdumpfs.core.format;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.kernel.GuestKernel;
import java.nio.ByteBuffer;

/**
 * vmcore.elf: the guest's memory as the ELF vmcore QEMU's {@code dump-guest-memory} (paging=false) would write,
 * with the kernel-image and direct-map program headers of /proc/vmcore ({@link ElfLoads}), for crash, makedumpfile,
 * drgn, libkdumpfile and gdb. {@link ElfLayout} has the layout and why.
 *
 * <p>The header bytes (ELF header, program headers, notes: a few hundred bytes for a real guest) are built once at
 * construction; memory is read from the core on each call, straight into the caller's buffer, where {@link #spanAt}
 * says it lies (the one offset-to-core mapping, also used by servers that splice). A read may span the
 * header, any number of segments and the end of the file. Thread-safe: nothing changes after construction and every
 * read is positional.
 */
public final class ElfView implements View {

    private final CoreFile core;
    private final ElfLayout layout;

    /**
     * Builds the header for {@code dump}.
     *
     * @throws BadCoreException (UNSUPPORTED) if the guest is not ELF64 or has too many blocks for one header
     */
    public ElfView(GuestDump dump) {
        this.core = dump.core();
        try {
            this.layout = ElfLayout.of(dump.memory().blocks(), dump.platform(), DumpNotes.elf(dump),
                    ElfLoads.of(dump, GuestKernel.find(dump)));
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new BadCoreException(Kind.UNSUPPORTED, dump.core().path(), "cannot build vmcore.elf: "
                    + e.getMessage(), e);
        }
    }

    /** Returns the layout: offsets of the notes and of each block's data. */
    public ElfLayout layout() {
        return layout;
    }

    @Override
    public long size() {
        return layout.size();
    }

    @Override
    public int read(long offset, ByteBuffer dst) {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset);
        }
        long end = layout.size();
        long pos = offset;
        int copied = 0;
        while (dst.hasRemaining() && pos < end) {
            CoreSpan span = spanAt(pos, dst.remaining());
            int n = (int) span.length();
            if (span.inCore()) {
                int oldLimit = dst.limit();
                dst.limit(dst.position() + n);
                try {
                    // readOnce: the mount's page cache keeps these bytes as vmcore.elf's; a sequential reader need
                    // not keep the core's copy too.
                    core.readOnce(span.coreOffset(), dst);
                } finally {
                    dst.limit(oldLimit);
                }
            } else {
                layout.copyHeader((int) pos, n, dst);
            }
            pos += n;
            copied += n;
        }
        return copied;
    }

    /** Header bytes are made here; each segment's memory is one run of the core (its block's file data). */
    @Override
    public CoreSpan spanAt(long offset, long max) {
        if (offset < 0 || offset >= layout.size() || max < 1) {
            throw new IllegalArgumentException("no span at " + offset + " (+" + max + ") of " + layout.size());
        }
        long headerEnd = layout.memoryOffset();
        if (offset < headerEnd) {
            return CoreSpan.made(Math.min(max, headerEnd - offset));
        }
        int i = layout.segmentAt(offset);
        GuestPhysBlock block = layout.blocks().get(i);
        long within = offset - layout.segmentOffset(i);
        return new CoreSpan(block.fileOffset() + within, Math.min(max, block.size() - within));
    }
}

package io.vmdumpfs.core.format;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.kernel.GuestKernel;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * vmcore.elf: the guest's memory as the ELF vmcore QEMU's {@code dump-guest-memory} (paging=false) would write,
 * with the kernel-image and direct-map program headers of /proc/vmcore ({@link ElfLoads}), for crash, makedumpfile,
 * drgn, libkdumpfile and gdb. {@link ElfLayout} has the layout and why.
 *
 * <p>The header bytes (ELF header, program headers, notes: a few hundred bytes for a real guest) are built once, on
 * first use: the program headers depend on the guest kernel ({@link ElfLoads} reads its kallsyms and page tables,
 * a few hundred milliseconds in a fresh JVM) and the notes on the vCPUs ({@link DumpNotes}: a scan of QEMU's heap),
 * which a mount should not wait for before it returns; the first {@code stat} of the file does. Memory is read from the core on each call, straight into the caller's buffer,
 * where {@link #spanAt} says it lies (the one offset-to-core mapping, also used by servers that splice). A read may
 * span the header, any number of segments and the end of the file. Thread-safe: the layout is built once under a
 * lock and never changes; every read is positional.
 */
public final class ElfView implements View {

    private final GuestDump dump;
    private final CoreFile core;
    /** Where the notes' pids are shared with the dump's other files; null: computed for this view alone. */
    private final FormatContext ctx;
    private volatile ElfLayout layout;

    /**
     * Checks that {@code dump} fits an ELF vmcore; the header is built on first use.
     *
     * @throws BadCoreException (UNSUPPORTED) if the guest is not ELF64 or has too many blocks for one header
     */
    public ElfView(GuestDump dump) {
        this(dump, null);
    }

    /**
     * Checks that {@code dump} fits an ELF vmcore; the header is built on first use, with what the dump's files share
     * in {@code ctx} ({@link NotePids}).
     *
     * @throws BadCoreException (UNSUPPORTED) if the guest is not ELF64 or has too many blocks for one header
     */
    public ElfView(GuestDump dump, FormatContext ctx) {
        this.dump = dump;
        this.core = dump.core();
        this.ctx = ctx;
        // What cannot be served fails here, at open: the same layout with a placeholder for the notes (a few KiB
        // at most) and the physical program headers.
        layout(dump, ElfLayout.placeholderNote(dump.platform().byteOrder()), ElfLoads.physicalOnly(
                dump.memory().blocks()));
    }

    private static ElfLayout layout(GuestDump dump, byte[] notes, List<LoadSegment> loads) {
        try {
            return ElfLayout.of(dump.memory().blocks(), dump.platform(), notes, loads);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new BadCoreException(Kind.UNSUPPORTED, dump.core().path(), "cannot build vmcore.elf: "
                    + e.getMessage(), e);
        }
    }

    /** Returns the layout: program headers, offsets of the notes and of each block's data. Built on first call. */
    public ElfLayout layout() {
        ElfLayout l = layout;
        if (l == null) {
            synchronized (this) {
                l = layout;
                if (l == null) {
                    l = withKernel();
                    layout = l;
                }
            }
        }
        return l;
    }

    /** Returns the layout with the notes and the kernel's program headers. */
    private ElfLayout withKernel() {
        NotePids pids = ctx == null ? NotePids.of(dump) : NotePids.shared(dump, ctx);
        return layout(dump, DumpNotes.elf(dump, pids),
                ElfLoads.of(dump, ctx == null ? GuestKernel.find(dump) : ctx.findKernel(dump)));
    }

    @Override
    public long size() {
        return layout().size();
    }

    @Override
    public int read(long offset, ByteBuffer dst) {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset);
        }
        ElfLayout layout = layout();
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
        ElfLayout layout = layout();
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

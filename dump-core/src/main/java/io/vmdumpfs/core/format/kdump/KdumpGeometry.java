package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.ElfNotes;
import io.vmdumpfs.core.format.ElfClass;
import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.VmcoreInfo;
import io.vmdumpfs.core.kernel.GuestKernel;
import io.vmdumpfs.core.kernel.KernelAddressException;
import io.vmdumpfs.core.kernel.KernelUnavailableException;
import io.vmdumpfs.core.kernel.Utsname;
import java.nio.ByteOrder;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Everything of a kdump-compressed file that does not depend on compressed sizes: the header blocks, the bitmaps
 * and the offset of the page descriptors ({@link KdumpLayout} places what follows them). Cheap to build (no page is
 * read), so a mount can list the file before its index exists.
 *
 * <p>File layout (makedumpfile IMPLEMENTATION, QEMU dump.c {@code create_kdump_vmcore()}), P = block size = page size:
 * <pre>
 * 0                       disk_dump_header
 * P                       kdump_sub_header (104 bytes; 80 for ELF32), then the ELF notes
 * (1 + sub_hdr_size) P    1st bitmap: pages that exist (RAM)
 *   + bitmap_blocks P / 2 2nd bitmap: pages dumped; equal to the 1st unless a dump level leaves pages out
 * (1 + sub_hdr_size + bitmap_blocks) P
 *                         page descriptors, 24 bytes per dumped page
 * + 24 N                  the shared zero page (P raw zero bytes, QEMU's pd_zero)
 * + P                     data of the stored pages, in pfn order
 * </pre>
 *
 * <p>Every header field is in the guest's byte order, and the header layout is the one QEMU picks by the dump's ELF
 * class ({@link ElfClass}: {@code create_header32} or {@code create_header64}); readers (crash, libkdumpfile) try
 * both layouts and both orders. Blocks are the guest's pages (4 KiB to 64 KiB, its VMCOREINFO PAGESIZE), where
 * QEMU 7.2 writes TARGET_PAGE_SIZE: 64 KiB for a 4 KiB-page arm64 guest (the arm target's largest page), which
 * readers then decompress as 4 KiB pages and fail.
 *
 * <p>Immutable and thread-safe.
 */
final class KdumpGeometry {

    private static final System.Logger LOG = System.getLogger(KdumpGeometry.class.getName());

    /** makedumpfile's header_version with max_mapnr_64 in the sub-header. */
    static final int HEADER_VERSION = 6;

    private final DumpedPages pages;
    private final KdumpCodec codec;
    private final ByteOrder order;
    private final ElfClass elfClass;
    private final int blockSize;
    /** The header as laid out, with an empty utsname: the real one comes with {@link #content}. */
    private final DiskDumpHeader layoutHeader;
    private final KdumpSubHeader subHeader;
    /** The notes the layout was computed with: the real ones have the same length and VMCOREINFO offset. */
    private final byte[] layoutNotes;
    private final Supplier<HeadContent> content;
    private final long offsetBitmap1;
    private final long bitmapLen;
    private final long offsetDesc;
    /** The header blocks, made on their first read (guarded by this). */
    private byte[] headBlocks;
    private DiskDumpHeader header;

    /**
     * What the header blocks hold that costs reading the guest kernel (its utsname; the notes' pids, from its run
     * queues): made on the first read of those blocks, so a file's size and index never wait for it.
     *
     * @param notes the ELF note section; as long as the notes the layout was computed with, VMCOREINFO at the same
     *              offset (only pr_pid values differ)
     */
    record HeadContent(Utsname utsname, byte[] notes) {
    }

    private KdumpGeometry(DumpedPages pages, KdumpCodec codec, ByteOrder order, ElfClass elfClass,
            DiskDumpHeader layoutHeader, KdumpSubHeader subHeader, byte[] layoutNotes, Supplier<HeadContent> content) {
        this.pages = pages;
        this.codec = codec;
        this.order = order;
        this.elfClass = elfClass;
        this.blockSize = layoutHeader.blockSize();
        this.layoutHeader = layoutHeader;
        this.subHeader = subHeader;
        this.layoutNotes = layoutNotes;
        this.content = content;
        this.offsetBitmap1 = (long) (1 + layoutHeader.subHdrSize()) * blockSize;
        this.bitmapLen = (long) layoutHeader.bitmapBlocks() / 2 * blockSize;
        this.offsetDesc = offsetBitmap1 + 2 * bitmapLen;
    }

    /** Returns the header blocks (disk_dump_header, sub-header, notes), made on first use. */
    private synchronized byte[] headBlocks() {
        if (headBlocks == null) {
            HeadContent c = content.get();
            byte[] notes = c.notes();
            if (notes.length != layoutNotes.length || !java.util.Arrays.equals(findVmcoreinfoDesc(notes, order),
                    findVmcoreinfoDesc(layoutNotes, order))) {
                throw new IllegalStateException("the notes changed their layout: " + layoutNotes.length + " -> "
                        + notes.length + " bytes");
            }
            DiskDumpHeader h = new DiskDumpHeader(layoutHeader.headerVersion(), c.utsname(),
                    layoutHeader.timestampSec(), layoutHeader.status(), layoutHeader.blockSize(),
                    layoutHeader.subHdrSize(), layoutHeader.bitmapBlocks(), layoutHeader.maxMapnr(),
                    layoutHeader.nrCpus());
            byte[] blocks = new byte[Math.toIntExact(offsetBitmap1)];
            byte[] hb = h.toBytes(order, elfClass);
            System.arraycopy(hb, 0, blocks, 0, hb.length);
            byte[] sh = subHeader.toBytes(order, elfClass);
            System.arraycopy(sh, 0, blocks, blockSize, sh.length);
            System.arraycopy(notes, 0, blocks, blockSize + sh.length, notes.length);
            header = h;
            headBlocks = blocks;
        }
        return headBlocks;
    }

    /**
     * Computes the geometry of {@code dump}'s kdump file.
     *
     * @param pages        the pages present, made for this dump's page size
     * @param notes        the ELF note section to embed (VMCOREINFO among them), shared with vmcore.elf
     * @param timestampSec disk_dump_header.timestamp.tv_sec
     * @throws BadCoreException (MISSING) if the guest has no RAM, (UNSUPPORTED) for page sizes the index cannot hold
     */
    static KdumpGeometry of(GuestDump dump, DumpedPages pages, KdumpCodec codec, byte[] notes, long timestampSec) {
        return of(dump, pages, codec, notes, () -> new HeadContent(utsname(dump, GuestKernel.find(dump)), notes),
                timestampSec, DumpLevel.NONE);
    }

    /**
     * Computes the geometry of {@code dump}'s kdump file of dump level {@code level}, which the sub-header's
     * dump_level says. Level 0 (nothing left out) is what our unfiltered files hold; QEMU writes 1 for the same
     * content, which makedumpfile's level 1 (zero pages as one shared page, still in bitmap 2) also is, apart from
     * what makedumpfile leaves out past the kernel's memory map.
     */
    static KdumpGeometry of(GuestDump dump, DumpedPages pages, KdumpCodec codec, byte[] notes,
            Supplier<HeadContent> content, long timestampSec, DumpLevel level) {
        int pageSize = dump.platform().pageSize();
        if (pageSize > KdumpIndex.MAX_PAGE_SIZE) {
            throw new BadCoreException(Kind.UNSUPPORTED, dump.core().path(),
                    "page size " + pageSize + " is too large for kdump files (at most " + KdumpIndex.MAX_PAGE_SIZE + ")");
        }
        if (pages.pageCount() == 0) {
            throw new BadCoreException(Kind.MISSING, dump.core().path(), "no guest RAM to put into a kdump file");
        }
        long maxMapnr = pages.maxMapnr();
        // QEMU dump.c: len_dump_bitmap = DIV_ROUND_UP(DIV_ROUND_UP(max_mapnr, 8), page size) pages, twice
        long bitmapBlocks = 2 * ((((maxMapnr + 7) >>> 3) + pageSize - 1) / pageSize);
        if (bitmapBlocks > Integer.MAX_VALUE) {
            throw new BadCoreException(Kind.UNSUPPORTED, dump.core().path(),
                    "guest-physical addresses up to pfn 0x" + Long.toHexString(maxMapnr) + " need a bitmap too large for a kdump header");
        }
        // makedumpfile write_kdump_header(): sub_hdr_size = divideup(sizeof(kh) + size_note, block_size), and the
        // notes follow the sub-header directly
        ElfClass elfClass = ElfClass.of(dump.platform(), dump.memory().blocks());
        int subSize = KdumpSubHeader.size(elfClass);
        int subHdrSize = (subSize + notes.length + pageSize - 1) / pageSize;
        long offsetNote = pageSize + subSize;
        long[] vmcoreinfo = findVmcoreinfoDesc(notes, dump.platform().byteOrder());
        long offsetVmcoreinfo = vmcoreinfo == null ? 0 : offsetNote + vmcoreinfo[0];
        long sizeVmcoreinfo = vmcoreinfo == null ? 0 : vmcoreinfo[1];

        VmcoreInfo info = dump.vmcoreinfo().orElse(null);
        // phys_base exists on x86_64 only (the relocatable kernel's load offset); other kernels have none, and a
        // NUMBER(phys_base) in their VMCOREINFO would contradict the platform. The kernel prints it in decimal
        // (%ld); QEMU 7.2 parsed it as hex.
        long physBase = info == null || dump.platform().arch() != GuestArch.X86_64 ? 0 : info.physBase().orElse(0);
        // QEMU: the number of vCPUs on its list; 1 when we found none (crash warns about nr_cpus <= 0).
        int nrCpus = Math.max(1, dump.vcpus().count().orElse(1));

        DiskDumpHeader header = new DiskDumpHeader(HEADER_VERSION, new Utsname("", "", "", "", "", ""), timestampSec,
                codec.flag, pageSize, subHdrSize, (int) bitmapBlocks, (int) Math.min(maxMapnr, 0xFFFF_FFFFL), nrCpus);
        KdumpSubHeader sub = new KdumpSubHeader(physBase, level.bits(), offsetVmcoreinfo, sizeVmcoreinfo,
                notes.length == 0 ? 0 : offsetNote, notes.length, maxMapnr);
        return new KdumpGeometry(pages, codec, dump.platform().byteOrder(), elfClass, header, sub, notes, content);
    }

    /**
     * Returns the header's utsname: the guest's {@code init_uts_ns.name}, read through its page tables as makedumpfile
     * reads it. QEMU is wrong here: its kdump header holds only machine (dump.c create_header64), and libkdumpfile,
     * so drgn, then refuses the file ("KDUMP_ATTR_ARCH_NAME: Key has no value"). When the kernel cannot be read,
     * what VMCOREINFO says: sysname "Linux" (only Linux writes VMCOREINFO), release OSRELEASE, machine from the
     * platform; the rest empty rather than invented.
     */
    static Utsname utsname(GuestDump dump, Optional<GuestKernel> kernel) {
        if (kernel.isPresent()) {
            try {
                return kernel.get().utsname();
            } catch (KernelUnavailableException | KernelAddressException e) {
                LOG.log(System.Logger.Level.INFO, dump.core().path() + ": kdump header without the guest's utsname: "
                        + e.getMessage());
            } catch (RuntimeException e) {
                // a fault in reading the kernel must not cost the user the file; VMCOREINFO's fields still hold
                LOG.log(System.Logger.Level.WARNING, dump.core().path() + ": kdump header without the guest's utsname",
                        e);
            }
        }
        // Architectures without a page-table walker yet: the kernel image is mapped linearly, read through that.
        Optional<Utsname> image = Utsname.fromImage(dump);
        if (image.isPresent()) {
            return image.get();
        }
        VmcoreInfo info = dump.vmcoreinfo().orElse(null);
        String release = info == null || info.osRelease() == null ? "" : info.osRelease();
        return new Utsname(info == null ? "" : "Linux", "", release, "", dump.platform().utsMachine(), "");
    }

    /**
     * Returns {offset, size} of the VMCOREINFO note's descriptor within {@code notes}, or null. Reads the notes in
     * order and stops at the first malformed one.
     */
    static long[] findVmcoreinfoDesc(byte[] notes, ByteOrder order) {
        return ElfNotes.read(notes, order).named(VmcoreInfo.NOTE_NAME)
                .map(n -> new long[] {n.descOffset(), n.desc().length}).orElse(null);
    }

    DumpedPages pages() {
        return pages;
    }

    KdumpCodec codec() {
        return codec;
    }

    ByteOrder order() {
        return order;
    }

    /** Returns the class whose header layout the file has. */
    ElfClass elfClass() {
        return elfClass;
    }

    int blockSize() {
        return blockSize;
    }

    /** Returns the header as written (its utsname read on first use). */
    synchronized DiskDumpHeader header() {
        headBlocks();
        return header;
    }

    KdumpSubHeader subHeader() {
        return subHeader;
    }

    long offsetBitmap1() {
        return offsetBitmap1;
    }

    /** Returns the length of one bitmap in bytes. */
    long bitmapLen() {
        return bitmapLen;
    }

    /** Returns the offset of the first page descriptor; everything before it is metadata. */
    long offsetDesc() {
        return offsetDesc;
    }

    /** Returns whether metadata bytes {@code [offset, offset + len)} reach into the second bitmap. */
    boolean touchesBitmap2(long offset, long len) {
        return offset + len > offsetBitmap1 + bitmapLen && offset < offsetDesc;
    }

    /**
     * Copies metadata bytes {@code [offset, offset + len)} into {@code dst[off...]}; the range must end at or before
     * {@link #offsetDesc()}. The second bitmap shows {@code dumped}, which may be null when the range does not
     * reach it.
     */
    void readMeta(long offset, byte[] dst, int off, int len, PageSet dumped) {
        while (len > 0) {
            int n;
            if (offset < offsetBitmap1) {
                n = (int) Math.min(len, offsetBitmap1 - offset);
                System.arraycopy(headBlocks(), (int) offset, dst, off, n);
            } else if (offset < offsetBitmap1 + bitmapLen) {
                long within = offset - offsetBitmap1;
                n = (int) Math.min(len, bitmapLen - within);
                pages.fillBitmap(within, dst, off, n);
            } else {
                long within = offset - offsetBitmap1 - bitmapLen;
                n = (int) Math.min(len, bitmapLen - within);
                pages.fillBitmap(within, dst, off, n, dumped);
            }
            offset += n;
            off += n;
            len -= n;
        }
    }
}

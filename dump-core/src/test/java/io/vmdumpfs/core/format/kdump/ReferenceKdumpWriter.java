package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Writes a whole kdump-compressed file in one sequential pass, the way QEMU's {@code create_kdump_vmcore()} does:
 * headers, both bitmaps, then descriptors and data page by page. Independent of the view's code (its own page walk,
 * field offsets and bitmap), sharing only the page compressors (restarted every {@link KdumpIndex#CHUNK_PAGES} pages,
 * as their choices may depend on the pages before in a chunk), so a view read can be compared with a slice of it.
 * For small synthetic guests: everything is in memory.
 *
 * <p>Byte order and header layout are the guest's: the platform's order, and QEMU's 32-bit layout (452-byte header,
 * 80-byte sub-header, i386's 4-byte alignment) for an i386 guest whose blocks all end at or below UINT_MAX
 * (QEMU's ELFCLASS32), the 64-bit one otherwise.
 */
final class ReferenceKdumpWriter {

    private ReferenceKdumpWriter() {
    }

    static byte[] write(GuestDump dump, KdumpCodec codec, byte[] notes, long timestampSec) {
        int p = dump.platform().pageSize();
        ByteOrder order = dump.platform().byteOrder();
        boolean h32 = dump.platform().arch() == GuestArch.I386
                && dump.memory().blocks().stream().allMatch(b -> Long.compareUnsigned(b.guestPaddrEnd(), 0xffffffffL) <= 0);
        int subSize = h32 ? 80 : 104;
        // dumped pfns, in order, each once
        List<Long> pfns = new ArrayList<>();
        for (GuestPhysBlock b : dump.memory().blocks()) {
            for (long pfn = b.guestPaddrStart() / p; pfn * p < b.guestPaddrEnd(); pfn++) {
                if (pfns.isEmpty() || pfns.get(pfns.size() - 1) < pfn) {
                    pfns.add(pfn);
                }
            }
        }
        long maxMapnr = pfns.get(pfns.size() - 1) + 1;
        int lenBitmap = (int) (((maxMapnr + 7) / 8 + p - 1) / p * p);
        int subHdrBlocks = (subSize + notes.length + p - 1) / p;
        int bitmapOffset = (1 + subHdrBlocks) * p;
        int descOffset = bitmapOffset + 2 * lenBitmap;
        long zeroPage = descOffset + 24L * pfns.size();

        ByteBuffer head = ByteBuffer.allocate(descOffset).order(order);
        head.put(0, "KDUMP   ".getBytes(StandardCharsets.US_ASCII));
        head.putInt(8, 6);
        String release = dump.vmcoreinfo().map(v -> v.osRelease()).orElse("");
        if (dump.vmcoreinfo().isPresent()) {
            head.put(12, "Linux".getBytes(StandardCharsets.US_ASCII));
            head.put(12 + 2 * 65, release.getBytes(StandardCharsets.US_ASCII));
        }
        head.put(12 + 4 * 65, dump.platform().utsMachine().getBytes(StandardCharsets.US_ASCII));
        // disk_dump_header after utsname (which ends at 402): i386 aligns timeval to 4, 64-bit targets to 8.
        int t = h32 ? 404 : 408;
        if (h32) {
            head.putInt(t, (int) timestampSec);
        } else {
            head.putLong(t, timestampSec);
        }
        int st = h32 ? 412 : 424;
        head.putInt(st, codec.flag);
        head.putInt(st + 4, p);
        head.putInt(st + 8, subHdrBlocks);
        head.putInt(st + 12, 2 * lenBitmap / p);
        head.putInt(st + 16, (int) maxMapnr);
        head.putInt(st + 36, Math.max(1, dump.vcpus().count().orElse(1)));
        // sub-header: x86_64 alone has a phys_base
        long physBase = dump.platform().arch() != GuestArch.X86_64 ? 0 : dump.vmcoreinfo().flatMap(v -> {
            String s = v.get("NUMBER(phys_base)");
            return s == null ? Optional.<Long>empty() : Optional.of(Long.parseLong(s.trim()));
        }).orElse(0L);
        long noteOff = p + subSize;
        long[] vmci = findNote(notes, "VMCOREINFO", order);
        if (h32) {
            head.putInt(p, (int) physBase);
            if (vmci != null) {
                head.putLong(p + 20, noteOff + vmci[0]);
                head.putInt(p + 28, (int) vmci[1]);
            }
            head.putLong(p + 32, noteOff);
            head.putInt(p + 40, notes.length);
            head.putLong(p + 72, maxMapnr);
        } else {
            head.putLong(p, physBase);
            head.putInt(p + 8, 0);
            if (vmci != null) {
                head.putLong(p + 32, noteOff + vmci[0]);
                head.putLong(p + 40, vmci[1]);
            }
            head.putLong(p + 48, noteOff);
            head.putLong(p + 56, notes.length);
            head.putLong(p + 96, maxMapnr);
        }
        head.put((int) noteOff, notes);
        for (long pfn : pfns) {
            for (int bm = 0; bm < 2; bm++) {
                int at = bitmapOffset + bm * lenBitmap + (int) (pfn / 8);
                head.put(at, (byte) (head.get(at) | (1 << (pfn % 8))));
            }
        }

        ByteBuffer desc = ByteBuffer.allocate(24 * pfns.size()).order(order);
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        data.write(new byte[p], 0, p); // the shared zero page
        byte[] page = new byte[p];
        try (KdumpCodec.PageCompressor c = codec.newCompressor(p)) {
            byte[] out = new byte[c.outSize()];
            for (int i = 0; i < pfns.size(); i++) {
                long pfn = pfns.get(i);
                if (i % KdumpIndex.CHUNK_PAGES == 0) {
                    c.startChunk(); // the codec's choices depend on the pages before in the same chunk
                }
                pageAt(dump, pfn * p, page);
                if (Arrays.equals(page, new byte[p])) {
                    desc.putLong(zeroPage).putInt(p).putInt(0).putLong(0);
                    continue;
                }
                long off = zeroPage + data.size();
                int n = c.compressNext(page, 0, out);
                if (n > 0) {
                    desc.putLong(off).putInt(n).putInt(codec.flag).putLong(0);
                    data.write(out, 0, n);
                } else {
                    desc.putLong(off).putInt(p).putInt(0).putLong(0);
                    data.write(page, 0, p);
                }
            }
        }
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.write(head.array(), 0, head.capacity());
        all.write(desc.array(), 0, desc.capacity());
        all.writeBytes(data.toByteArray());
        return all.toByteArray();
    }

    /** The guest's page at {@code paddr}: bytes in some block, zero elsewhere. */
    static void pageAt(GuestDump dump, long paddr, byte[] page) {
        Arrays.fill(page, (byte) 0);
        for (GuestPhysBlock b : dump.memory().blocks()) {
            long from = Math.max(paddr, b.guestPaddrStart());
            long to = Math.min(paddr + page.length, b.guestPaddrEnd());
            if (from < to) {
                dump.memory().read(from, ByteBuffer.wrap(page, (int) (from - paddr), (int) (to - from)));
            }
        }
    }

    private static long[] findNote(byte[] notes, String name, ByteOrder order) {
        ByteBuffer b = ByteBuffer.wrap(notes).order(order);
        for (int pos = 0; pos + 12 <= notes.length; ) {
            int namesz = b.getInt(pos);
            int descsz = b.getInt(pos + 4);
            String n = new String(notes, pos + 12, Math.max(0, namesz - 1), StandardCharsets.US_ASCII);
            int descOff = pos + 12 + (namesz + 3) / 4 * 4;
            if (n.equals(name)) {
                return new long[] {descOff, descsz};
            }
            pos = descOff + (descsz + 3) / 4 * 4;
        }
        return null;
    }
}

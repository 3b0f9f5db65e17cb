package io.vmdumpfs.core.format.kdump;

import io.vmdumpfs.core.format.ElfClass;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A small kdump-compressed reader for tests, written from makedumpfile's IMPLEMENTATION and crash's diskdump.c
 * rather than from our writer: it finds the bitmaps at (1 + sub_hdr_size) blocks, takes the 2nd bitmap when
 * bitmap_blocks covers two (crash {@code dump_is_partial()}), counts set bits to find a page's descriptor (crash
 * {@code pfn_to_pos()}) and decompresses by the descriptor's flags.
 */
final class KdumpReader {

    final byte[] file;
    final ByteBuffer buf;
    final DiskDumpHeader header;
    final KdumpSubHeader sub;
    final int blockSize;
    final long maxMapnr;
    final long bitmapLen;
    final int bitmap1;
    final int bitmap2;
    final int descOffset;

    KdumpReader(byte[] file) {
        this(file, ByteOrder.LITTLE_ENDIAN, ElfClass.ELF64);
    }

    /** Reads a file whose fields are in {@code order}, its headers laid out for class {@code cls}. */
    KdumpReader(byte[] file, ByteOrder order, ElfClass cls) {
        this.file = file;
        this.buf = ByteBuffer.wrap(file).order(order);
        this.header = DiskDumpHeader.parse(buf, cls);
        this.blockSize = header.blockSize();
        this.sub = KdumpSubHeader.parse(buf.slice(blockSize, KdumpSubHeader.size(cls)).order(order), cls);
        this.maxMapnr = header.headerVersion() >= 6 ? sub.maxMapnr64() : Integer.toUnsignedLong(header.maxMapnr());
        this.bitmapLen = (long) header.bitmapBlocks() * blockSize / 2;
        this.bitmap1 = (1 + header.subHdrSize()) * blockSize;
        this.bitmap2 = (int) (bitmap1 + bitmapLen);
        this.descOffset = (1 + header.subHdrSize() + header.bitmapBlocks()) * blockSize;
    }

    boolean inBitmap1(long pfn) {
        return (file[bitmap1 + (int) (pfn >>> 3)] & (1 << (pfn & 7))) != 0;
    }

    boolean inBitmap2(long pfn) {
        return (file[bitmap2 + (int) (pfn >>> 3)] & (1 << (pfn & 7))) != 0;
    }

    /** Returns the descriptor index of {@code pfn}: the number of dumped pages before it. */
    int descIndex(long pfn) {
        int n = 0;
        for (long p = 0; p < pfn; p++) {
            if (inBitmap2(p)) {
                n++;
            }
        }
        return n;
    }

    PageDesc desc(int index) {
        return PageDesc.parse(buf, descOffset + index * PageDesc.SIZE);
    }

    /** Returns the page's bytes, decompressed, checking sizes as crash's cache_page() does. */
    byte[] page(PageDesc pd) {
        if (pd.size() > blockSize || pd.size() <= 0) {
            throw new AssertionError("page_desc size " + pd.size());
        }
        byte[] stored = new byte[pd.size()];
        System.arraycopy(file, (int) pd.offset(), stored, 0, pd.size());
        return KdumpWalker.decompress(pd, stored, blockSize);
    }
}

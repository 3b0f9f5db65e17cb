package io.vmdumpfs.core.format.kdump;

import com.github.luben.zstd.Zstd;
import io.airlift.compress.lzo.LzoDecompressor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.xerial.snappy.Snappy;

/**
 * Reads a kdump-compressed file front to back in one pass and hands every dumped page to a visitor in page frame
 * order, decompressed: for files too big for {@link KdumpReader}, which holds the whole file and counts bits for each
 * page. Written, like it, from makedumpfile's IMPLEMENTATION and crash's diskdump.c, not from our writer: the bitmaps
 * at (1 + sub_hdr_size) blocks, the second one when bitmap_blocks covers two, one page descriptor per set bit of the
 * second, in order, each giving its page data's offset, size and compression.
 *
 * <p>Descriptors and page data are read in large sequential blocks through {@link Source}, so a generated file
 * (a {@code KdumpView}) is produced once, in order. Pages several descriptors share (the zero page) are decompressed
 * once more at most.
 */
final class KdumpWalker {

    /** Random access to the file: {@code View.read} or a file channel's positional read. */
    @FunctionalInterface
    interface Source {
        /** Copies bytes at {@code offset} into {@code dst}; returns how many (0 at the end). */
        int read(long offset, ByteBuffer dst);
    }

    /** One dumped page. {@code bytes} may be shared with other pages: do not change it. */
    record Page(long pfn, byte[] bytes, boolean zero, PageDesc desc) {
    }

    @FunctionalInterface
    interface Visitor {
        void page(Page page);
    }

    /** What the walk found: the header, how many pages each bitmap has, how many bytes of page data were read. */
    record Summary(DiskDumpHeader header, KdumpSubHeader sub, long maxMapnr, long present, long dumped,
            long dataBytes) {
    }

    private static final int DESC_BATCH = 1 << 16;
    private static final int WINDOW = 8 << 20;

    private final Source src;
    private final ByteOrder order;
    private long windowStart = -1;
    private final ByteBuffer window = ByteBuffer.allocate(WINDOW);
    private long dataBytes;
    /**
     * Pages whose data an earlier descriptor already pointed at (the shared zero page): kept by descriptor, so that
     * the window does not jump back to them.
     */
    private final Map<PageDesc, Page> shared = new HashMap<>();
    private static final int SHARED_MAX = 64;
    /** The highest page data offset seen so far. */
    private long highest = -1;

    private KdumpWalker(Source src, ByteOrder order) {
        this.src = src;
        this.order = order;
    }

    /** Walks the file, calling {@code visitor} for each dumped page in pfn order. */
    static Summary walk(Source src, ByteOrder order, Visitor visitor) {
        return new KdumpWalker(src, order).run(visitor);
    }

    private Summary run(Visitor visitor) {
        ByteBuffer head = readExactly(0, DiskDumpHeader.SIZE);
        DiskDumpHeader header = DiskDumpHeader.parse(head);
        int bs = header.blockSize();
        if (bs < 512 || Integer.bitCount(bs) != 1) {
            throw new AssertionError("block_size " + bs);
        }
        KdumpSubHeader sub = KdumpSubHeader.parse(readExactly(bs, KdumpSubHeader.SIZE));
        long maxMapnr = header.headerVersion() >= 6 ? sub.maxMapnr64() : Integer.toUnsignedLong(header.maxMapnr());
        long bitmapLen = (long) header.bitmapBlocks() * bs / 2;
        if (bitmapLen * 8 < maxMapnr) {
            throw new AssertionError("bitmaps of " + bitmapLen + " bytes for max_mapnr " + maxMapnr);
        }
        long bitmap1At = (long) (1 + header.subHdrSize()) * bs;
        byte[] bitmap1 = new byte[Math.toIntExact(bitmapLen)];
        byte[] bitmap2 = new byte[Math.toIntExact(bitmapLen)];
        readExactly(bitmap1At, bitmap1.length).get(bitmap1);
        readExactly(bitmap1At + bitmapLen, bitmap2.length).get(bitmap2);
        long descAt = (long) (1 + header.subHdrSize() + header.bitmapBlocks()) * bs;

        long present = 0;
        long dumped = 0;
        ByteBuffer descs = null;
        long batchFirst = 0;
        for (long pfn = 0; pfn < maxMapnr; pfn++) {
            boolean in1 = (bitmap1[(int) (pfn >>> 3)] & 1 << (pfn & 7)) != 0;
            boolean in2 = (bitmap2[(int) (pfn >>> 3)] & 1 << (pfn & 7)) != 0;
            if (in2 && !in1) {
                throw new AssertionError("pfn 0x" + Long.toHexString(pfn) + " dumped but not present");
            }
            if (in1) {
                present++;
            }
            if (!in2) {
                continue;
            }
            if (descs == null || dumped - batchFirst >= DESC_BATCH) {
                batchFirst = dumped;
                descs = readExactly(descAt + dumped * PageDesc.SIZE, DESC_BATCH * PageDesc.SIZE, true);
            }
            int at = (int) (dumped - batchFirst) * PageDesc.SIZE;
            if (at + PageDesc.SIZE > descs.limit()) {
                throw new AssertionError("file ends inside the descriptor of pfn 0x" + Long.toHexString(pfn));
            }
            PageDesc pd = PageDesc.parse(descs, at);
            dumped++;
            Page p = shared.get(pd);
            if (p == null) {
                byte[] bytes = decompress(pd, stored(pd), bs);
                p = new Page(pfn, bytes, isZero(bytes), pd);
                if (pd.offset() <= highest && shared.size() < SHARED_MAX) {
                    shared.put(pd, p);
                }
                highest = Math.max(highest, pd.offset());
            }
            visitor.page(p.pfn() == pfn ? p : new Page(pfn, p.bytes(), p.zero(), pd));
        }
        return new Summary(header, sub, maxMapnr, present, dumped, dataBytes);
    }

    /** Returns the stored bytes of {@code pd}'s page, through the window. */
    private byte[] stored(PageDesc pd) {
        if (pd.size() <= 0 || pd.size() > WINDOW) {
            throw new AssertionError("page_desc size " + pd.size());
        }
        if (windowStart < 0 || pd.offset() < windowStart || pd.offset() + pd.size() > windowStart + window.limit()) {
            windowStart = pd.offset();
            fill(window, windowStart);
            dataBytes += window.limit();
            if (window.limit() < pd.size()) {
                throw new AssertionError("file ends inside the page data at " + pd.offset());
            }
        }
        byte[] b = new byte[pd.size()];
        window.get((int) (pd.offset() - windowStart), b);
        return b;
    }

    private ByteBuffer readExactly(long offset, int n) {
        return readExactly(offset, n, false);
    }

    /** Reads {@code n} bytes at {@code offset} (fewer at the end of the file when {@code upToEnd}). */
    private ByteBuffer readExactly(long offset, int n, boolean upToEnd) {
        ByteBuffer b = ByteBuffer.allocate(n);
        fill(b, offset);
        if (!upToEnd && b.limit() != n) {
            throw new AssertionError("file ends at " + (offset + b.limit()) + ", before " + (offset + n));
        }
        return b;
    }

    /** Fills {@code b} from {@code offset} up to its capacity or the end of the file; flips it, in our byte order. */
    private void fill(ByteBuffer b, long offset) {
        b.clear();
        for (int r; b.hasRemaining() && (r = src.read(offset + b.position(), b)) > 0; ) {
            // read on
        }
        b.flip();
        b.order(order);
    }

    static boolean isZero(byte[] page) {
        for (byte x : page) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    /** Returns the page's bytes, decompressed by its descriptor's flags, checking sizes as crash's cache_page() does. */
    static byte[] decompress(PageDesc pd, byte[] stored, int blockSize) {
        if (pd.size() > blockSize || pd.size() <= 0) {
            throw new AssertionError("page_desc size " + pd.size());
        }
        byte[] out = new byte[blockSize];
        int n;
        try {
            if ((pd.flags() & KdumpCodec.ZLIB.flag) != 0) {
                Inflater inf = new Inflater(false);
                inf.setInput(stored);
                n = inf.inflate(out);
                boolean finished = inf.finished();
                inf.end();
                if (!finished) {
                    throw new AssertionError("zlib stream not finished");
                }
            } else if ((pd.flags() & KdumpCodec.LZO.flag) != 0) {
                n = new LzoDecompressor().decompress(stored, 0, stored.length, out, 0, out.length);
            } else if ((pd.flags() & KdumpCodec.SNAPPY.flag) != 0) {
                n = Snappy.uncompress(stored, 0, stored.length, out, 0);
            } else if ((pd.flags() & KdumpCodec.ZSTD.flag) != 0) {
                n = (int) Zstd.decompressByteArray(out, 0, out.length, stored, 0, stored.length);
            } else {
                if (pd.size() != blockSize) {
                    throw new AssertionError("raw page of " + pd.size() + " bytes");
                }
                return stored;
            }
        } catch (DataFormatException e) {
            throw new AssertionError("zlib: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (n != blockSize) {
            throw new AssertionError("page decompressed to " + n + " bytes");
        }
        return out;
    }
}

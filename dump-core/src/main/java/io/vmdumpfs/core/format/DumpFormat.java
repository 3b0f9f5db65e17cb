package io.vmdumpfs.core.format;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.format.kdump.KdumpCodec;
import io.vmdumpfs.core.format.kdump.KdumpView;
import io.vmdumpfs.core.guest.BlocksText;
import io.vmdumpfs.core.guest.GuestDump;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * The files in the mount, in listing order: one constant per file. Adding a format is one View class plus one line
 * here: its file name, when it exists, and how to open it.
 *
 * <p>{@link #open} builds what the format needs up front (the ELF header, the text of the small files); expensive
 * formats defer their work to the first read and use the {@link FormatContext}'s cache.
 */
public enum DumpFormat {

    ELF("vmcore.elf", dump -> true, (dump, ctx) -> new ElfView(dump, ctx)),
    KDUMP_ZLIB("vmcore.kdump-zlib", dump -> true, (dump, ctx) -> KdumpView.open(dump, ctx, KdumpCodec.ZLIB)),
    KDUMP_LZO("vmcore.kdump-lzo", dump -> true, (dump, ctx) -> KdumpView.open(dump, ctx, KdumpCodec.LZO)),
    KDUMP_SNAPPY("vmcore.kdump-snappy", dump -> true, (dump, ctx) -> KdumpView.open(dump, ctx, KdumpCodec.SNAPPY)),
    KDUMP_ZSTD("vmcore.kdump-zstd", dump -> true, (dump, ctx) -> KdumpView.open(dump, ctx, KdumpCodec.ZSTD)),
    BLOCKS("blocks.txt", dump -> true,
            (dump, ctx) -> BytesView.ofText(BlocksText.render(dump.memory(), true))),
    VMCOREINFO("vmcoreinfo", dump -> dump.vmcoreinfo().isPresent(),
            (dump, ctx) -> new BytesView(dump.vmcoreinfo().orElseThrow().textBytes()));

    /** How a format builds its view. */
    @FunctionalInterface
    private interface Opener {
        View open(GuestDump dump, FormatContext ctx);
    }

    private final String fileName;
    private final Predicate<GuestDump> available;
    private final Opener opener;

    DumpFormat(String fileName, Predicate<GuestDump> available, Opener opener) {
        this.fileName = fileName;
        this.available = available;
        this.opener = opener;
    }

    /** Returns the file's name in the mount, e.g. "vmcore.elf". */
    public String fileName() {
        return fileName;
    }

    /** Returns true when this file exists for {@code dump} (vmcoreinfo only when VMCOREINFO was found). */
    public boolean availableFor(GuestDump dump) {
        return available.test(dump);
    }

    /**
     * Returns the view of this file for {@code dump}.
     *
     * @throws BadCoreException (MISSING) if the format is not {@link #availableFor available} for the dump, or
     *                          whatever the format's view throws while opening
     */
    public View open(GuestDump dump, FormatContext ctx) {
        if (!availableFor(dump)) {
            throw new BadCoreException(Kind.MISSING, dump.core().path(), fileName + " is not available for this core");
        }
        return opener.open(dump, ctx);
    }

    /** Returns the format whose file is called {@code fileName}, if any. */
    public static Optional<DumpFormat> byFileName(String fileName) {
        for (DumpFormat f : values()) {
            if (f.fileName.equals(fileName)) {
                return Optional.of(f);
            }
        }
        return Optional.empty();
    }
}

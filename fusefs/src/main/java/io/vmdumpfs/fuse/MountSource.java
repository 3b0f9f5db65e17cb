package io.vmdumpfs.fuse;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.FormatContext;
import io.vmdumpfs.core.format.NotePids;
import io.vmdumpfs.core.format.kdump.KdumpView;
import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What a mount shows, without FUSE: the opened guest and one {@link VirtualFile} per {@link DumpFormat} that is
 * available for it, in the enum's order. Views open on first use (see {@link VirtualFile}).
 */
final class MountSource implements Closeable {

    private final GuestDump dump;
    private final List<VirtualFile> files;
    private final FileTime coreMtime;

    /** The name of the file that shows each file's build progress ({@link StatusView}). */
    static final String STATUS = "status";

    private MountSource(GuestDump dump, List<VirtualFile> files, FileTime coreMtime) {
        this.dump = dump;
        this.files = files;
        this.coreMtime = coreMtime;
    }

    /**
     * Opens {@code core} (with the block table from {@code blocksFile} when given) and lists its files.
     *
     * @param shownAs the core as the user named it (a compressed core's original, when {@code core} is its
     *                decompressed copy): its mtime becomes the files' mtime
     * @throws BadCoreException if the core or the block file cannot be used
     */
    static MountSource open(Path core, Path shownAs, Optional<Path> blocksFile, FormatContext ctx) {
        GuestDump dump = GuestDumps.open(core, blocksFile);
        try {
            // a dump level the guest cannot honour fails the mount, not the first read of a kdump file
            KdumpView.requireDumpLevel(dump, ctx);
            FileTime mtime = Files.getLastModifiedTime(Files.exists(shownAs) ? shownAs : core);
            List<VirtualFile> files = new ArrayList<>();
            for (DumpFormat f : DumpFormat.values()) {
                if (f.availableFor(dump)) {
                    files.add(new VirtualFile(f.fileName(), () -> f.open(dump, ctx)));
                }
            }
            List<VirtualFile> formats = List.copyOf(files);
            files.add(new VirtualFile(STATUS, () -> new StatusView(formats, ctx.cache(), dump.vcpus(),
                    NotePids.shared(dump, ctx), dump.memory()), true));
            return new MountSource(dump, List.copyOf(files), mtime);
        } catch (IOException e) {
            closeQuietly(dump);
            throw new BadCoreException(BadCoreException.Kind.IO, core, "cannot stat: " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            closeQuietly(dump);
            throw e;
        }
    }

    GuestDump dump() {
        return dump;
    }

    List<VirtualFile> files() {
        return files;
    }

    FileTime coreMtime() {
        return coreMtime;
    }

    long coreBytes() {
        return dump.core().size();
    }

    @Override
    public void close() throws IOException {
        dump.close();
    }

    private static void closeQuietly(GuestDump dump) {
        try {
            dump.close();
        } catch (IOException ignored) {
            // reporting the first error matters more
        }
    }
}

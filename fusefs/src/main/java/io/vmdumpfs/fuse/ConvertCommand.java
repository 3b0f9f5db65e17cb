package io.vmdumpfs.fuse;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.DumpFormat;
import io.vmdumpfs.core.format.View;
import io.vmdumpfs.core.format.kdump.DumpLevel;
import io.vmdumpfs.core.guest.GuestDump;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code vmdumpfs convert CORE --format FORMAT -o FILE}: writes one of the mount's files to disk without FUSE, the
 * same bytes a {@code cp} from the mount would give. Works for every {@link DumpFormat}: it only streams
 * {@link View#read}. The file appears under its name only when complete (written beside it, then renamed).
 */
@Command(name = "convert", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Writes one of the files vmdumpfs would show for CORE (e.g. vmcore.elf) to FILE, with a "
                + "progress bar on a terminal.")
final class ConvertCommand implements Callable<Integer>, Main.HasDebug {

    /** Bytes per read: large enough that per-call costs vanish, small enough to stay in the CPU caches' reach. */
    private static final int BUFFER_BYTES = 1 << 20;

    @Mixin
    CoreOptions input;


    @Option(names = {"-F", "--format"}, required = true, paramLabel = "FORMAT",
            description = "the file to write, by name (vmcore.elf) or format (ELF)")
    String format;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE", description = "where to write; - for stdout")
    String output;


    @Option(names = "--cache-size", paramLabel = "SIZE", description = "chunk cache bound, e.g. 512M")
    String cacheSize;

    @Option(names = "--no-progress", description = "no progress bar (there is none unless stderr is a terminal)")
    boolean noProgress;

    @Option(names = "--dump-level", paramLabel = "N", description = "for kdump files: leave pages out as "
            + "makedumpfile -d N does (0-31: 1 zero, 2 cache, 4 private cache, 8 user data, 16 free pages; "
            + "default 0: every page)")
    String dumpLevel;


    private final PrintStream out;

    ConvertCommand(PrintStream out) {
        this.out = out;
    }

    @Override
    public boolean debug() {
        return input.debug;
    }

    @Override
    public Integer call() throws IOException {
        DumpFormat f = format(format);
        DumpLevel level = dumpLevel == null ? DumpLevel.NONE : MountOptions.parseDumpLevel("--dump-level", dumpLevel);
        if (level.filters() && !f.fileName().startsWith("vmcore.kdump-")) {
            throw new CliException("--dump-level is for kdump files; " + f.fileName() + " has every page");
        }
        OptionalLong cacheBytes = cacheSize == null ? OptionalLong.empty()
                : OptionalLong.of(MountOptions.parseSize("--cache-size", cacheSize));
        // The launcher's heap is a default mount's; this cache over this core may need another.
        Restart.unlessHeapFits(JvmOptions.heapMib(cacheBytes, input.core));
        try (GuestDump dump = input.open(false)) {
            View view = f.open(dump, Caches.context(cacheBytes, level));
            if (output.equals("-")) {
                out.flush();
                copy(view, new FileOutputStream(FileDescriptor.out).getChannel(), f.fileName());
                return 0;
            }
            Path target = Path.of(output).toAbsolutePath();
            if (Files.isDirectory(target)) {
                target = target.resolve(f.fileName());
            }
            if (Files.exists(target) && !Files.isRegularFile(target)) {
                // A device or FIFO (-o /dev/null, a pipe): written in place. The rename below would replace the
                // device node itself with a regular file.
                try (FileChannel ch = FileChannel.open(target, StandardOpenOption.WRITE)) {
                    copy(view, ch, f.fileName());
                } catch (IOException e) {
                    throw new CliException("cannot write " + target + ": " + e.getMessage(), e);
                }
                return 0;
            }
            Path partial = target.resolveSibling("." + target.getFileName() + ".partial");
            boolean done = false;
            try {
                try (FileChannel ch = FileChannel.open(partial, StandardOpenOption.CREATE,
                        StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                    copy(view, ch, f.fileName());
                }
                Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                done = true;
            } catch (IOException e) {
                throw new CliException("cannot write " + target + ": " + e.getMessage(), e);
            } finally {
                if (!done) {
                    Files.deleteIfExists(partial);
                }
            }
        }
        return 0;
    }

    /** Streams the whole view into {@code ch}. */
    private void copy(View view, WritableByteChannel ch, String name) throws IOException {
        long size = view.size();
        ByteBuffer buf = ByteBuffer.allocateDirect(BUFFER_BYTES);
        boolean bar = !noProgress && System.console() != null;
        try (ProgressBar pb = bar ? progressBar(name, size) : null) {
            long off = 0;
            while (off < size) {
                buf.clear();
                if (size - off < buf.capacity()) {
                    buf.limit((int) (size - off));
                }
                int n = Views.readFully(view, off, buf);
                if (n == 0) {
                    throw new BadCoreException(BadCoreException.Kind.CORRUPT, input.core,
                            name + " ends at " + off + " bytes, before its size " + size);
                }
                buf.flip();
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                off += n;
                if (pb != null) {
                    pb.stepTo(off);
                }
            }
        }
    }

    private ProgressBar progressBar(String name, long size) {
        return new ProgressBarBuilder().setTaskName(name).setInitialMax(size).setUnit("MiB", 1 << 20)
                .setStyle(ProgressBarStyle.ASCII).showSpeed().setUpdateIntervalMillis(250).build();
    }

    /**
     * Returns the format named {@code name}: a file name ("vmcore.elf") or an enum constant, case-insensitive, with
     * '-' for '_' ("kdump-zlib").
     *
     * @throws CliException listing the known names otherwise
     */
    static DumpFormat format(String name) {
        Optional<DumpFormat> byFile = DumpFormat.byFileName(name);
        if (byFile.isPresent()) {
            return byFile.get();
        }
        String constant = name.toUpperCase(Locale.ROOT).replace('-', '_').replace('.', '_');
        for (DumpFormat f : DumpFormat.values()) {
            if (f.name().equals(constant)) {
                return f;
            }
        }
        List<String> known = new ArrayList<>();
        for (DumpFormat f : DumpFormat.values()) {
            known.add(f.fileName() + " (" + f.name().toLowerCase(Locale.ROOT).replace('_', '-') + ")");
        }
        throw new CliException("unknown format '" + name + "'; known: " + String.join(", ", known));
    }
}

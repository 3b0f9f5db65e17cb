package io.vmdumpfs.fuse;

import io.vmdumpfs.cache.CaffeineChunkCache;
import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.elf.CoreFile;
import io.vmdumpfs.core.elf.DataRuns;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The options every vmdumpfs JVM runs with, and the heap a mount needs: the one place both are written. The shell
 * launchers compute nothing. {@code vmdumpfs --print-jvm-options} writes {@link #fileText} into an options file next
 * to the jar once per build (./vmdumpfs) or install (scripts/install.sh); launch.sh passes the lines its java accepts,
 * the heap among them that of a default mount on this machine, and names them in {@value #ENV}. A mount or conversion
 * whose heap differs restarts its JVM with its own ({@link Restart}); a background child gets its own
 * ({@link Background}).
 */
final class JvmOptions {

    /** Environment: the options the launcher passed from the options file, separated by spaces. */
    static final String ENV = "VMDUMPFS_JVM_OPTIONS";

    /** One option, and the Java feature version it needs (older ones refuse to start with it). */
    record Option(int sinceJava, String text) {
    }

    /**
     * Every vmdumpfs JVM's options, besides the heap. Why each: SerialGC starts fastest and suits a heap that is mostly
     * the chunk cache; -XX:-UsePerfData skips the hsperfdata file; TieredStopAtLevel=1 (C1 only) cuts a quarter of the
     * CPU time of a short run and makes a mount ready ~0.15 s sooner (of ~0.8 s on two cores, where C2 competes with
     * start-up). The serving JVM keeps it: its compression is native code except LZO (aircompressor), which C2 runs
     * ~25% faster (convert of a busy 3 GiB guest to kdump-lzo: 6.4 s vs 8.2 s; zlib through libdeflate: no
     * difference). jnr-ffi (libfuse, libc) uses native access and sun.misc.Unsafe: --enable-native-access (accepted
     * since 17) keeps Java 22+ quiet about JNI, --sun-misc-unsafe-memory-access=allow (exists from 23 on) keeps Java
     * 24+ quiet about Unsafe. The launchers add -XX:SharedArchiveFile when they have a class-data archive; with
     * -Xshare:auto and the cds logs off, a java that cannot use it (another build) goes on quietly.
     */
    static final List<Option> COMMON = List.of(
            new Option(17, "-XX:+UseSerialGC"),
            new Option(17, "-XX:-UsePerfData"),
            new Option(17, "-XX:TieredStopAtLevel=1"),
            new Option(17, "--enable-native-access=ALL-UNNAMED"),
            new Option(23, "--sun-misc-unsafe-memory-access=allow"),
            new Option(17, "-Xshare:auto"),
            new Option(17, "-Xlog:cds=off"),
            new Option(17, "-Xlog:cds+dynamic=off"));

    /** The young generation: small and fixed, so that the old generation holds the chunk cache. */
    static final int YOUNG_MIB = 48;
    /** Heap beyond the chunk cache and the kdump indexes: young generation, other live objects, garbage. */
    static final int HEADROOM_MIB = 128;
    /**
     * Heap of the four kdump indexes per 4 KiB page of data in the core (io.vmdumpfs.core.format.kdump.KdumpIndex):
     * each file keeps 2 bytes per page with data of its own. Pages that are zero or in holes cost nothing. 4 KiB is
     * the smallest guest page: with bigger ones there are fewer pages.
     */
    static final int INDEX_BYTES_PER_DATA_PAGE = 4 * 2;
    /**
     * Heap of the four kdump indexes per chunk of 256 pages (1 MiB) that holds data: each file's chunk table (8
     * bytes) and the set of stored pages all four share (40 bytes).
     */
    static final int INDEX_BYTES_PER_CHUNK = 4 * 8 + 40;
    private static final long PAGE = 4096;
    private static final long CHUNK = 256 * PAGE;
    /**
     * The kdump indexes the launchers' heap has room for: those of a core holding up to 16 GiB of data (33.1 MiB).
     * A mount accepts a heap this much larger than it needs, so that a default mount of any such core keeps the
     * launcher's JVM.
     */
    static final int INDEX_ALLOWANCE_MIB = (int) ((indexBytes(16L << 30, 1) + (1 << 20) - 1) >> 20);

    private static final Pattern XMX = Pattern.compile("-Xmx([0-9]{1,9})m");

    private JvmOptions() {
    }

    /**
     * Returns the heap in MiB for a chunk cache of {@code cacheBytes} and kdump indexes of {@code indexBytes}
     * ({@link #indexBytes}) and {@value #HEADROOM_MIB} MiB for everything else. Without a bound the JVM sizes its heap
     * from the host's RAM and keeps garbage from compression around, so the server's RSS grew to several times the
     * cache.
     */
    static long heapMib(long cacheBytes, long indexBytes) {
        return (cacheBytes + indexBytes >> 20) + HEADROOM_MIB;
    }

    /**
     * Returns the heap of the four kdump indexes of a core holding {@code dataBytes} of data in {@code runs} runs
     * (of a sparse file: the rest are holes): {@value #INDEX_BYTES_PER_DATA_PAGE} bytes per page of data and
     * {@value #INDEX_BYTES_PER_CHUNK} per chunk the data touches, at most two more per run than it fills. What the
     * guest's size costs beyond that is nothing: a 1 TiB guest holding 130 MB needs about 0.3 MiB, where counting
     * every page of the core (as before) asked for 2 GiB and a JVM restarted to get it.
     */
    static long indexBytes(long dataBytes, long runs) {
        long pages = (dataBytes + PAGE - 1) / PAGE;
        long chunks = Math.min(pages, dataBytes / CHUNK + 2 * runs);
        return pages * INDEX_BYTES_PER_DATA_PAGE + chunks * INDEX_BYTES_PER_CHUNK;
    }

    /** Returns {@link #indexBytes(long, long)} of the core's data, as lseek finds it ({@link DataRuns}). */
    static long indexBytes(DataRuns runs) {
        return indexBytes(runs.dataBytes(), runs.runCount());
    }

    /**
     * Returns the heap for a chunk cache of {@code cacheBytes} (the default when absent) over {@code core}: its
     * indexes follow the data the core holds. A core no bigger than {@link #INDEX_ALLOWANCE_MIB} covers is taken as
     * all data, as it may be, which costs nothing to find; a bigger one's data is found with lseek(SEEK_DATA/
     * SEEK_HOLE) (a file system that cannot tell makes all of it data). That binds libc (0.1-0.2 s) before the mount
     * binds it beside the core's opening, so only cores whose size alone would ask for more heap pay for it, and a
     * sparse one is spared a JVM restart (about a second).
     */
    static long heapMib(OptionalLong cacheBytes, Path core) {
        long cache = cacheBytes.orElse(CaffeineChunkCache.defaultBytes());
        long size;
        try {
            size = Files.size(core);
        } catch (IOException e) {
            return heapMib(cache, 0); // opening it to serve it will report it
        }
        long indexBytes = indexBytes(size, 1);
        if (indexBytes > (long) INDEX_ALLOWANCE_MIB << 20) {
            try (CoreFile f = CoreFile.open(core)) {
                indexBytes = indexBytes(f.dataRuns());
            } catch (BadCoreException | IOException e) {
                // opening it to serve it will report it
            }
        }
        return heapMib(cache, indexBytes);
    }

    /**
     * Returns the heap the launchers pass: that of a mount with the default cache on this machine and a core whose
     * indexes fill {@link #INDEX_ALLOWANCE_MIB}.
     */
    static long defaultHeapMib() {
        return (CaffeineChunkCache.defaultBytes() >> 20) + INDEX_ALLOWANCE_MIB + HEADROOM_MIB;
    }

    /** Returns true when a server given {@code heapMib} keeps it for a mount that needs {@code neededMib}. */
    static boolean fits(long heapMib, long neededMib) {
        return heapMib >= neededMib && heapMib - neededMib <= INDEX_ALLOWANCE_MIB;
    }

    /** Returns the heap options for {@code heapMib}. */
    static List<String> heap(long heapMib) {
        return List.of("-Xmx" + heapMib + "m", "-Xmn" + YOUNG_MIB + "m");
    }

    /** Returns {@link #COMMON}'s options that {@code javaFeature} accepts, then the heap options for {@code heapMib}. */
    static List<String> forJava(int javaFeature, long heapMib) {
        List<String> out = new ArrayList<>();
        for (Option o : COMMON) {
            if (javaFeature >= o.sinceJava()) {
                out.add(o.text());
            }
        }
        out.addAll(heap(heapMib));
        return out;
    }

    /** Returns the options the launcher passed ({@value #ENV}), empty when no launcher started this JVM. */
    static List<String> fromLauncher() {
        String s = System.getenv(ENV);
        return s == null || s.isBlank() ? List.of() : Arrays.asList(s.strip().split("\\s+"));
    }

    /** Returns the heap in MiB among {@code options} (the last -Xmx), if any. */
    static OptionalLong heapMib(List<String> options) {
        OptionalLong heap = OptionalLong.empty();
        for (String o : options) {
            Matcher m = XMX.matcher(o);
            if (m.matches()) {
                heap = OptionalLong.of(Long.parseLong(m.group(1)));
            }
        }
        return heap;
    }

    /**
     * Returns the JVM arguments for this JVM's command again with a heap of {@code heapMib}: this Java's
     * {@link #COMMON} options and the heap first, then {@code jvmArgs} (java's arguments before the program's, e.g.
     * {@code -XX:SharedArchiveFile=… -Xmx8g -jar vmdumpfs.jar}) without {@code launcherOptions}, so that a user's
     * own options (VMDUMPFS_JAVA_OPTS, later on the command line) still win.
     */
    static List<String> withHeap(List<String> jvmArgs, List<String> launcherOptions, long heapMib) {
        List<String> rest = new ArrayList<>(jvmArgs);
        for (String o : launcherOptions) {
            rest.remove(o);
        }
        List<String> out = new ArrayList<>(forJava(Runtime.version().feature(), heapMib));
        out.addAll(rest);
        return out;
    }

    /**
     * Returns the options file for the launchers: a comment, then each option after the Java version it needs, the
     * heap of a default mount on this machine ({@link #defaultHeapMib}) last.
     */
    static String fileText() {
        StringBuilder b = new StringBuilder()
                .append("# vmdumpfs's JVM options, from `vmdumpfs --print-jvm-options` (io.vmdumpfs.fuse.JvmOptions says\n")
                .append("# why each is there): one per line after the Java version it needs; launch.sh passes those its\n")
                .append("# java accepts. The heap is a mount's with the default cache_size on this machine (")
                .append(CaffeineChunkCache.defaultBytes() >> 20).append(" MiB) over a core holding up to 16 GiB.\n");
        for (Option o : COMMON) {
            b.append(o.sinceJava()).append(' ').append(o.text()).append('\n');
        }
        for (String h : heap(defaultHeapMib())) {
            b.append(17).append(' ').append(h).append('\n');
        }
        return b.toString();
    }
}

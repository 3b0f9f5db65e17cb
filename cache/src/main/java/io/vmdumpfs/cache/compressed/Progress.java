package io.vmdumpfs.cache.compressed;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Receives the progress of one decompression, measured in compressed bytes read: that total is always known, where
 * the decompressed size often is not (see {@link Compression#contentSize}). Called from the decompressing thread
 * only.
 */
public interface Progress {

    /** Shows nothing. */
    Progress NONE = new Progress() {
        @Override
        public void start(String task, long totalBytes) {
        }

        @Override
        public void update(long doneBytes) {
        }

        @Override
        public void finish(boolean completed) {
        }
    };

    /** Called once before the first byte, with the compressed file's size. */
    void start(String task, long totalBytes);

    /** Called with the compressed bytes consumed so far; cheap to call often. */
    void update(long doneBytes);

    /** Called once at the end, also after a failure ({@code completed} false). */
    void finish(boolean completed);

    /**
     * Returns a progress bar on stderr when stderr is a terminal, else {@link #NONE}: a mount started by mount(8),
     * systemd or a script logs nothing per second.
     */
    static Progress terminal() {
        return isTerminal(Path.of("/proc/self/fd/2")) ? new Bar(System.err) : NONE;
    }

    /**
     * Returns true when {@code fdLink} (a /proc/self/fd entry) points at a terminal device. {@code System.console()}
     * asks about stdin and stdout, not stderr, and the JDK has no isatty; on Linux the fd's link target tells.
     */
    static boolean isTerminal(Path fdLink) {
        try {
            String target = Files.readSymbolicLink(fdLink).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty") || target.equals("/dev/console");
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /** me.tongfei's progress bar in MiB with speed and ETA, ASCII so that any terminal and log shows it. */
    final class Bar implements Progress {
        private final PrintStream out;
        private ProgressBar bar;

        Bar(PrintStream out) {
            this.out = out;
        }

        @Override
        public void start(String task, long totalBytes) {
            bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(totalBytes).setUnit(" MiB", 1 << 20)
                    .setStyle(ProgressBarStyle.ASCII).showSpeed().setUpdateIntervalMillis(250)
                    .setConsumer(new ConsoleProgressBarConsumer(out)).build();
        }

        @Override
        public void update(long doneBytes) {
            if (bar != null) {
                bar.stepTo(doneBytes);
            }
        }

        @Override
        public void finish(boolean completed) {
            if (bar != null) {
                bar.close();
                bar = null;
            }
        }
    }
}

package io.vmdumpfs.fuse;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Logging for the mount process: one line per event on stderr, "vmdumpfs: message", in the foreground only. In the
 * background stderr is /dev/null, so the level is OFF and nothing is even formatted.
 */
final class Log {

    private static final Logger ROOT = Logger.getLogger("io.vmdumpfs");

    private Log() {
    }

    /**
     * Sends {@code io.vmdumpfs} records at {@code level} and above to stderr; with {@code stackTraces}, failures
     * carry their stack traces.
     */
    static void configure(Level level, boolean stackTraces) {
        ROOT.setUseParentHandlers(false);
        for (Handler h : ROOT.getHandlers()) {
            ROOT.removeHandler(h);
        }
        ROOT.setLevel(level);
        if (level == Level.OFF) {
            return;
        }
        Handler h = new ConsoleHandler();
        h.setLevel(Level.ALL);
        h.setFormatter(new OneLine(stackTraces));
        ROOT.addHandler(h);
    }

    private static final class OneLine extends Formatter {
        private final boolean stackTraces;

        OneLine(boolean stackTraces) {
            this.stackTraces = stackTraces;
        }

        @Override
        public String format(LogRecord r) {
            StringBuilder sb = new StringBuilder("vmdumpfs: ");
            if (r.getLevel().intValue() >= Level.SEVERE.intValue()) {
                sb.append("error: ");
            } else if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
                sb.append("warning: ");
            }
            sb.append(formatMessage(r)).append('\n');
            if (stackTraces && r.getThrown() != null) {
                StringWriter w = new StringWriter();
                r.getThrown().printStackTrace(new PrintWriter(w));
                sb.append(w);
            }
            return sb.toString();
        }
    }
}

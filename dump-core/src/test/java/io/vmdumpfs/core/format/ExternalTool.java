package io.vmdumpfs.core.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.vmdumpfs.core.testing.QemuFixture;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs real clients (readelf, crash) on files the views produce. */
final class ExternalTool {

    private ExternalTool() {
    }

    /**
     * Skips the test when {@code tool} is not on the PATH; under CI=true, where every tool is installed, fails
     * instead, so a missing tool never passes silently.
     */
    static void require(String tool) {
        QemuFixture.requireCommand(tool, "apt-get install the package that provides it");
    }

    /** Returns the stdout of {@code command} (stderr merged), after checking it exits 0 within a minute. */
    static String run(String... command) {
        Result r = runAnyExit(command);
        assertEquals(0, r.exitCode(), String.join(" ", command) + " failed:\n" + r.output());
        return r.output();
    }

    /** What a command printed (stdout and stderr merged) and its exit code. */
    record Result(int exitCode, String output) {
    }

    /** Runs {@code command} with stdin closed and returns its output and exit code, whatever it is. */
    static Result runAnyExit(String... command) {
        try {
            Process p = new ProcessBuilder(List.of(command)).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail(String.join(" ", command) + " did not finish within 60 s:\n" + out);
            }
            return new Result(p.exitValue(), out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Writes the whole of {@code view} to {@code file} by sequential 1 MiB reads, as a FUSE client would. */
    static Path writeTo(View view, Path file) {
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            long pos = 0;
            while (true) {
                buf.clear();
                int n = view.read(pos, buf);
                if (n == 0) {
                    break;
                }
                buf.flip();
                while (buf.hasRemaining()) {
                    out.write(buf);
                }
                pos += n;
            }
            assertEquals(view.size(), pos, "bytes read before EOF");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }
}

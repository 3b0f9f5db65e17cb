package io.vmdumpfs.fuse;

/**
 * Skips a test when something it needs from the machine is missing (libfuse2, /dev/fuse, fusermount), except in CI
 * ({@code CI=true}), where everything is installed and a missing piece must fail the build rather than pass silently.
 */
final class Prerequisites {

    private Prerequisites() {
    }

    /** Runs {@code probe}; when it throws, skips the test (fails it in CI) naming {@code what}. */
    static void require(String what, ThrowingRunnable probe) {
        try {
            probe.run();
        } catch (Throwable t) {
            missing(what + " unavailable: " + t);
        }
    }

    /** Skips the test (fails it in CI) because {@code why}: QemuFixture's one skip-or-fail rule. */
    static void missing(String why) {
        io.vmdumpfs.core.testing.QemuFixture.require(false, why);
    }

    /** A probe. */
    @FunctionalInterface
    interface ThrowingRunnable {
        void run() throws Exception;
    }
}

package io.vmdumpfs.fuse;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The child's side of {@link Background}: the parent JVM reads our stdout until the line {@value #READY}, or
 * {@value #ERROR_PREFIX} and the one-line error, then exits 0 or 2. Before READY, stderr goes to /dev/null and
 * right after it stdout and stdin, so that nothing this process does later can block on, or fail writing to, the
 * parent's pipes.
 */
final class ParentPipe implements ReadySignal {

    static final String READY = "READY";
    static final String ERROR_PREFIX = "ERROR ";

    /** Set once READY or ERROR went out, so that exactly one of them does. */
    private final AtomicBoolean told = new AtomicBoolean();

    @Override
    public void ready() {
        if (!told.compareAndSet(false, true)) {
            return;
        }
        ReadySignal.detach();
        ReadySignal.toDevNull(2);
        System.out.println(READY);
        System.out.flush();
        ReadySignal.toDevNull(1);
        ReadySignal.toDevNull(0);
    }

    @Override
    public void failed(String message) {
        if (told.compareAndSet(false, true)) {
            System.out.println(ERROR_PREFIX + message.replace('\n', ' '));
            System.out.flush();
        }
    }
}

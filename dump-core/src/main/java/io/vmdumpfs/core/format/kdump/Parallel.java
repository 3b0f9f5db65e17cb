package io.vmdumpfs.core.format.kdump;

import java.util.ArrayList;
import java.util.List;

/** Runs workers side by side: the first on the calling thread, the others on daemon threads of their own. */
final class Parallel {

    private Parallel() {
    }

    /**
     * Runs every worker and returns when all have ended. Workers report their own failures (they must not throw);
     * an interrupt is kept for the caller but does not cut the wait short, since the workers still write into the
     * caller's arrays.
     */
    static void run(Runnable[] workers, String threadName) {
        List<Thread> started = new ArrayList<>();
        for (int i = 1; i < workers.length; i++) {
            Thread t = new Thread(workers[i], threadName + "-" + i);
            t.setDaemon(true);
            t.start();
            started.add(t);
        }
        if (workers.length > 0) {
            workers[0].run();
        }
        boolean interrupted = false;
        for (Thread t : started) {
            while (true) {
                try {
                    t.join(); // join() also publishes the workers' writes
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}

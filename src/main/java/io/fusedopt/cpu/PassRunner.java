package io.fusedopt.cpu;

import io.fusedopt.rule.Chunk;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs the passes of one step program over a {@link WorkSplit}: the calling thread works too, and at most
 * {@code threads - 1} helpers from the pool join it. Every thread claims the next unclaimed run until none is left;
 * the caller then waits only for the runs already claimed by others.
 *
 * <p>This costs one worker wake-up per helper and pass (not a task per tensor or per chunk), never waits for a
 * helper that has not started (the caller takes its runs instead), and gives the same results whichever thread runs
 * which chunk: a chunk's outputs depend only on the chunk.
 */
final class PassRunner {
    /** Work on the chunks {@code [from, to)}; {@code chunk} is the running thread's view, reused between runs. */
    interface RangeWork {
        void run(int from, int to, Chunk chunk);
    }

    /**
     * Spins of the waiting caller before it parks: a few tens of microseconds, about the length of the last run, and
     * short enough not to hold a core that a descheduled helper needs.
     */
    private static final int SPINS = 1 << 9;

    private static final ThreadLocal<Chunk> HELPER_CHUNK = ThreadLocal.withInitial(Chunk::new);

    private final WorkSplit split;
    private final int helpers;
    private final Executor pool;
    private final Chunk callerChunk = new Chunk();
    /** Helpers submitted that have not started: they will serve whichever pass is current when they do. */
    private final AtomicInteger pending = new AtomicInteger();
    private volatile Pass current;

    /**
     * A runner over {@code split} with up to {@code threads} threads, the caller included, taking helpers from
     * {@code pool}.
     */
    PassRunner(WorkSplit split, int threads, Executor pool) {
        this.split = split;
        this.helpers = Math.max(0, Math.min(threads, split.runs()) - 1);
        this.pool = pool;
    }

    /** Number of threads a pass can use, the caller included. */
    int threads() {
        return helpers + 1;
    }

    /**
     * Runs {@code work} over every run of the split and returns when all are done; rethrows the first exception or
     * error any run threw (the other runs still complete).
     */
    void run(RangeWork work) {
        if (helpers == 0) {
            for (int r = 0; r < split.runs(); r++) {
                work.run(split.from(r), split.to(r), callerChunk);
            }
            return;
        }
        Pass p = new Pass(work, Thread.currentThread());
        current = p;
        for (int h = pending.get(); h < helpers; h++) {
            pending.incrementAndGet();
            pool.execute(this::help);
        }
        p.work(callerChunk);
        p.await();
        current = null;
        Throwable t = p.failure;
        if (t instanceof RuntimeException e) {
            throw e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        if (t != null) {
            throw new IllegalStateException("a CPU pass failed", t);
        }
    }

    private void help() {
        pending.decrementAndGet();
        Pass p = current;
        if (p != null) {
            p.work(HELPER_CHUNK.get());
        }
    }

    /** One pass in flight: the runs claimed so far, those completed, and the first failure. */
    private final class Pass {
        final RangeWork work;
        final Thread caller;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;

        Pass(RangeWork work, Thread caller) {
            this.work = work;
            this.caller = caller;
        }

        /** Claims and runs runs until none is left. */
        void work(Chunk chunk) {
            int runs = split.runs();
            for (int r = next.getAndIncrement(); r < runs; r = next.getAndIncrement()) {
                try {
                    work.run(split.from(r), split.to(r), chunk);
                } catch (Throwable t) {
                    if (failure == null) {
                        failure = t;
                    }
                } finally {
                    // The increment publishes the run's writes to the caller, which reads done before it returns.
                    if (done.incrementAndGet() == runs && Thread.currentThread() != caller) {
                        LockSupport.unpark(caller);
                    }
                }
            }
        }

        /** Waits until every run is done: a short spin (the last run is usually almost finished), then parks. */
        void await() {
            int runs = split.runs();
            for (int i = 0; i < SPINS && done.get() < runs; i++) {
                Thread.onSpinWait();
            }
            while (done.get() < runs) {
                LockSupport.park(this);
            }
        }
    }
}

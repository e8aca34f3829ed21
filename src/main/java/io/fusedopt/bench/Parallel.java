package io.fusedopt.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;

/**
 * Splits an index range over all cores the way the CPU backend splits a step: a few contiguous ranges per core,
 * submitted as fork/join tasks to a pool of one daemon worker per core, with the caller waiting. Reference
 * loops written with it (the stream bandwidth, the unfused baseline) pay the same scheduling cost as the
 * optimizer step they are compared with.
 */
public final class Parallel {
    /** Ranges per core, as the CPU backend cuts a pass: enough to even out a slow core. */
    public static final int RANGES_PER_CORE = 4;
    /** Range boundaries are multiples of this many elements (a 64-byte cache line of floats). */
    private static final int GRAIN = 16;

    private static final class PoolHolder {
        static final ForkJoinPool POOL = new ForkJoinPool(Runtime.getRuntime().availableProcessors(), pool -> {
            var thread = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
            thread.setDaemon(true);
            thread.setName("fusedopt-bench-" + thread.getPoolIndex());
            return thread;
        }, null, false);
    }

    /** Work on the elements {@code [from, to)}. */
    @FunctionalInterface
    public interface Range {
        /** Processes {@code [from, to)}. */
        void run(int from, int to);
    }

    private Parallel() {
    }

    /** Number of worker threads: the available processors. */
    public static int cores() {
        return Runtime.getRuntime().availableProcessors();
    }

    /**
     * Cuts {@code [0, n)} into about {@link #RANGES_PER_CORE} ranges per core and returns them as
     * {@code {from, to}} pairs; a range that would be smaller than {@code minRange} elements is merged.
     *
     * @throws IllegalArgumentException when {@code n < 0} or {@code minRange < 1}
     */
    public static int[][] split(int n, int minRange) {
        if (n < 0 || minRange < 1) {
            throw new IllegalArgumentException("split needs n >= 0 and minRange >= 1, got " + n + " and " + minRange);
        }
        int parts = (int) Math.max(1, Math.min((long) RANGES_PER_CORE * cores(), n / (long) minRange));
        long step = ((long) n + parts - 1) / parts;
        step = (step + GRAIN - 1) / GRAIN * GRAIN;
        List<int[]> out = new ArrayList<>();
        for (long from = 0; from < n; from += step) {
            out.add(new int[] {(int) from, (int) Math.min(n, from + step)});
        }
        if (out.isEmpty()) {
            out.add(new int[] {0, 0});
        }
        return out.toArray(new int[0][]);
    }

    /**
     * Runs {@code body} over the precomputed {@code ranges} (from {@link #split}) on all cores and waits; a
     * single range runs on the calling thread.
     */
    public static void run(int[][] ranges, Range body) {
        if (ranges.length == 1) {
            body.run(ranges[0][0], ranges[0][1]);
            return;
        }
        List<RecursiveAction> tasks = new ArrayList<>(ranges.length);
        for (int[] r : ranges) {
            tasks.add(new RecursiveAction() {
                private static final long serialVersionUID = 1L;

                @Override
                protected void compute() {
                    body.run(r[0], r[1]);
                }
            });
        }
        PoolHolder.POOL.submit(() -> ForkJoinTask.invokeAll(tasks)).join();
    }
}

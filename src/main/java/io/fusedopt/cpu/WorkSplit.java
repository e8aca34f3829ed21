package io.fusedopt.cpu;

import io.fusedopt.backend.ArenaLayout;

/**
 * How the passes of one arena are shared among threads: the chunk list cut into contiguous runs of about equal
 * cost, whatever the number of tensors. Threads claim runs in order ({@link PassRunner}), so each thread works
 * through contiguous stretches of the arena, and a thread that starts late (or not at all, on a busy machine) only
 * takes fewer runs.
 *
 * <p>A chunk costs its length plus {@link #CHUNK_COST} elements: the fixed work of binding its arrays and
 * entering the vector loop, which dominates for tensors of a few hundred elements. An arena that costs less than
 * {@link #INLINE_COST} is one run, executed by the calling thread alone: waking a worker and waiting for it costs
 * more than the half of the work it would take over. The constants are measured (see the README's performance
 * section); they change only the speed, never a result, since every chunk is computed the same way by whichever
 * thread runs it.
 */
final class WorkSplit {
    /**
     * The fixed cost of a chunk, in elements of AdamW's update (measured: 10,000 tensors of 100 elements take as
     * long as about 1.6M elements in one tensor on one thread, 1.06 ms against 0.65 ms for 1M).
     */
    static final int CHUNK_COST = 64;
    /**
     * Below this cost (about 0.33 ms of AdamW on one core) a pass runs on the calling thread: measured on a busy
     * 2-core machine with the pass forced to split, two threads took 1.04-1.13 times as long as one from 64K to 512K
     * elements in one tensor, and 1.13-1.19 times at 250, 500 and 2,000 tensors of 100 (0.82 at 1,000): handing
     * half of a pass to a worker costs its wake-up and the wait for it.
     */
    static final long INLINE_COST = 1L << 19;
    /**
     * The least cost of one run (one full chunk, some 25 us of AdamW), so that claiming a run (one atomic increment)
     * stays negligible.
     */
    static final long MIN_RUN_COST = 1L << 15;
    /**
     * Runs per thread: enough that a helper which wakes late, or a thread descheduled for a while, holds up only a
     * small part of the pass, the others taking its share.
     */
    static final int RUNS_PER_THREAD = 8;

    private final int[] bounds;

    private WorkSplit(int[] bounds) {
        this.bounds = bounds;
    }

    /** The cost of a chunk of {@code length} elements, in elements. */
    static long cost(int length) {
        return (long) length + CHUNK_COST;
    }

    /**
     * Cuts the chunks of {@code layout} for {@code threads} threads: one run when there is one thread or the arena
     * costs less than {@link #INLINE_COST}, else between {@code threads} and {@code RUNS_PER_THREAD * threads}
     * runs of at least {@link #MIN_RUN_COST} each (never more runs than chunks).
     *
     * @throws IllegalArgumentException when {@code threads < 1}
     */
    static WorkSplit of(ArenaLayout layout, int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        int chunks = layout.chunkCount();
        long[] cum = new long[chunks + 1];
        for (int c = 0; c < chunks; c++) {
            cum[c + 1] = cum[c] + cost(layout.chunkLength(c));
        }
        long total = cum[chunks];
        if (threads == 1 || total < INLINE_COST || chunks <= 1) {
            return new WorkSplit(new int[] {0, chunks});
        }
        long byCost = Math.max(threads, total / MIN_RUN_COST);
        int runs = (int) Math.min(Math.min((long) RUNS_PER_THREAD * threads, byCost), chunks);
        int[] bounds = new int[runs + 1];
        int c;
        for (int r = 1; r < runs; r++) {
            // Run r ends at the chunk boundary nearest to r/runs of the total cost, and holds at least one chunk.
            long target = total / runs * r + total % runs * r / runs;
            int lo = bounds[r - 1] + 1;
            c = lo;
            while (c < chunks - (runs - r) && cum[c] < target) {
                c++;
            }
            if (c > lo && target - cum[c - 1] < cum[c] - target) {
                c--;
            }
            bounds[r] = c;
        }
        bounds[runs] = chunks;
        return new WorkSplit(bounds);
    }

    /** Number of runs. */
    int runs() {
        return bounds.length - 1;
    }

    /** First chunk of run {@code r}. */
    int from(int r) {
        return bounds[r];
    }

    /** End (exclusive) of run {@code r}. */
    int to(int r) {
        return bounds[r + 1];
    }
}

package io.fusedopt.cpu;

import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.StepPlan;
import io.fusedopt.backend.StepProgram;
import io.fusedopt.rule.Chunk;
import io.fusedopt.rule.Reduce;
import io.fusedopt.rule.Rule;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One optimizer's step on the CPU: the passes of {@link StepProgram}, each run over the chunk list by the calling
 * thread and, for an arena large enough to pay for it, pool workers ({@link WorkSplit}, {@link PassRunner}).
 */
final class CpuStepProgram implements StepProgram {
    private final Rule rule;
    private final ArenaLayout layout;
    private final CpuBuffer params;
    private final CpuBuffer grads;
    private final CpuBuffer[] slots;
    private final CpuBuffer slow;
    private final PassRunner runner;
    private final float[] partialA;
    private final float[] partialB;
    private double[] tensorState;
    private boolean lastSkipped;

    CpuStepProgram(Rule rule, ArenaLayout layout, CpuBuffer params, CpuBuffer grads, List<CpuBuffer> slots,
            CpuBuffer slow) {
        this(rule, layout, params, grads, slots, slow, CpuBackend.threads());
    }

    /** As above, with the passes split over at most {@code threads} threads (the caller included). */
    CpuStepProgram(Rule rule, ArenaLayout layout, CpuBuffer params, CpuBuffer grads, List<CpuBuffer> slots,
            CpuBuffer slow, int threads) {
        this.rule = rule;
        this.layout = layout;
        this.params = params;
        this.grads = grads;
        this.slots = slots.toArray(new CpuBuffer[0]);
        this.slow = slow;
        this.runner = new PassRunner(WorkSplit.of(layout, threads), threads, CpuBackend.pool());
        boolean reduces = rule.reduction() != Rule.Reduction.NONE;
        this.partialA = reduces ? new float[layout.chunkCount()] : null;
        this.partialB = reduces ? new float[layout.chunkCount()] : null;
        int width = rule.tensorStateWidth();
        this.tensorState = new double[layout.tensors().size() * width];
        for (int t = 0; t < layout.tensors().size(); t++) {
            System.arraycopy(rule.tensorStateInit(layout.group(t)), 0, tensorState, t * width, width);
        }
    }

    /** Runs {@code work} over the whole chunk list, split among the threads by {@link #runner}. */
    private void parallel(PassRunner.RangeWork work) {
        runner.run(work);
    }

    /** Points {@code c} at chunk {@code k}'s arrays and range. */
    private void bind(Chunk c, int k) {
        int t = layout.chunkTensor(k);
        long start = layout.chunkStart(k);
        c.tensor = t;
        c.group = layout.group(t);
        // Consecutive small tensors share their arrays: storing a reference only when it changes spares the
        // collector's write barrier, which costs a memory fence per store into a long-lived chunk view.
        float[] w = params.page(t, start);
        if (c.w != w) {
            c.w = w;
        }
        float[] g = grads.page(t, start);
        if (c.g != g) {
            c.g = g;
        }
        if (c.s == null || c.s.length != slots.length) {
            c.s = new float[slots.length][];
        }
        for (int s = 0; s < slots.length; s++) {
            float[] page = slots[s].page(t, start);
            if (c.s[s] != page) {
                c.s[s] = page;
            }
        }
        c.from = params.offset(t, start);
        c.to = c.from + layout.chunkLength(k);
    }

    private boolean anyNonFinite() {
        AtomicBoolean found = new AtomicBoolean();
        parallel((from, to, c) -> {
            for (int k = from; k < to && !found.get(); k++) {
                bind(c, k);
                float[] g = c.g;
                for (int i = c.from; i < c.to; i++) {
                    // x - x is 0 for finite x and NaN for NaN and the infinities.
                    if (g[i] - g[i] != 0f) {
                        found.set(true);
                        return;
                    }
                }
            }
        });
        return found.get();
    }

    @Override
    public void run(StepPlan plan, float[] scalars, double[] finishScalars, float alpha) {
        lastSkipped = false;
        for (StepPlan.Pass pass : plan.passes()) {
            switch (pass.kind()) {
                case FINITE_CHECK -> {
                    if (anyNonFinite()) {
                        // Every later pass would do nothing on the device; here they are not run at all.
                        lastSkipped = true;
                        return;
                    }
                }
                case LOOKAHEAD_INIT -> slow.copyFrom(params);
                case NORM -> norm(scalars);
                case UPDATE -> update(scalars, pass.sums(), pass.lookaheadSync(), alpha);
                case FINISH -> finish(finishScalars);
                default -> throw new AssertionError(pass);
            }
        }
    }

    private void norm(float[] scalars) {
        final int k = rule.scalarCount();
        parallel((from, to, c) -> {
            for (int ch = from; ch < to; ch++) {
                bind(c, ch);
                Arrays.fill(c.laneA, 0f);
                Arrays.fill(c.laneB, 0f);
                rule.normChunk(c, scalars, c.group * k);
                partialA[ch] = Reduce.chunkSum(c.laneA);
                partialB[ch] = Reduce.chunkSum(c.laneB);
            }
        });
    }

    private void update(float[] scalars, boolean sums, boolean sync, float alpha) {
        final int k = rule.scalarCount();
        final double[] ts = tensorState;
        parallel((from, to, c) -> {
            for (int ch = from; ch < to; ch++) {
                bind(c, ch);
                if (sums) {
                    Arrays.fill(c.laneA, 0f);
                    Arrays.fill(c.laneB, 0f);
                }
                rule.update(c, scalars, c.group * k, ts);
                if (sums) {
                    partialA[ch] = Reduce.chunkSum(c.laneA);
                    partialB[ch] = Reduce.chunkSum(c.laneB);
                }
                if (sync) {
                    float[] w = c.w;
                    float[] s = slow.page(c.tensor, layout.chunkStart(ch));
                    for (int i = c.from; i < c.to; i++) {
                        float wi = Math.fma(alpha, w[i] - s[i], s[i]);
                        w[i] = wi;
                        s[i] = wi;
                    }
                }
            }
        });
    }

    /** Adds each tensor's chunk sums in double, in chunk order, and folds them into the tensor state. */
    private void finish(double[] finishScalars) {
        int width = rule.tensorStateWidth();
        int fk = rule.finishScalarCount();
        for (int t = 0; t < layout.tensors().size(); t++) {
            double a = 0.0, b = 0.0;
            for (int ch = layout.firstChunk(t); ch < layout.firstChunk(t + 1); ch++) {
                a += partialA[ch];
                b += partialB[ch];
            }
            rule.finishTensor(a, b, finishScalars, layout.group(t) * fk, tensorState, t * width);
        }
    }

    @Override
    public boolean lastStepSkipped() {
        return lastSkipped;
    }

    @Override
    public double[] tensorState() {
        return tensorState.clone();
    }

    @Override
    public void setTensorState(double[] state) {
        if (state.length != tensorState.length) {
            throw new IllegalArgumentException("tensor state has " + state.length + " values, expected "
                    + tensorState.length);
        }
        tensorState = state.clone();
    }

    @Override
    public void close() {
        // Buffers belong to the store and the optimizer; nothing here holds memory beyond the heap.
    }
}

package io.fusedopt.cpu;

import io.fusedopt.core.LaunchConfig;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.StepPlan;
import io.fusedopt.backend.StepProgram;
import io.fusedopt.rule.Chunk;
import io.fusedopt.rule.Reduce;
import io.fusedopt.rule.Rule;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;
import java.util.concurrent.atomic.AtomicBoolean;

/** One optimizer's step on the CPU: the passes of {@link StepProgram}, each split into ranges of chunks. */
final class CpuStepProgram implements StepProgram {
    /** Below this many elements a pass runs on the calling thread: forking costs more than it saves. */
    static final long INLINE_ELEMENTS = 4L * LaunchConfig.CHUNK;

    private final Rule rule;
    private final ArenaLayout layout;
    private final CpuBuffer params;
    private final CpuBuffer grads;
    private final CpuBuffer[] slots;
    private final CpuBuffer slow;
    private final int[][] ranges;
    private final float[] partialA;
    private final float[] partialB;
    private double[] tensorState;
    private boolean lastSkipped;

    CpuStepProgram(Rule rule, ArenaLayout layout, CpuBuffer params, CpuBuffer grads, List<CpuBuffer> slots,
            CpuBuffer slow) {
        this.rule = rule;
        this.layout = layout;
        this.params = params;
        this.grads = grads;
        this.slots = slots.toArray(new CpuBuffer[0]);
        this.slow = slow;
        this.ranges = split(layout);
        boolean reduces = rule.reduction() != Rule.Reduction.NONE;
        this.partialA = reduces ? new float[layout.chunkCount()] : null;
        this.partialB = reduces ? new float[layout.chunkCount()] : null;
        int width = rule.tensorStateWidth();
        this.tensorState = new double[layout.tensors().size() * width];
        for (int t = 0; t < layout.tensors().size(); t++) {
            System.arraycopy(rule.tensorStateInit(layout.group(t)), 0, tensorState, t * width, width);
        }
    }

    /** Cuts the chunk list into contiguous ranges of about equal element counts, a few per core. */
    private static int[][] split(ArenaLayout layout) {
        int chunks = layout.chunkCount();
        long total = 0;
        for (int c = 0; c < chunks; c++) {
            total += layout.chunkLength(c);
        }
        if (total <= INLINE_ELEMENTS) {
            return new int[][] {{0, chunks}};
        }
        int parts = Math.min(chunks, 4 * Runtime.getRuntime().availableProcessors());
        List<int[]> out = new ArrayList<>();
        long target = (total + parts - 1) / parts;
        int start = 0;
        long acc = 0;
        for (int c = 0; c < chunks; c++) {
            acc += layout.chunkLength(c);
            if (acc >= target || c == chunks - 1) {
                out.add(new int[] {start, c + 1});
                start = c + 1;
                acc = 0;
            }
        }
        return out.toArray(new int[0][]);
    }

    /** Work on the chunks {@code [from, to)}; {@code chunk} is the worker's view. */
    private interface RangeWork {
        void run(int from, int to, Chunk chunk);
    }

    private void parallel(RangeWork work) {
        if (ranges.length == 1) {
            work.run(ranges[0][0], ranges[0][1], new Chunk());
            return;
        }
        List<RecursiveAction> tasks = new ArrayList<>(ranges.length);
        for (int[] r : ranges) {
            tasks.add(new RecursiveAction() {
                private static final long serialVersionUID = 1L;

                @Override
                protected void compute() {
                    work.run(r[0], r[1], new Chunk());
                }
            });
        }
        ForkJoinTask<?> all = CpuBackend.pool().submit(() -> ForkJoinTask.invokeAll(tasks));
        all.join();
    }

    /** Points {@code c} at chunk {@code k}'s arrays and range. */
    private void bind(Chunk c, int k) {
        int t = layout.chunkTensor(k);
        long start = layout.chunkStart(k);
        c.tensor = t;
        c.group = layout.group(t);
        c.w = params.page(t, start);
        c.g = grads.page(t, start);
        if (c.s == null || c.s.length != slots.length) {
            c.s = new float[slots.length][];
        }
        for (int s = 0; s < slots.length; s++) {
            c.s[s] = slots[s].page(t, start);
        }
        c.from = (int) (start & CpuBuffer.PAGE_MASK);
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

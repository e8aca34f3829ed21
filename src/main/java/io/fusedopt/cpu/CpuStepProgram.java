package io.fusedopt.cpu;

import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.Precision;
import io.fusedopt.core.Dtype;
import io.fusedopt.core.DtypeConversions;
import io.fusedopt.core.DtypeStochastic;
import io.fusedopt.core.LaunchConfig;
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
 *
 * <p>When any buffer is 16-bit ({@link Precision}), each chunk is first widened into float32 scratch arrays (the
 * float32 buffers copied beside them, so the rule sees one index range), the rule runs there unchanged, and what
 * the pass writes is rounded back; with a model copy, the rounded weights also go there. The rules and their
 * operation order therefore stay those of float32, which keeps the CPU bit-identical to the kernels.
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
    /** The model's 16-bit parameters written from the weights, or null. */
    private final CpuBuffer model;
    /** Whether any buffer is 16-bit, so chunks go through float32 scratch. */
    private final boolean converts;
    private final boolean stochastic;
    private final long seed;
    private long step;
    /** Float32 scratch views of one chunk, one set per thread. */
    private final ThreadLocal<Scratch> scratch;

    /** Per thread: a chunk's float32 copies of the weights, gradients, slots and slow weights. */
    private static final class Scratch {
        final float[] w = new float[LaunchConfig.CHUNK];
        final float[] g = new float[LaunchConfig.CHUNK];
        final float[][] s;
        final float[] slow = new float[LaunchConfig.CHUNK];

        Scratch(int slots) {
            s = new float[slots][LaunchConfig.CHUNK];
        }
    }

    CpuStepProgram(Rule rule, ArenaLayout layout, CpuBuffer params, CpuBuffer grads, List<CpuBuffer> slots,
            CpuBuffer slow) {
        this(rule, layout, params, grads, slots, slow, CpuBackend.threads());
    }

    /** As above, with the passes split over at most {@code threads} threads (the caller included). */
    CpuStepProgram(Rule rule, ArenaLayout layout, CpuBuffer params, CpuBuffer grads, List<CpuBuffer> slots,
            CpuBuffer slow, int threads) {
        this(rule, layout, params, grads, slots, slow, threads, Precision.PLAIN);
    }

    /**
     * As above, storing as {@code precision} says.
     *
     * @throws IllegalArgumentException when the buffers' dtypes form no supported regime
     */
    CpuStepProgram(Rule rule, ArenaLayout layout, CpuBuffer params, CpuBuffer grads, List<CpuBuffer> slots,
            CpuBuffer slow, int threads, Precision precision) {
        precision.regime(params.dtype(), grads.dtype(), slots.stream().map(CpuBuffer::dtype).toList(),
                slow == null ? null : slow.dtype());
        this.model = (CpuBuffer) precision.modelCopy();
        boolean half = params.dtype().isHalf() || grads.dtype().isHalf() || model != null;
        for (CpuBuffer b : slots) {
            half |= b.dtype().isHalf();
        }
        this.converts = half;
        this.stochastic = precision.stochastic();
        this.seed = precision.seed();
        final int slotCount = slots.size();
        this.scratch = half ? ThreadLocal.withInitial(() -> new Scratch(slotCount)) : null;
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

    @Override
    public void beginStep(long t) {
        step = t;
    }

    /** Points {@code c} at chunk {@code k}'s arrays and range, or at float32 scratch copies of them. */
    private void bind(Chunk c, int k) {
        if (converts) {
            bindScratch(c, k, false);
            return;
        }
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

    /** Widens (or copies) one chunk of {@code b} into {@code dst[0..n)}. */
    private static void load(CpuBuffer b, int t, long start, int n, float[] dst) {
        int o = b.offset(t, start);
        switch (b.dtype()) {
            case FLOAT32 -> System.arraycopy(b.page(t, start), o, dst, 0, n);
            case BFLOAT16 -> {
                short[] h = b.hpage(t, start);
                for (int i = 0; i < n; i++) {
                    dst[i] = Float.intBitsToFloat(h[o + i] << 16);
                }
            }
            case FLOAT16 -> {
                short[] h = b.hpage(t, start);
                for (int i = 0; i < n; i++) {
                    dst[i] = DtypeConversions.fp16ToFloat(h[o + i]);
                }
            }
            default -> throw new AssertionError(b.dtype());
        }
    }

    /** Rounds (or copies) {@code src[0..n)} back into one chunk of {@code b}. */
    private static void store(float[] src, int n, CpuBuffer b, int t, long start) {
        int o = b.offset(t, start);
        switch (b.dtype()) {
            case FLOAT32 -> System.arraycopy(src, 0, b.page(t, start), o, n);
            case BFLOAT16 -> {
                short[] h = b.hpage(t, start);
                // DtypeConversions.floatToBf16 without its branch, so the loop body is straight-line.
                for (int i = 0; i < n; i++) {
                    int x = Float.floatToRawIntBits(src[i]);
                    int r = (x + 0x7FFF + ((x >>> 16) & 1)) >>> 16;
                    h[o + i] = (short) ((x & 0x7FFFFFFF) > 0x7F800000 ? DtypeConversions.CANONICAL_NAN : r);
                }
            }
            case FLOAT16 -> {
                short[] h = b.hpage(t, start);
                for (int i = 0; i < n; i++) {
                    h[o + i] = DtypeConversions.floatToFp16(src[i]);
                }
            }
            default -> throw new AssertionError(b.dtype());
        }
    }

    /** Stochastically rounds {@code src[0..n)} into one chunk of the bfloat16 buffer {@code b}. */
    private void storeStochastic(float[] src, int n, CpuBuffer b, int t, long start) {
        int o = b.offset(t, start);
        short[] h = b.hpage(t, start);
        long index = layout.tensors().get(t).offset() + start;
        for (int i = 0; i < n; i++) {
            h[o + i] = DtypeConversions.floatToBf16Stochastic(src[i], DtypeStochastic.bits(seed, step, index + i));
        }
    }

    /** Points {@code c} at float32 scratch holding chunk {@code k}; {@code slowToo} also loads the slow weights. */
    private void bindScratch(Chunk c, int k, boolean slowToo) {
        Scratch x = scratch.get();
        int t = layout.chunkTensor(k);
        long start = layout.chunkStart(k);
        int n = layout.chunkLength(k);
        c.tensor = t;
        c.group = layout.group(t);
        load(params, t, start, n, x.w);
        load(grads, t, start, n, x.g);
        if (c.s == null || c.s.length != slots.length) {
            c.s = new float[slots.length][];
        }
        for (int s = 0; s < slots.length; s++) {
            load(slots[s], t, start, n, x.s[s]);
            c.s[s] = x.s[s];
        }
        if (slowToo) {
            load(slow, t, start, n, x.slow);
        }
        c.w = x.w;
        c.g = x.g;
        c.from = 0;
        c.to = n;
    }

    /** Rounds the weights, slots (and slow weights) of chunk {@code k} back from scratch; writes the model copy. */
    private void storeScratch(int k, boolean slowToo) {
        Scratch x = scratch.get();
        int t = layout.chunkTensor(k);
        long start = layout.chunkStart(k);
        int n = layout.chunkLength(k);
        if (stochastic) {
            storeStochastic(x.w, n, params, t, start);
        } else {
            store(x.w, n, params, t, start);
        }
        for (int s = 0; s < slots.length; s++) {
            store(x.s[s], n, slots[s], t, start);
        }
        if (slowToo) {
            store(x.slow, n, slow, t, start);
        }
        if (model != null) {
            store(x.w, n, model, t, start);
        }
    }

    /** Whether chunk {@code k} of the 16-bit gradients holds an infinity or NaN (all exponent bits set). */
    private boolean halfNonFinite(int k) {
        int t = layout.chunkTensor(k);
        long start = layout.chunkStart(k);
        short[] h = grads.hpage(t, start);
        int o = grads.offset(t, start);
        int n = layout.chunkLength(k);
        int mask = grads.dtype() == Dtype.BFLOAT16 ? 0x7F80 : 0x7C00;
        for (int i = o; i < o + n; i++) {
            if ((h[i] & mask) == mask) {
                return true;
            }
        }
        return false;
    }

    private boolean anyNonFinite() {
        if (grads.dtype().isHalf()) {
            AtomicBoolean found = new AtomicBoolean();
            parallel((from, to, c) -> {
                for (int k = from; k < to && !found.get(); k++) {
                    if (halfNonFinite(k)) {
                        found.set(true);
                        return;
                    }
                }
            });
            return found.get();
        }
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
                if (converts) {
                    bindScratch(c, ch, sync);
                } else {
                    bind(c, ch);
                }
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
                    float[] s = converts ? scratch.get().slow : slow.page(c.tensor, layout.chunkStart(ch));
                    for (int i = c.from; i < c.to; i++) {
                        float wi = Math.fma(alpha, w[i] - s[i], s[i]);
                        w[i] = wi;
                        s[i] = wi;
                    }
                }
                if (converts) {
                    storeScratch(ch, sync);
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

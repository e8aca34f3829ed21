package io.fusedopt.cpu;

import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.ScalarRows;
import io.fusedopt.backend.StepCounters;
import io.fusedopt.backend.StepOptions;
import io.fusedopt.backend.Precision;
import io.fusedopt.core.DtypeConversions;
import io.fusedopt.core.DtypeStochastic;
import io.fusedopt.backend.StepPlan;
import io.fusedopt.backend.StepProgram;
import io.fusedopt.core.LaunchConfig;
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
 * <p>When the weights, a slot or the slow weights are 16-bit ({@link Precision}), each chunk is first widened into
 * float32 scratch arrays (the float32 buffers copied beside them, so the rule sees one index range), the rule runs
 * there unchanged, and what the pass writes is rounded back; with a model copy, the rounded weights also go there.
 * When only the gradients are 16-bit (beside float32 master weights and states), the rule works on the buffers' own
 * pages and reads the gradients from a per-thread array they are widened into, at the same indices as the pages (no
 * chunk of a store's own tensors ends past {@link CpuBuffer#OFFSET_LIMIT}, and 16-bit stores hold no caller's
 * arrays). The rules index every array of a chunk alike, which keeps their
 * loops vectorisable, and apply the gradient coefficient of clipping and loss scaling themselves as they read each
 * gradient ({@link Chunk#unscale}), so the caller's gradients are never written; their operation order stays that of
 * float32 either way, which keeps the CPU bit-identical to the kernels.
 */
final class CpuStepProgram implements StepProgram {
    private final Rule rule;
    private final ArenaLayout layout;
    private final CpuBuffer params;
    private final CpuBuffer grads;
    private final CpuBuffer[] slots;
    private final CpuBuffer slow;
    private final PassRunner runner;
    private final int threads;
    private final float[] partialA;
    private final float[] partialB;
    private double[] tensorState;
    private boolean lastSkipped;
    /** A skip under {@link StepOptions#haltOnSkip} not yet taken; the CPU decides in the step, so nothing is refused. */
    private Halt halt;
    private StepOptions options;
    /** Per-chunk sums of the squared unscaled gradient, for the global norm (clipping only). */
    private float[] normPartials;
    private final float[] stepScalars;
    private final double[] stepFinish;
    private long applied;
    private long skipped;
    private double lastGradNorm = Double.NaN;
    private float lossScale;
    private int growthTracker;
    /** The gradient coefficient of the step being run: {@code (g · unscale) · clip}; both 1 when off. */
    private float unscale = 1f;
    private float clip = 1f;
    /** The model's 16-bit parameters written from the weights, or null. */
    private final CpuBuffer model;
    /** Whether the weights, a slot or the slow weights are 16-bit, so whole chunks are widened into scratch. */
    private final boolean wholeScratch;
    private final boolean stochastic;
    private final long seed;
    /** The applied-step count of the step being run, for stochastic rounding's bits. */
    private long step;
    /**
     * Float32 scratch of one chunk, one set per thread, shared by every program: a thread runs one chunk of one pass
     * at a time (a pool worker takes another task only between chunks), and each array is made on first use.
     */
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** Per thread: a chunk's float32 copies of the gradients and, for whole-chunk scratch, of the other buffers. */
    private static final class Scratch {
        private float[] g;
        private float[] w;
        private float[] slow;
        private float[][] s = new float[0][];
        /** Gradients at the indices of the pages they stand beside; grown on demand up to the offset limit. */
        private float[] paged = new float[0];

        private static float[] chunk(float[] a) {
            return a != null ? a : new float[LaunchConfig.CHUNK];
        }

        float[] g() {
            return g = chunk(g);
        }

        float[] w() {
            return w = chunk(w);
        }

        float[] slow() {
            return slow = chunk(slow);
        }

        float[] s(int slot) {
            if (s.length <= slot) {
                s = Arrays.copyOf(s, slot + 1);
            }
            return s[slot] = chunk(s[slot]);
        }

        float[] paged(int length) {
            if (paged.length < length) {
                paged = new float[Math.min(CpuBuffer.OFFSET_LIMIT, Math.max(length, 2 * paged.length))];
            }
            return paged;
        }
    }

    /** Per slot: whether it is shaped per tensor ({@link Rule#slotShaped}); then its views, else null. */
    private final boolean[] shaped;
    private final List<List<io.fusedopt.core.Tensor>> slotViews;
    /** Per tensor: the rule's geometry (null without), and its step scratch (null without). */
    private final long[][] geometry;
    private final float[][] tensorScratch;

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
        String regime = precision.regime(params.dtype(), grads.dtype(),
                slots.stream().map(CpuBuffer::dtype).toList(), slow == null ? null : slow.dtype());
        rule.checkRegime(regime);
        this.model = (CpuBuffer) precision.modelCopy();
        boolean whole = params.dtype().isHalf() || (slow != null && slow.dtype().isHalf());
        for (CpuBuffer b : slots) {
            whole |= b.dtype().isHalf();
        }
        this.wholeScratch = whole;
        this.stochastic = precision.stochastic();
        this.seed = precision.seed();
        this.rule = rule;
        this.layout = layout;
        this.params = params;
        this.grads = grads;
        this.slots = slots.toArray(new CpuBuffer[0]);
        this.slow = slow;
        this.runner = new PassRunner(WorkSplit.of(layout, threads), threads, CpuBackend.pool());
        this.threads = threads;
        boolean reduces = rule.reduction() != Rule.Reduction.NONE;
        this.partialA = reduces ? new float[layout.chunkCount()] : null;
        this.partialB = reduces ? new float[layout.chunkCount()] : null;
        int nt = layout.tensors().size();
        this.shaped = new boolean[this.slots.length];
        this.slotViews = new java.util.ArrayList<>();
        for (int s = 0; s < this.slots.length; s++) {
            shaped[s] = rule.slotShaped(s);
            slotViews.add(shaped[s] ? io.fusedopt.backend.ShapedSlots.layout(rule, s, layout).tensors() : null);
        }
        int gw = rule.tensorGeometryWidth();
        this.geometry = new long[nt][];
        this.tensorScratch = new float[nt][];
        if (gw > 0) {
            long[] all = io.fusedopt.backend.ShapedSlots.geometry(rule, layout);
            for (int t = 0; t < nt; t++) {
                geometry[t] = Arrays.copyOfRange(all, t * gw, (t + 1) * gw);
                long len = rule.scratchLength(layout.tensors().get(t).shape(), layout.group(t));
                tensorScratch[t] = len == 0 ? null : new float[Math.toIntExact(len)];
            }
        }
        int width = rule.tensorStateWidth();
        this.tensorState = new double[nt * width];
        for (int t = 0; t < layout.tensors().size(); t++) {
            System.arraycopy(rule.tensorStateInit(layout.group(t)), 0, tensorState, t * width, width);
        }
        this.stepScalars = new float[rule.scalarCount() * layout.groupCount()];
        this.stepFinish = new double[rule.finishScalarCount() * layout.groupCount()];
    }

    /** Runs {@code work} over the whole chunk list, split among the threads by {@link #runner}. */
    private void parallel(PassRunner.RangeWork work) {
        runner.run(work);
    }

    /**
     * Points {@code c} at what a pass over chunk {@code k} reads: float32 scratch copies of every buffer when the
     * weights or states are 16-bit, else the buffers' pages, with 16-bit gradients widened into a per-thread array
     * at the pages' indices; and the step's gradient coefficient. {@link #release} writes back what the pass wrote.
     */
    private void bindForPass(Chunk c, int k, boolean slowToo) {
        if (wholeScratch) {
            bindScratch(c, k, slowToo);
            return;
        }
        bind(c, k);
        if (grads.dtype().isHalf()) {
            // A store of 16-bit gradients holds no caller's arrays (they are float32), so every chunk ends within
            // the offset limit.
            float[] g = SCRATCH.get().paged(c.to);
            HalfArrays.get().widen(grads.dtype(), grads.hpage(c.tensor, c.start), grads.offset(c.tensor, c.start),
                    g, c.from, c.to - c.from);
            c.g = g;
        }
    }

    /** After a pass bound by {@link #bindForPass}: rounds scratch back, or writes the model copy of the weights. */
    private void release(Chunk c, int k, boolean slowToo) {
        if (wholeScratch) {
            storeScratch(k, slowToo);
        } else if (model != null) {
            int t = layout.chunkTensor(k);
            long start = layout.chunkStart(k);
            HalfArrays.get().round(model.dtype(), c.w, c.from, model.hpage(t, start), model.offset(t, start),
                    c.to - c.from);
        }
    }

    /** Points {@code c} at chunk {@code k}'s own pages and range (float32 buffers only). */
    private void bind(Chunk c, int k) {
        int t = layout.chunkTensor(k);
        long start = layout.chunkStart(k);
        c.tensor = t;
        c.group = layout.group(t);
        c.unscale = unscale;
        c.clip = clip;
        // Consecutive small tensors share their arrays: storing a reference only when it changes spares the
        // collector's write barrier, which costs a memory fence per store into a long-lived chunk view.
        float[] w = params.page(t, start);
        if (c.w != w) {
            c.w = w;
        }
        if (!grads.dtype().isHalf()) {
            float[] g = grads.page(t, start);
            if (c.g != g) {
                c.g = g;
            }
        }
        if (c.s == null || c.s.length != slots.length) {
            c.s = new float[slots.length][];
            c.sFrom = new int[slots.length];
        }
        for (int s = 0; s < slots.length; s++) {
            // A shaped slot of the tensor's length (an unfactored v) pages as the parameters do; a shorter one
            // (the row and column statistics) is bound whole.
            long at = shaped[s] && slotViews.get(s).get(t).length() != layout.tensors().get(t).length() ? 0 : start;
            float[] page = slots[s].page(t, at);
            if (c.s[s] != page) {
                c.s[s] = page;
            }
            if (shaped[s]) {
                c.sFrom[s] = slots[s].offset(t, at);
            }
        }
        c.from = params.offset(t, start);
        c.to = c.from + layout.chunkLength(k);
        c.start = start;
        c.geometry = geometry[t];
        c.scratch = tensorScratch[t];
    }

    /** Widens (or copies) one chunk of {@code b} into {@code dst[0..n)}. */
    private static void load(CpuBuffer b, int t, long start, int n, float[] dst) {
        int o = b.offset(t, start);
        if (b.dtype().isHalf()) {
            HalfArrays.get().widen(b.dtype(), b.hpage(t, start), o, dst, 0, n);
        } else {
            System.arraycopy(b.page(t, start), o, dst, 0, n);
        }
    }

    /** Rounds (or copies) {@code src[0..n)} back into one chunk of {@code b}. */
    private static void store(float[] src, int n, CpuBuffer b, int t, long start) {
        int o = b.offset(t, start);
        if (b.dtype().isHalf()) {
            HalfArrays.get().round(b.dtype(), src, 0, b.hpage(t, start), o, n);
        } else {
            System.arraycopy(src, 0, b.page(t, start), o, n);
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
        Scratch x = SCRATCH.get();
        int t = layout.chunkTensor(k);
        long start = layout.chunkStart(k);
        int n = layout.chunkLength(k);
        c.tensor = t;
        c.group = layout.group(t);
        load(params, t, start, n, x.w());
        load(grads, t, start, n, x.g());
        if (c.s == null || c.s.length != slots.length) {
            c.s = new float[slots.length][];
        }
        for (int s = 0; s < slots.length; s++) {
            c.s[s] = x.s(s);
            load(slots[s], t, start, n, c.s[s]);
        }
        if (slowToo) {
            load(slow, t, start, n, x.slow());
        }
        c.w = x.w();
        c.g = x.g();
        c.unscale = unscale;
        c.clip = clip;
        c.from = 0;
        c.to = n;
        c.start = start;
    }

    /** Rounds the weights, slots (and slow weights) of chunk {@code k} back from scratch; writes the model copy. */
    private void storeScratch(int k, boolean slowToo) {
        Scratch x = SCRATCH.get();
        int t = layout.chunkTensor(k);
        long start = layout.chunkStart(k);
        int n = layout.chunkLength(k);
        if (stochastic) {
            storeStochastic(x.w(), n, params, t, start);
        } else {
            store(x.w(), n, params, t, start);
        }
        for (int s = 0; s < slots.length; s++) {
            store(x.s(s), n, slots[s], t, start);
        }
        if (slowToo) {
            store(x.slow(), n, slow, t, start);
        }
        if (model != null) {
            store(x.w(), n, model, t, start);
        }
    }

    /** Whether chunk {@code k} of the 16-bit gradients holds an infinity or NaN (all exponent bits set). */
    private boolean halfNonFinite(int k) {
        int t = layout.chunkTensor(k);
        long start = layout.chunkStart(k);
        return HalfArrays.get().anyNonFinite(grads.dtype(), grads.hpage(t, start), grads.offset(t, start),
                layout.chunkLength(k));
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

    /** Runs the passes of {@code plan} with the given scalars and the current gradient coefficient. */
    void run(StepPlan plan, float[] scalars, double[] finishScalars, float alpha) {
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
                case FACTOR_STATS -> tensorPass(Rule.Pass.FACTOR_STATS, scalars, finishScalars);
                case FACTOR_SCALES -> tensorPass(Rule.Pass.FACTOR_SCALES, scalars, finishScalars);
                case ORTHO_PREPARE -> prepare(scalars);
                case ORTHOGONALIZE -> tensorPass(Rule.Pass.ORTHOGONALIZE, scalars, finishScalars);
                default -> throw new AssertionError(pass);
            }
        }
    }

    private void norm(float[] scalars) {
        final int k = rule.scalarCount();
        parallel((from, to, c) -> {
            for (int ch = from; ch < to; ch++) {
                bindForPass(c, ch, false);
                Arrays.fill(c.laneA, 0f);
                Arrays.fill(c.laneB, 0f);
                rule.normChunk(c, scalars, c.group * k);
                partialA[ch] = Reduce.chunkSum(c.laneA);
                partialB[ch] = Reduce.chunkSum(c.laneB);
            }
        });
    }

    /** The rule's prepare pass: like the norm pass, but the rule writes its slots and scratch. */
    private void prepare(float[] scalars) {
        final int k = rule.scalarCount();
        parallel((from, to, c) -> {
            for (int ch = from; ch < to; ch++) {
                bind(c, ch);
                Arrays.fill(c.laneA, 0f);
                Arrays.fill(c.laneB, 0f);
                rule.prepareChunk(c, scalars, c.group * k);
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
                bindForPass(c, ch, sync);
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
                    lookaheadSync(c, wholeScratch ? SCRATCH.get().slow()
                            : slow.page(c.tensor, layout.chunkStart(ch)), alpha);
                }
                release(c, ch, sync);
            }
        });
    }

    /** Lookahead's sync over the chunk's range: {@code w = s = fma(α, w − s, s)}. */
    private static void lookaheadSync(Chunk c, float[] s, float alpha) {
        float[] w = c.w;
        for (int i = c.from; i < c.to; i++) {
            float wi = Math.fma(alpha, w[i] - s[i], s[i]);
            w[i] = wi;
            s[i] = wi;
        }
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
            rule.finishTensor(a, b, layout.tensors().get(t).length(), finishScalars, layout.group(t) * fk,
                    tensorState, t * width);
        }
    }

    /**
     * Runs a per-tensor pass of the rule over every tensor, the tensors shared among the threads (a tensor's
     * outputs depend only on the tensor, so any split gives the same bits).
     */
    private void tensorPass(Rule.Pass pass, float[] scalars, double[] finishScalars) {
        final int k = rule.scalarCount(), fk = rule.finishScalarCount();
        final int nt = layout.tensors().size();
        java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
        parallel((from, to, c) -> {
            // The chunk runs only pace the threads here: each takes whole tensors until none is left.
            for (int t = next.getAndIncrement(); t < nt; t = next.getAndIncrement()) {
                int g = layout.group(t);
                rule.tensorPass(pass, access(t), scalars, g * k, finishScalars, g * fk);
            }
        });
    }

    /** What {@link Rule#tensorPass} sees of tensor {@code t}. */
    private Rule.TensorAccess access(int t) {
        io.fusedopt.core.Tensor tensor = layout.tensors().get(t);
        return new Rule.TensorAccess() {
            @Override
            public long[] geometry() {
                return geometry[t];
            }

            @Override
            public void readGradients(long at, float[] dst, int from, int len) {
                grads.read(tensor, at, dst, from, len);
            }

            @Override
            public void readSlot(int slot, long at, float[] dst, int from, int len) {
                slots[slot].read(view(slot, t), at, dst, from, len);
            }

            @Override
            public void writeSlot(int slot, long at, float[] src, int from, int len) {
                slots[slot].write(view(slot, t), at, src, from, len);
            }

            @Override
            public float[] scratch() {
                return tensorScratch[t];
            }

            @Override
            public double tensorState(int i) {
                return tensorState[t * rule.tensorStateWidth() + i];
            }

            @Override
            public void parallel(int parts, java.util.function.IntConsumer part) {
                parts(parts, part);
            }
        };
    }

    /**
     * Runs the parts on the caller and up to {@code threads - 1} pool threads, each claiming the next part until none
     * is left; the caller then waits only for parts already claimed. A pool thread that starts late (every pool
     * thread may be busy with the enclosing pass) finds nothing left, so this never waits for a task that has not
     * started.
     */
    private void parts(int parts, java.util.function.IntConsumer part) {
        java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicInteger done = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
        Runnable work = () -> {
            for (int p = next.getAndIncrement(); p < parts; p = next.getAndIncrement()) {
                try {
                    part.accept(p);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    done.incrementAndGet();
                }
            }
        };
        int helpers = Math.min(parts, threads) - 1;
        for (int h = 0; h < helpers; h++) {
            CpuBackend.pool().execute(work);
        }
        work.run();
        while (done.get() < parts) {
            Thread.onSpinWait();
        }
        Throwable e = failure.get();
        if (e instanceof RuntimeException re) {
            throw re;
        }
        if (e instanceof Error er) {
            throw er;
        }
        if (e != null) {
            throw new IllegalStateException("a CPU tensor pass failed", e);
        }
    }

    private io.fusedopt.core.Tensor view(int slot, int t) {
        return shaped[slot] ? slotViews.get(slot).get(t) : layout.tensors().get(t);
    }

    @Override
    public void configure(StepOptions o) {
        if (options != null) {
            throw new IllegalStateException("the step program is already configured");
        }
        options = o;
        normPartials = o.clips() ? new float[layout.chunkCount()] : null;
        lossScale = o.scalesLoss() ? (float) o.initScale() : 0f;
    }

    @Override
    public void step(ScalarRows rows, Object stream) {
        if (stream != null) {
            throw new IllegalArgumentException("stream: the CPU backend runs a step on the calling thread and takes"
                    + " no CUDA stream, got " + stream);
        }
        step(rows);
    }

    @Override
    public void step(ScalarRows rows) {
        StepOptions o = options;
        long t = applied + 1;
        // Validated before anything runs, so a bad rate changes nothing.
        rows.fill(t, stepScalars, stepFinish);
        lastSkipped = false;
        float u = o.scalesLoss() ? StepOptions.unscale(lossScale) : 1f;
        float k = 1f;
        boolean found = false;
        if (o.clips()) {
            gradientNorm(u);
            double total = 0.0;
            for (float p : normPartials) {
                total += p;
            }
            total = Math.sqrt(total);
            lastGradNorm = total;
            found = !Double.isFinite(total);
            k = o.clipCoefficient(total);
        } else if (o.skips()) {
            found = anyNonFinite();
        }
        boolean skip = found && o.skips();
        if (o.scalesLoss()) {
            if (skip) {
                lossScale = lossScale * (float) o.backoffFactor();
                growthTracker = 0;
            } else if (++growthTracker == o.growthInterval()) {
                lossScale = lossScale * (float) o.growthFactor();
                growthTracker = 0;
            }
        }
        if (skip) {
            skipped++;
            lastSkipped = true;
            if (o.haltOnSkip()) {
                halt = new Halt(t, 0);
            }
            return;
        }
        int la = o.lookaheadK();
        StepPlan plan = StepPlan.of(rule, false, la > 0 && t == 1, la > 0 && t % la == 0);
        unscale = u;
        clip = k;
        // Stochastic rounding draws from the applied count of the step, as the kernels read it from the device.
        step = t;
        try {
            run(plan, stepScalars, stepFinish, o.lookaheadAlpha());
        } finally {
            unscale = 1f;
            clip = 1f;
        }
        applied = t;
    }

    /**
     * Sets {@code c}'s range to chunk {@code k}'s and returns the array holding its float32 gradients over that
     * range: the buffer's page, or this thread's chunk scratch holding the widened 16-bit gradients from index 0.
     */
    private float[] gradients(Chunk c, int k) {
        int t = layout.chunkTensor(k);
        long start = layout.chunkStart(k);
        int n = layout.chunkLength(k);
        if (!grads.dtype().isHalf()) {
            c.from = grads.offset(t, start);
            c.to = c.from + n;
            return grads.page(t, start);
        }
        c.from = 0;
        c.to = n;
        float[] g = SCRATCH.get().g();
        load(grads, t, start, n, g);
        return g;
    }

    /**
     * The per-chunk sums of {@code (g · u)²} into {@link #normPartials}, in the lane order of {@link Reduce}. A NaN
     * or infinite gradient makes its chunk's sum, and so the norm, non-finite, which {@link #step} treats as the
     * finite check's finding, as the CUDA decision does.
     */
    private void gradientNorm(float u) {
        parallel((from, to, c) -> {
            float[] lanes = c.laneA;
            float[] row = c.rows[0];
            for (int ch = from; ch < to; ch++) {
                float[] g = gradients(c, ch);
                Arrays.fill(lanes, 0f);
                // Copied a row at a time so that the loop indexes one array at l, which C2 vectorises.
                for (int base = c.from; base < c.to; base += LaunchConfig.LANES) {
                    int n = Math.min(LaunchConfig.LANES, c.to - base);
                    System.arraycopy(g, base, row, 0, n);
                    for (int l = 0; l < n; l++) {
                        float x = row[l] * u;
                        lanes[l] = Math.fma(x, x, lanes[l]);
                    }
                }
                normPartials[ch] = Reduce.chunkSum(lanes);
            }
        });
    }

    @Override
    public Halt takeHalt(boolean wait) {
        Halt h = halt;
        halt = null;
        return h;
    }

    @Override
    public StepCounters counters() {
        return new StepCounters(applied, skipped, lastSkipped, lastGradNorm, lossScale, growthTracker);
    }

    @Override
    public void setCounters(long applied, long skipped, float lossScale, int growthTracker) {
        this.applied = applied;
        this.skipped = skipped;
        halt = null;
        if (options != null && options.scalesLoss()) {
            this.lossScale = lossScale;
            this.growthTracker = growthTracker;
        }
    }

    @Override
    public void capture() {
        throw new IllegalStateException("capture() records a CUDA graph: the CPU backend runs each step on the"
                + " calling thread and has none; build the optimizer on a CUDA device (Device.cuda())");
    }

    @Override
    public void releaseGraph() {
        // Nothing was captured on the CPU.
    }

    @Override
    public boolean captured() {
        return false;
    }

    @Override
    public long lossScaleAddress() {
        throw new IllegalStateException("the CPU backend keeps the loss scale in host memory and has no device"
                + " address for it; read lossScale() instead");
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

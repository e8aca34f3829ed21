package io.fusedopt.rule;

import io.fusedopt.core.LaunchConfig;
import io.fusedopt.rule.HyperParam.Range;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Adafactor (Shazeer &amp; Stern 2018), as {@code optax.adafactor}: a second moment kept as row and column
 * statistics for matrices (and batches of matrices), RMS clipping of the update, a step relative to the parameter
 * scale, optional momentum and decay.
 *
 * <pre>
 * β̂ = 1 - (t - decay_offset)^(-decay_rate)          (β̂ = 0 while t - decay_offset &lt;= 1)
 * G = g² + eps
 * factored (dims S, L):  R = β̂ R + (1-β̂) mean_L G;   C = β̂ C + (1-β̂) mean_S G
 *                        u = g · (R / mean_S R)^(-1/2) · C^(-1/2)
 * otherwise:             V = β̂ V + (1-β̂) G;          u = g / sqrt(V)
 * u = u / max(1, RMS(u) / clipping_threshold)         (clipping_threshold &gt; 0)
 * u = η u · max(RMS(w), 1e-3)                         (multiply_by_parameter_scale; w before the step)
 * m = (1-μ) u + μ m;  u = m                           (momentum μ &gt; 0; no debiasing)
 * w = w - (u + weight_decay_rate · w)                 (the decay is not multiplied by η)
 * </pre>
 *
 * <p>The factoring rule is optax's: a tensor of two or more dimensions, its dimensions sorted by size with a stable
 * sort; the last is {@code L}, the one before it {@code S}; factored when {@code factored} and
 * {@code size(S) >= min_dim_size_to_factor}. Every other dimension is a batch dimension. A {@code null} clipping
 * threshold, momentum or decay rate (optax's "none") reads as 0, which turns the feature off; momentum 0 also drops
 * the {@code exp_avg} slot.
 *
 * <p><b>State.</b> Slot {@code v} is shaped per tensor ({@link #slotShaped}): for a factored tensor it holds R then C
 * (shape {@code [rows + cols]}: R in the row-major order of the tensor's shape without {@code L}, C without
 * {@code S}); for the others V, shaped like the tensor. Slot {@code exp_avg} (momentum only) is shaped like the
 * parameters. Per tensor one double: the step's coefficient {@code η · scale / clip}.
 *
 * <p><b>Passes and operation order.</b> The tensor is viewed as {@code [A, D1, B, D2, Cc]}, where {@code D1} and
 * {@code D2} are the earlier and the later of S and L; the "inner" statistics sum over {@code D2}, the "outer" ones
 * over {@code D1}.
 * <ol>
 *   <li>Statistics ({@link Rule.Pass#FACTOR_STATS}). {@code G = g * g + eps} in float. Each statistic sums its
 *       {@code n} terms in 32 lanes: term {@code k} (in the order of its dimension) goes to lane {@code k % 32},
 *       added in increasing {@code k}; the lanes fold as a warp does ({@code l += l + d} for d = 16, 8, 4, 2, 1).
 *       Then in double: {@code new = (float) (β̂ old + (1-β̂) (sum / n))}. An unfactored element:
 *       {@code V = (float) (β̂ V + (1-β̂) G)}.</li>
 *   <li>Scales ({@link Rule.Pass#FACTOR_SCALES}), in double: per batch {@code mean = (Σ_s R) / S} summed in
 *       increasing {@code s}; {@code rf = (float) (1 / sqrt(R / mean))}, {@code cf = (float) (1 / sqrt(C))} into the
 *       scratch.</li>
 *   <li>Norm pass (when a group clips or scales): {@code u = (g * inner) * outer} with the scales of the element's
 *       inner and outer statistics, or {@code u = g / sqrt(V)}; lanes {@code fma(u, u, ·)} and {@code fma(w, w, ·)}
 *       in the order of {@link Reduce}. Finish, in double: {@code clip = max(1, sqrt(Σu²/n) / threshold)} (or 1),
 *       {@code scale = max(sqrt(Σw²/n), 1e-3)} (or 1), {@code coef = η * scale / clip}.</li>
 *   <li>Update: {@code u} as above; {@code u = u * (float) coef} (or {@code u * η} when no group needs the norm
 *       pass); {@code m = fma(μ, m, (1-μ) * u)}, {@code u = m} (μ &gt; 0); {@code u = fma(λ, w, u)} (λ != 0);
 *       {@code w = w - u}.</li>
 * </ol>
 * Scalars: {@code [eps, λ, μ, 1-μ, η, coef from the tensor state (0/1)]}; finish scalars
 * {@code [β̂, 1-β̂, clipping_threshold, multiply_by_parameter_scale (0/1), η, 1e-3]}; tensor state {@code [coef]}.
 */
public final class Adafactor extends Rule {
    static final int EPS = 0, WDR = 1, MOM = 2, OMM = 3, LR = 4, USE_TS = 5, K = 6;
    static final int BH = 0, OMB = 1, THR = 2, PSCALE = 3, FLR = 4, EPS2 = 5, FK = 6;
    /** The floor of the parameter scale, optax's {@code min_scale} (the paper's ε2). */
    public static final double MIN_SCALE = 1e-3;
    /** Lanes of a statistic's sum: a warp on CUDA. */
    public static final int STAT_LANES = LaunchConfig.WARP;

    // Geometry, after Rule's shared indices 0 .. 4.
    static final int N = 5, FACTORED = 6, R_INNER = 7, A = 8, D1 = 9, B = 10, D2 = 11, CC = 12, NI = 13, NO = 14,
            S_SIZE = 15, WIDTH = 16;

    /**
     * Adafactor: lr 0.01 (optax has none by default; its rate multiplies the update), min_dim_size_to_factor 128,
     * decay_rate 0.8, decay_offset 0, parameter scale on, clipping threshold 1, no momentum, no decay, eps 1e-30,
     * factored.
     */
    public static final Algorithm ALGORITHM = Algorithm.builder("adafactor", "adafactor")
            .title("Adafactor: factored second moments, RMS clipping, relative step")
            .reference("Shazeer & Stern 2018")
            .params(Params.lr(0.01),
                    HyperParam.number("min_dim_size_to_factor", "minDimSizeToFactor", 128, Range.COUNT)
                            .asStructural(),
                    HyperParam.number("decay_rate", "decayRate", 0.8, Range.NON_NEGATIVE),
                    HyperParam.number("decay_offset", "decayOffset", 0, Range.COUNT),
                    HyperParam.flag("multiply_by_parameter_scale", "multiplyByParameterScale", true, false),
                    HyperParam.number("clipping_threshold", "clippingThreshold", 1.0, Range.NON_NEGATIVE)
                            .withNullAs(0.0),
                    HyperParam.number("momentum", "momentum", 0.0, Range.UNIT).withNullAs(0.0).asStructural(),
                    HyperParam.number("weight_decay_rate", "weightDecayRate", 0.0, Range.NON_NEGATIVE)
                            .withNullAs(0.0),
                    HyperParam.number("eps", "eps", 1e-30, Range.POSITIVE),
                    HyperParam.flag("factored", "factored", true, true))
            // On a factored tensor: statistics read g (4); norm pass reads w, g (8); update reads w, g, writes w
            // (12). The row and column statistics are per row and column, not per parameter.
            .variant("adafactor", Map.of(), 24)
            // Momentum adds exp_avg to the update pass (read and write: 8).
            .variant("adafactor-momentum", Map.of("momentum", 0.9), 32)
            .demo("Adafactor", 0.01, false)
            .factory(Adafactor::new)
            .build();

    /** One group's typed hyperparameters. */
    private record Hyper(long minDim, double decayRate, long decayOffset, boolean paramScale, double clip,
            double momentum, double weightDecayRate, double eps, boolean factored) {
    }

    private final List<Hyper> hp;
    private final boolean needsNorm;

    /** Creates the rule over validated values. */
    public Adafactor(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.hp = groups.stream().map(v -> new Hyper((long) v.number("min_dim_size_to_factor"),
                v.number("decay_rate"), (long) v.number("decay_offset"), v.flag("multiply_by_parameter_scale"),
                v.number("clipping_threshold"), v.number("momentum"), v.number("weight_decay_rate"),
                v.number("eps"), v.flag("factored"))).toList();
        this.needsNorm = hp.stream().anyMatch(h -> h.clip() > 0 || h.paramScale());
    }

    private boolean hasMomentum() {
        return hp.get(0).momentum() > 0;
    }

    @Override
    public List<String> slots() {
        return hasMomentum() ? List.of("v", "exp_avg") : List.of("v");
    }

    /** Only exp_avg is shaped like the parameters; v is per row and column on a factored tensor. */
    @Override
    public int slotsTouched() {
        return hasMomentum() ? 1 : 0;
    }

    /** The norm pass reads w and g only. */
    @Override
    public int normSlotsRead() {
        return 0;
    }

    @Override
    public boolean slotShaped(int slot) {
        return slot == 0;
    }

    @Override
    public SlotDomain slotDomain(int slot) {
        return slot == 0 ? SlotDomain.NON_NEGATIVE : SlotDomain.ANY;
    }

    @Override
    public long[] slotShape(int slot, long[] shape, int group) {
        if (slot != 0) {
            return shape.clone();
        }
        long[] g = tensorGeometry(shape, group);
        return g[FACTORED] != 0 ? new long[] {g[NI] + g[NO]} : shape.clone();
    }

    @Override
    public long scratchLength(long[] shape, int group) {
        long[] g = tensorGeometry(shape, group);
        return g[FACTORED] != 0 ? g[NI] + g[NO] : 0;
    }

    @Override
    public int tensorGeometryWidth() {
        return WIDTH;
    }

    /**
     * The factored dimensions {@code [S, L]} of a tensor of shape {@code shape} under {@code group}'s settings, or
     * null when it is not factored (optax's {@code _factored_dims}).
     */
    public int[] factoredDims(long[] shape, int group) {
        Hyper h = hp.get(group);
        if (!h.factored() || shape.length < 2) {
            return null;
        }
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < shape.length; i++) {
            order.add(i);
        }
        // List.sort is stable: equal sizes keep their order, so the later of two equal dimensions is L.
        order.sort((x, y) -> Long.compare(shape[x], shape[y]));
        int l = order.get(shape.length - 1), s = order.get(shape.length - 2);
        return shape[s] >= h.minDim() ? new int[] {s, l} : null;
    }

    @Override
    public long[] tensorGeometry(long[] shape, int group) {
        long[] g = new long[WIDTH];
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        g[N] = n;
        int[] f = factoredDims(shape, group);
        if (f == null) {
            g[FACTORED] = 0;
            // One warp per 32 elements: V is updated element by element.
            g[GEOMETRY_WORK] = (n + STAT_LANES - 1) / STAT_LANES;
            return g;
        }
        int p1 = Math.min(f[0], f[1]), p2 = Math.max(f[0], f[1]);
        long a = 1, b = 1, cc = 1;
        for (int i = 0; i < p1; i++) {
            a *= shape[i];
        }
        for (int i = p1 + 1; i < p2; i++) {
            b *= shape[i];
        }
        for (int i = p2 + 1; i < shape.length; i++) {
            cc *= shape[i];
        }
        g[FACTORED] = 1;
        g[R_INNER] = f[1] == p2 ? 1 : 0;
        g[A] = a;
        g[D1] = shape[p1];
        g[B] = b;
        g[D2] = shape[p2];
        g[CC] = cc;
        g[NI] = a * shape[p1] * b * cc;
        g[NO] = a * b * shape[p2] * cc;
        g[S_SIZE] = shape[f[0]];
        // One warp per statistic.
        g[GEOMETRY_WORK] = g[NI] + g[NO];
        return g;
    }

    // Where a tensor's inner and outer statistics start in its part of slot v and of the scratch: R first.
    private static long innerAt(long[] g) {
        return g[R_INNER] != 0 ? 0 : g[NO];
    }

    private static long outerAt(long[] g) {
        return g[R_INNER] != 0 ? g[NI] : 0;
    }

    @Override
    public List<Pass> passes() {
        return needsNorm
                ? List.of(Pass.FACTOR_STATS, Pass.FACTOR_SCALES, Pass.NORM, Pass.FINISH, Pass.UPDATE)
                : List.of(Pass.FACTOR_STATS, Pass.FACTOR_SCALES, Pass.UPDATE);
    }

    @Override
    public Reduction reduction() {
        return needsNorm ? Reduction.BEFORE_UPDATE : Reduction.NONE;
    }

    @Override
    public int tensorStateWidth() {
        return 1;
    }

    @Override
    public double[] tensorStateInit(int group) {
        return new double[] {0.0};
    }

    @Override
    public String invalidTensorState(double[] ts, int off) {
        return ts[off] < 0 ? "the step coefficient is " + ts[off] + ", below 0" : null;
    }

    @Override
    public int scalarCount() {
        return K;
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Hyper h = hp.get(group);
        out[off + EPS] = (float) h.eps();
        out[off + WDR] = (float) h.weightDecayRate();
        out[off + MOM] = (float) h.momentum();
        out[off + OMM] = (float) (1.0 - h.momentum());
        out[off + LR] = (float) lr;
        out[off + USE_TS] = needsNorm ? 1f : 0f;
    }

    @Override
    public int finishScalarCount() {
        return FK;
    }

    /** The decay of step {@code t}: {@code 1 - (t - offset)^(-c)}, 0 while {@code t - offset <= 1}. */
    static double decay(Hyper h, long t) {
        double k = (double) t - (double) h.decayOffset();
        return k <= 1 ? 0.0 : 1.0 - Math.pow(k, -h.decayRate());
    }

    @Override
    public void finishScalars(int group, long t, double lr, double[] out, int off) {
        Hyper h = hp.get(group);
        double bh = decay(h, t);
        out[off + BH] = bh;
        out[off + OMB] = 1.0 - bh;
        out[off + THR] = h.clip();
        out[off + PSCALE] = h.paramScale() ? 1.0 : 0.0;
        out[off + FLR] = lr;
        out[off + EPS2] = MIN_SCALE;
    }

    /** Java's {@code Math.max(double, double)}, spelled out as the CUDA side mirrors it. */
    static double max(double a, double b) {
        return Math.max(a, b);
    }

    @Override
    public void finishTensor(double sumA, double sumB, double[] fs, int fo, double[] ts, int off) {
        throw new UnsupportedOperationException("adafactor's finish needs the tensor's element count");
    }

    @Override
    public void finishTensor(double sumA, double sumB, long length, double[] fs, int fo, double[] ts, int off) {
        double n = (double) length;
        double thr = fs[fo + THR];
        double clip = thr > 0 ? max(1.0, Math.sqrt(sumA / n) / thr) : 1.0;
        double scale = fs[fo + PSCALE] != 0.0 ? max(Math.sqrt(sumB / n), fs[fo + EPS2]) : 1.0;
        ts[off] = fs[fo + FLR] * scale / clip;
    }

    // ---- the per-tensor passes (CPU) ----

    @Override
    public void tensorPass(Pass pass, TensorAccess t, float[] sc, int so, double[] fs, int fo) {
        long[] g = t.geometry();
        switch (pass) {
            case FACTOR_STATS -> {
                if (g[FACTORED] != 0) {
                    factoredStats(t, g, sc[so + EPS], fs[fo + BH], fs[fo + OMB]);
                } else {
                    unfactoredStats(t, g, sc[so + EPS], fs[fo + BH], fs[fo + OMB]);
                }
            }
            case FACTOR_SCALES -> {
                if (g[FACTORED] != 0) {
                    scales(t, g);
                }
            }
            default -> throw new UnsupportedOperationException("adafactor has no per-tensor pass " + pass);
        }
    }

    /** {@code (float) (β̂ old + (1-β̂) mean)}, in double; the CUDA statistics entry computes the same. */
    static float blend(float old, float sum, long n, double bh, double omb) {
        return (float) (bh * (double) old + omb * ((double) sum / (double) n));
    }

    private static void unfactoredStats(TensorAccess t, long[] g, float eps, double bh, double omb) {
        long n = g[N];
        int slice = (int) Math.min(n, LaunchConfig.CHUNK);
        float[] gs = new float[slice], vs = new float[slice];
        for (long at = 0; at < n; at += slice) {
            int len = (int) Math.min(slice, n - at);
            t.readGradients(at, gs, 0, len);
            t.readSlot(0, at, vs, 0, len);
            for (int i = 0; i < len; i++) {
                float gi = gs[i];
                float G = gi * gi + eps;
                vs[i] = (float) (bh * (double) vs[i] + omb * (double) G);
            }
            t.writeSlot(0, at, vs, 0, len);
        }
    }

    /** Folds 32 lanes as a warp's shuffles do: lane l adds lane l + d for d = 16, 8, 4, 2, 1. */
    static float foldLanes(float[] v, int off) {
        for (int d = STAT_LANES / 2; d >= 1; d >>= 1) {
            for (int l = 0; l < d; l++) {
                v[off + l] = v[off + l] + v[off + l + d];
            }
        }
        return v[off];
    }

    private static void factoredStats(TensorAccess t, long[] g, float eps, double bh, double omb) {
        final int a = (int) g[A], d1 = (int) g[D1], b = (int) g[B], d2 = (int) g[D2], cc = (int) g[CC];
        final int q = b * d2 * cc;
        final int ni = (int) g[NI], no = (int) g[NO];
        final int ia = (int) innerAt(g), oa = (int) outerAt(g);
        float[] st = new float[ni + no];
        t.readSlot(0, 0, st, 0, st.length);
        int outerLanes = Math.min(STAT_LANES, d1);
        float[][] outer = new float[STAT_LANES][];
        for (int l = 0; l < outerLanes; l++) {
            outer[l] = new float[q];
        }
        float[] slab = new float[q];
        float[] lanes = new float[STAT_LANES * Math.max(1, cc)];
        float[] fold = new float[STAT_LANES];
        for (int ai = 0; ai < a; ai++) {
            for (int l = 0; l < outerLanes; l++) {
                java.util.Arrays.fill(outer[l], 0f);
            }
            for (int i1 = 0; i1 < d1; i1++) {
                t.readGradients(((long) ai * d1 + i1) * q, slab, 0, q);
                for (int k = 0; k < q; k++) {
                    float gi = slab[k];
                    slab[k] = gi * gi + eps;
                }
                // The outer statistics of this a: term i1 goes to lane i1 % 32.
                float[] ol = outer[i1 % STAT_LANES];
                for (int k = 0; k < q; k++) {
                    ol[k] = ol[k] + slab[k];
                }
                // The inner statistics of (a, i1, b, c): term i2 goes to lane i2 % 32.
                for (int bi = 0; bi < b; bi++) {
                    int base = bi * d2 * cc;
                    java.util.Arrays.fill(lanes, 0f);
                    if (cc == 1) {
                        int i2 = 0;
                        for (; i2 + STAT_LANES <= d2; i2 += STAT_LANES) {
                            for (int l = 0; l < STAT_LANES; l++) {
                                lanes[l] = lanes[l] + slab[base + i2 + l];
                            }
                        }
                        for (int l = 0; i2 < d2; i2++, l++) {
                            lanes[l] = lanes[l] + slab[base + i2];
                        }
                    } else {
                        for (int i2 = 0; i2 < d2; i2++) {
                            int row = (i2 % STAT_LANES) * cc, src = base + i2 * cc;
                            for (int c = 0; c < cc; c++) {
                                lanes[row + c] = lanes[row + c] + slab[src + c];
                            }
                        }
                    }
                    int stat0 = ((ai * d1 + i1) * b + bi) * cc;
                    for (int c = 0; c < cc; c++) {
                        for (int l = 0; l < STAT_LANES; l++) {
                            fold[l] = lanes[l * cc + c];
                        }
                        float sum = foldLanes(fold, 0);
                        int at = ia + stat0 + c;
                        st[at] = blend(st[at], sum, d2, bh, omb);
                    }
                }
            }
            for (int k = 0; k < q; k++) {
                for (int l = 0; l < STAT_LANES; l++) {
                    fold[l] = l < outerLanes ? outer[l][k] : 0f;
                }
                float sum = foldLanes(fold, 0);
                int at = oa + ai * q + k;
                st[at] = blend(st[at], sum, d1, bh, omb);
            }
        }
        t.writeSlot(0, 0, st, 0, st.length);
    }

    private static void scales(TensorAccess t, long[] g) {
        int ni = (int) g[NI], no = (int) g[NO];
        float[] st = new float[ni + no];
        t.readSlot(0, 0, st, 0, st.length);
        float[] out = t.scratch();
        boolean rInner = g[R_INNER] != 0;
        int r0 = (int) (rInner ? innerAt(g) : outerAt(g));
        int nr = rInner ? ni : no;
        int sSize = (int) g[S_SIZE], b = (int) g[B], cc = (int) g[CC];
        int batches = (int) g[A] * b * cc;
        // Row s of batch (a, b, c) is R[first + s * stride].
        int stride = rInner ? b * cc : cc;
        for (int k = 0; k < batches; k++) {
            int ci = k % cc, bi = (k / cc) % b, ai = k / (cc * b);
            int first = r0 + (rInner ? (ai * (int) g[D1] * b + bi) * cc + ci : (ai * b + bi) * (int) g[D2] * cc + ci);
            double sum = 0.0;
            for (int s = 0; s < sSize; s++) {
                sum += (double) st[first + s * stride];
            }
            double mean = sum / (double) sSize;
            for (int s = 0; s < sSize; s++) {
                int r = first + s * stride;
                out[r] = (float) (1.0 / Math.sqrt((double) st[r] / mean));
            }
        }
        int c0 = r0 == 0 ? nr : 0, nc = ni + no - nr;
        for (int k = 0; k < nc; k++) {
            out[c0 + k] = (float) (1.0 / Math.sqrt((double) st[c0 + k]));
        }
    }

    // ---- the element passes ----

    /**
     * Calls {@code body} for each run of the chunk in which both statistic indices move by a fixed stride: the
     * index in the page, the run length, the inner and outer statistic of the run's first element, and whether the
     * inner one moves (it stays when the run is along {@code D2}).
     */
    private interface Runs {
        void run(int i, int len, int inner, int outer, boolean innerMoves);
    }

    /** Runs {@code body} over page indices {@code [from, to)}, whose first element is element {@code start}. */
    private static void forEachRun(long[] g, long start, int from, int to, Runs body) {
        final long d1 = g[D1], b = g[B], d2 = g[D2], cc = g[CC];
        long e = start;
        int i = from;
        while (i < to) {
            long ci = e % cc, qq = e / cc;
            long i2 = qq % d2;
            qq /= d2;
            long bi = qq % b;
            qq /= b;
            long i1 = qq % d1, ai = qq / d1;
            int inner = (int) (((ai * d1 + i1) * b + bi) * cc + ci);
            int outer = (int) (((ai * b + bi) * d2 + i2) * cc + ci);
            int len;
            boolean moves;
            if (cc > 1) {
                len = (int) Math.min(cc - ci, to - i);
                moves = true;
            } else {
                len = (int) Math.min(d2 - i2, to - i);
                moves = false;
            }
            body.run(i, len, inner, outer, moves);
            i += len;
            e += len;
        }
    }

    @Override
    public void normChunk(Chunk c, float[] sc, int so) {
        final float[] w = c.w, g = c.g, la = c.laneA, lb = c.laneB;
        final float[] u = c.rows[0];
        // Lanes follow the element's position in the chunk: (i - from) % LANES.
        for (int base = c.from; base < c.to; base += LaunchConfig.LANES) {
            int n = Math.min(LaunchConfig.LANES, c.to - base);
            directions(c, base, n, u);
            for (int l = 0; l < n; l++) {
                float wi = w[base + l], ui = u[l];
                la[l] = Math.fma(ui, ui, la[l]);
                lb[l] = Math.fma(wi, wi, lb[l]);
            }
        }
    }

    /** Writes the unscaled directions {@code u} of elements {@code [base, base + n)} of the chunk into {@code out}. */
    private static void directions(Chunk c, int base, int n, float[] out) {
        final float[] g = c.g;
        if (c.geometry[FACTORED] == 0) {
            final float[] v = c.s[0];
            final int vOff = c.sFrom[0] - c.from;
            for (int l = 0; l < n; l++) {
                out[l] = g[base + l] / (float) Math.sqrt(v[vOff + base + l]);
            }
            return;
        }
        final float[] f = c.scratch;
        final int ia = (int) innerAt(c.geometry), oa = (int) outerAt(c.geometry);
        forEachRun(c.geometry, c.start + (base - c.from), base, base + n, (i, len, inner, outer, moves) -> {
            int o = i - base;
            if (moves) {
                for (int k = 0; k < len; k++) {
                    out[o + k] = (g[i + k] * f[ia + inner + k]) * f[oa + outer + k];
                }
            } else {
                float fi = f[ia + inner];
                for (int k = 0; k < len; k++) {
                    out[o + k] = (g[i + k] * fi) * f[oa + outer + k];
                }
            }
        });
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float wdr = sc[so + WDR], mom = sc[so + MOM], omm = sc[so + OMM];
        final float coef = sc[so + USE_TS] != 0f ? (float) ts[c.tensor] : sc[so + LR];
        final float[] w = c.w;
        final float[] m = mom > 0f ? c.s[1] : null;
        final float[] u = c.rows[0];
        for (int base = c.from; base < c.to; base += LaunchConfig.LANES) {
            int n = Math.min(LaunchConfig.LANES, c.to - base);
            directions(c, base, n, u);
            for (int l = 0; l < n; l++) {
                int i = base + l;
                float wi = w[i];
                float ui = u[l] * coef;
                if (m != null) {
                    ui = Math.fma(mom, m[i], omm * ui);
                    m[i] = ui;
                }
                if (wdr != 0f) {
                    ui = Math.fma(wdr, wi, ui);
                }
                w[i] = wi - ui;
            }
        }
    }

    @Override
    public String kernelFamily() {
        return hasMomentum() ? "adafactor_momentum" : "adafactor";
    }
}

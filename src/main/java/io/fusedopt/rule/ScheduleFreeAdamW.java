package io.fusedopt.rule;

import io.fusedopt.rule.HyperParam.Range;
import java.util.List;
import java.util.Map;

/**
 * Schedule-Free AdamW (Defazio et al. 2024, "The Road Less Scheduled"), as {@code optax.contrib.schedule_free_adamw}
 * with one rate per step, as the authors' code: no schedule is needed; an optional linear warmup is the rule's own.
 * The parameters the model holds, and where its gradients are taken, are y; the optimizer keeps z and the second
 * moment v; the weights to evaluate at are the average x ({@code Optimizer.evalParameters}).
 *
 * <pre>
 * η_t = lr_t · min(t, W) / W     (W = warmup_steps; η_t = lr_t when W = 0 or null; lr_t the schedule's rate)
 * z = y at t = 1;   η_max = max(η_max, η_t);   ω = η_max^p;   S = S + ω;   c = ω / S   (c = 0 if S = 0)
 * v  = β2 v + (1-β2) g²
 * u  = g / (sqrt(v / bc2) + ε) + λ y                  (decay at y)
 * z' = z - η_t u
 * x  = (y - (1-β1) z) / β1                             (the previous average)
 * x' = (1-c) x + c z'
 * y' = β1 x' + (1-β1) z'
 * eval: x' = (y' - (1-β1) z') / β1
 * </pre>
 *
 * <p>{@code η_max} and {@code S} depend on every earlier rate; they are computed on the host, in double, from the
 * rates of steps 1 .. t ({@link Rule.Rates}), which are a pure function of the step: nothing of them is state, so a
 * checkpoint holds only z and v, and a resumed run recomputes them.
 *
 * <p>Per element, in this order: {@code z = first ? y : z}; {@code v = fma(β2, v, ((1-β2) * g) * g)};
 * {@code u = g / (sqrt(v / bc2) + ε)}; {@code u = fma(λ, y, u)} (λ != 0); {@code z' = fma(-η_t, u, z)};
 * {@code x = fma(-(1-β1), z, y) / β1}; {@code x' = fma(c, z', (1-c) * x)}; {@code y' = fma(β1, x', (1-β1) * z')}.
 * The evaluation weights: {@code x = fma(-(1-β1), z, y) / β1}.
 * Scalars: {@code [β1, 1-β1, β2, 1-β2, bc2, ε, λ, -η_t, c, 1-c, first (1 at t = 1)]}.
 */
public final class ScheduleFreeAdamW extends Rule {
    static final int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, BC2 = 4, EPS = 5, WD = 6, NEG_LR = 7, C = 8, OMC = 9,
            FIRST = 10, K = 11;

    /**
     * Schedule-Free AdamW: lr 0.0025 (the authors' default), no warmup, betas (0.9, 0.999), eps 1e-8, weight decay
     * 0, weight_lr_power 2.
     */
    public static final Algorithm ALGORITHM = Algorithm.builder("schedule_free_adamw", "schedule_free")
            .title("Schedule-Free AdamW (evaluation weights: `evalParameters`)")
            .reference("Defazio et al. 2024")
            .params(Params.lr(0.0025),
                    HyperParam.number("warmup_steps", "warmupSteps", 0.0, Range.COUNT).withNullAs(0.0),
                    Params.betas(0.9, 0.999),
                    Params.eps(1e-8),
                    Params.weightDecay(0.0),
                    HyperParam.number("weight_lr_power", "weightLrPower", 2.0, Range.NON_NEGATIVE))
            // One update pass: read y, g, z, v; write y, z, v.
            .variant("schedule_free_adamw", Map.of(), 28)
            .demo("SF-AdamW", 2.5e-3, false)
            .factory(ScheduleFreeAdamW::new)
            .build();

    /** One group's typed hyperparameters. */
    private record Hyper(long warmup, double beta1, double beta2, double eps, double weightDecay, double power) {
    }

    private final List<Hyper> hp;
    // The running maximum rate and weight sum through step memoT[g], for the rates memoRates: a cache, not state.
    private final long[] memoT;
    private final double[] memoMax;
    private final double[] memoSum;
    private Rates memoRates;

    /**
     * Creates the rule over validated values.
     *
     * @throws IllegalArgumentException naming the group and value for a warmup that is not a whole number or a
     *     β1 of 0 (the average x divides by β1)
     */
    public ScheduleFreeAdamW(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.hp = new java.util.ArrayList<>();
        for (int g = 0; g < groups.size(); g++) {
            HyperValues v = groups.get(g);
            double w = v.number("warmup_steps");
            if (w != Math.rint(w) || w > Long.MAX_VALUE / 2) {
                throw new IllegalArgumentException(prefix(g) + "warmupSteps must be a whole number >= 0, got " + w);
            }
            if (v.number("betas", 0) == 0.0) {
                throw new IllegalArgumentException(prefix(g) + "beta1 must be in (0, 1) for schedule_free_adamw"
                        + " (x = (y - (1-beta1) z) / beta1), got 0.0");
            }
            hp.add(new Hyper((long) w, v.number("betas", 0), v.number("betas", 1), v.number("eps"),
                    v.number("weight_decay"), v.number("weight_lr_power")));
        }
        this.memoT = new long[groups.size()];
        this.memoMax = new double[groups.size()];
        this.memoSum = new double[groups.size()];
    }

    @Override
    public List<String> slots() {
        return List.of("z", "exp_avg_sq");
    }

    @Override
    public int scalarCount() {
        return K;
    }

    /** The warmup: {@code scheduled · min(t, W) / W}, or {@code scheduled} without one. */
    @Override
    public double rate(int group, long t, double scheduled) {
        long w = hp.get(group).warmup();
        return w == 0 ? scheduled : scheduled * Math.min(t, w) / w;
    }

    /** Without the earlier rates the averaging weight cannot be computed. */
    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        throw new UnsupportedOperationException("schedule_free_adamw needs the rates of the earlier steps");
    }

    @Override
    public void scalars(int group, long t, double lr, Rates rates, float[] out, int off) {
        Hyper h = hp.get(group);
        double c = averagingWeight(group, t, lr, rates);
        out[off + B1] = (float) h.beta1();
        out[off + OMB1] = (float) (1.0 - h.beta1());
        out[off + B2] = (float) h.beta2();
        out[off + OMB2] = (float) (1.0 - h.beta2());
        out[off + BC2] = (float) biasCorrection(h.beta2(), t);
        out[off + EPS] = (float) h.eps();
        out[off + WD] = (float) h.weightDecay();
        out[off + NEG_LR] = (float) -lr;
        out[off + C] = (float) c;
        out[off + OMC] = (float) (1.0 - c);
        out[off + FIRST] = t == 1 ? 1f : 0f;
    }

    /**
     * {@code c_t = η_max,t^p / Σ_{k <= t} η_max,k^p}, 0 when the sum is 0; extends the cache by the steps since the
     * last call, or recomputes from step 1 when it is ahead of {@code t} or belongs to other rates.
     */
    double averagingWeight(int group, long t, double lr, Rates rates) {
        if (rates != memoRates) {
            java.util.Arrays.fill(memoT, 0);
            java.util.Arrays.fill(memoMax, 0.0);
            java.util.Arrays.fill(memoSum, 0.0);
            memoRates = rates;
        }
        if (memoT[group] > t) {
            memoT[group] = 0;
            memoMax[group] = 0.0;
            memoSum[group] = 0.0;
        }
        double p = hp.get(group).power();
        while (memoT[group] < t) {
            long k = memoT[group] + 1;
            double eta = k == t ? lr : rates.at(group, k);
            memoMax[group] = Math.max(memoMax[group], eta);
            memoSum[group] += Math.pow(memoMax[group], p);
            memoT[group] = k;
        }
        double sum = memoSum[group];
        return sum == 0.0 ? 0.0 : Math.pow(memoMax[group], p) / sum;
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float b1 = sc[so + B1], omb1 = sc[so + OMB1], b2 = sc[so + B2], omb2 = sc[so + OMB2];
        final float bc2 = sc[so + BC2], eps = sc[so + EPS], wd = sc[so + WD], negLr = sc[so + NEG_LR];
        final float ca = sc[so + C], omc = sc[so + OMC];
        final boolean first = sc[so + FIRST] != 0f;
        final float[] y = c.w, g = c.g, z = c.s[0], v = c.s[1];
        final float gu = c.unscale, gk = c.clip;
        for (int i = c.from; i < c.to; i++) {
            float yi = y[i], gi = (g[i] * gu) * gk;
            float zi = first ? yi : z[i];
            float vi = Moments.second(v[i], gi, b2, omb2);
            float u = gi / ((float) Math.sqrt(vi / bc2) + eps);
            if (wd != 0f) {
                u = Math.fma(wd, yi, u);
            }
            float zn = Math.fma(negLr, u, zi);
            float x = Math.fma(-omb1, zi, yi) / b1;
            float xn = Math.fma(ca, zn, omc * x);
            y[i] = Math.fma(b1, xn, omb1 * zn);
            z[i] = zn;
            v[i] = vi;
        }
    }

    @Override
    public boolean hasEvalWeights() {
        return true;
    }

    @Override
    public void evalWeights(int group, float[] w, float[][] s, float[] out, int n) {
        Hyper h = hp.get(group);
        final float b1 = (float) h.beta1(), omb1 = (float) (1.0 - h.beta1());
        final float[] z = s[0];
        for (int i = 0; i < n; i++) {
            out[i] = Math.fma(-omb1, z[i], w[i]) / b1;
        }
    }

    @Override
    public String kernelFamily() {
        return "schedule_free_adamw";
    }
}

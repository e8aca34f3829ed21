package io.fusedopt.rule;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * NAdam (Dozat 2016) with PyTorch's momentum-decay schedule, as torch.optim.NAdam's multi-tensor path.
 *
 * <pre>
 * g = g + λ w;  m, v as in Adam;  μ_t = β1 (1 - 0.5 · 0.96^(t ψ));  Π_t = μ_1 ⋯ μ_t
 * D = sqrt(v) / sqrt(bc2) + ε
 * w = w - η (1-μ_t)/(1-Π_t) · g/D - η μ_{t+1}/(1 - Π_t μ_{t+1}) · m/D
 * </pre>
 *
 * <p>Per element: {@code g = fma(λ, w, g)} (λ != 0); m and v as Adam; {@code D = sqrt(v) / sqrt(bc2) + ε};
 * {@code w = fma(-c1, g / D, w)}; {@code w = fma(-c2, m / D, w)}. {@code Π_t} is kept in double and recomputed from
 * {@code t} when needed, so the scalars stay a function of the step.
 * Scalars: {@code [β1, 1-β1, β2, 1-β2, ε, λ, -c1, -c2, sqrt(bc2)]}.
 */
public final class NAdam extends GroupedRule {
    // Scalar indices after the moment head (0 .. 5, see GroupedRule.Moments).
    static final int NEG_C1 = 6, NEG_C2 = 7, SQRT_BC2 = 8, K = 9;
    private final long[] productStep;
    private final double[] product;

    /** Creates the rule; rejects invalid hyperparameters (momentumDecay must be finite and >= 0). */
    public NAdam(List<Hyper> groups, List<String> names) {
        super(groups, names);
        productStep = new long[groups.size()];
        product = new double[groups.size()];
        java.util.Arrays.fill(product, 1.0);
    }

    @Override
    protected void validate(Hyper h, String group) {
        super.validate(h, group);
        Hyper.check(prefix(group), () -> Check.nonNegative("momentumDecay", h.momentumDecay()));
    }

    @Override
    public String id() {
        return "nadam";
    }

    @Override
    public List<String> slots() {
        return List.of("exp_avg", "exp_avg_sq");
    }

    @Override
    public int scalarCount() {
        return K;
    }

    private static double mu(Hyper h, long t) {
        return h.beta1() * (1.0 - 0.5 * Math.pow(0.96, (double) t * h.momentumDecay()));
    }

    /** {@code Π_t}, advancing the cached product or recomputing it from step 1. */
    private synchronized double muProduct(int group, long t) {
        Hyper h = groups.get(group);
        if (productStep[group] > t) {
            productStep[group] = 0;
            product[group] = 1.0;
        }
        while (productStep[group] < t && product[group] != 0.0) {
            productStep[group]++;
            product[group] *= mu(h, productStep[group]);
        }
        productStep[group] = Math.max(productStep[group], t);
        return product[group];
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Hyper h = groups.get(group);
        double muT = mu(h, t), muNext = mu(h, t + 1);
        double prod = muProduct(group, t);
        double c1 = lr * (1.0 - muT) / (1.0 - prod);
        double c2 = lr * muNext / (1.0 - prod * muNext);
        momentHead(h, (float) h.weightDecay(), out, off);
        out[off + NEG_C1] = (float) -c1;
        out[off + NEG_C2] = (float) -c2;
        out[off + SQRT_BC2] = (float) Math.sqrt(biasCorrection(h.beta2(), t));
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float b1 = sc[so + Moments.B1], omb1 = sc[so + Moments.OMB1];
        final float b2 = sc[so + Moments.B2], omb2 = sc[so + Moments.OMB2];
        final float eps = sc[so + Moments.EPS], wd = sc[so + Moments.WD];
        final float negC1 = sc[so + NEG_C1], negC2 = sc[so + NEG_C2], sqrtBc2 = sc[so + SQRT_BC2];
        final float[] w = c.w, g = c.g, m = c.s[0], v = c.s[1];
        for (int i = c.from; i < c.to; i++) {
            float wi = w[i];
            float gi = wd != 0f ? Math.fma(wd, wi, g[i]) : g[i];
            float mi = Math.fma(b1, m[i], omb1 * gi);
            float vi = Math.fma(b2, v[i], (omb2 * gi) * gi);
            m[i] = mi;
            v[i] = vi;
            float d = (float) Math.sqrt(vi) / sqrtBc2 + eps;
            w[i] = Math.fma(negC2, mi / d, Math.fma(negC1, gi / d, wi));
        }
    }

    @Override
    public Map<String, Object> hyperparams(int group) {
        Map<String, Object> m = new LinkedHashMap<>(groups.get(group).adamKeys());
        m.put("momentum_decay", groups.get(group).momentumDecay());
        return m;
    }

    @Override
    public String kernelFamily() {
        return "nadam";
    }
}

package io.fusedopt.rule;

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
public final class NAdam extends Rule {
    // Scalar indices after the moment head (0 .. 5, see Moments).
    static final int NEG_C1 = 6, NEG_C2 = 7, SQRT_BC2 = 8, K = 9;
    private final long[] productStep;
    private final double[] product;
    private final List<Moments.Hyper> hp;
    private final double[] momentumDecay;

    /** NAdam as torch.optim.NAdam: lr 2e-3, betas (0.9, 0.999), eps 1e-8, momentum decay 4e-3. */
    public static final Algorithm ALGORITHM = Algorithm.builder("nadam", "nadam")
            .title("Nesterov Adam with momentum decay")
            .reference("Dozat 2016")
            .params(Params.join(Params.adamHead(2e-3, 1e-8, 0.0),
                    HyperParam.number("momentum_decay", "momentumDecay", 4e-3, HyperParam.Range.NON_NEGATIVE)))
            .demo("NAdam", 2e-3, false)
            .variant("nadam", Map.of(), 28)
            .factory(NAdam::new)
            .build();

    /** Creates the rule over validated values. */
    public NAdam(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.hp = groups.stream().map(Moments.Hyper::of).toList();
        this.momentumDecay = groups.stream().mapToDouble(v -> v.number("momentum_decay")).toArray();
        productStep = new long[groups.size()];
        product = new double[groups.size()];
        java.util.Arrays.fill(product, 1.0);
    }

    @Override
    public List<String> slots() {
        return List.of("exp_avg", "exp_avg_sq");
    }

    /** The second moment is a sum of squares. */
    @Override
    public SlotDomain slotDomain(int slot) {
        return slot == 1 ? SlotDomain.NON_NEGATIVE : SlotDomain.ANY;
    }

    @Override
    public int scalarCount() {
        return K;
    }

    private double mu(int group, long t) {
        return hp.get(group).beta1() * (1.0 - 0.5 * Math.pow(0.96, (double) t * momentumDecay[group]));
    }

    /** {@code Π_t}, advancing the cached product or recomputing it from step 1. */
    private synchronized double muProduct(int group, long t) {
        if (productStep[group] > t) {
            productStep[group] = 0;
            product[group] = 1.0;
        }
        while (productStep[group] < t && product[group] != 0.0) {
            productStep[group]++;
            product[group] *= mu(group, productStep[group]);
        }
        productStep[group] = Math.max(productStep[group], t);
        return product[group];
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Moments.Hyper h = hp.get(group);
        double muT = mu(group, t), muNext = mu(group, t + 1);
        double prod = muProduct(group, t);
        double c1 = lr * (1.0 - muT) / (1.0 - prod);
        double c2 = lr * muNext / (1.0 - prod * muNext);
        Moments.head(h, (float) h.weightDecay(), out, off);
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
        final float gu = c.unscale, gk = c.clip;
        for (int i = c.from; i < c.to; i++) {
            float wi = w[i];
            float gc = (g[i] * gu) * gk;
            float gi = wd != 0f ? Math.fma(wd, wi, gc) : gc;
            float mi = Moments.first(m[i], gi, b1, omb1);
            float vi = Moments.second(v[i], gi, b2, omb2);
            m[i] = mi;
            v[i] = vi;
            float d = (float) Math.sqrt(vi) / sqrtBc2 + eps;
            w[i] = Math.fma(negC2, mi / d, Math.fma(negC1, gi / d, wi));
        }
    }

    @Override
    public String kernelFamily() {
        return "nadam";
    }
}

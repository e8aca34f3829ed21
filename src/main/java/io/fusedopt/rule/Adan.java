package io.fusedopt.rule;

import io.fusedopt.core.LaunchConfig;
import io.fusedopt.rule.HyperParam.Range;
import java.util.List;
import java.util.Map;

/**
 * Adan (Xie et al. 2022, "Adaptive Nesterov Momentum"), as the authors' code with bias correction and
 * {@code optax.adan}'s structure, with the paper's coefficient {@code β2} on the gradient difference (optax 0.2.8
 * uses {@code 1 - β2} there; see the golden FORMAT.md) and the multiplicative decoupled decay ({@code no_prox}).
 *
 * <pre>
 * d = 0 at t = 1, else g - g_prev            (g_prev: the previous step's gradient, one more state slot)
 * m = β1 m + (1-β1) g
 * v = β2 v + (1-β2) d
 * n = β3 n + (1-β3) (g + β2 d)²
 * u = (m / bc1 + β2 v / bc2) / (sqrt(n / bc3 + eps_root) + eps)
 * w = w (1 - ηλ) - η u
 * g_prev = g
 * </pre>
 *
 * <p>The betas are the weights of the old values (close to 1), as in the authors' code and optax; the paper's
 * {@code β_k} is {@code 1 - β_k} here.
 *
 * <p>Per element, in this order: {@code d = first ? 0 : g - g_prev}; {@code m = fma(β1, m, (1-β1) * g)};
 * {@code v = fma(β2, v, (1-β2) * d)}; {@code q = fma(β2, d, g)}; {@code n = fma(β3, n, ((1-β3) * q) * q)};
 * {@code num = fma(β2/bc2, v, m / bc1)}; {@code den = sqrt(n / bc3 + eps_root) + eps};
 * {@code w = fma(-η, num / den, w * (1 - ηλ))}; {@code g_prev = g}.
 * Scalars: {@code [β1, 1-β1, β2, 1-β2, β3, 1-β3, bc1, β2/bc2, bc3, eps_root, eps, 1-ηλ, -η, first (1 at t = 1)]}.
 */
public final class Adan extends Rule {
    static final int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, B3 = 4, OMB3 = 5, BC1 = 6, B2_BC2 = 7, BC3 = 8,
            EPS_ROOT = 9, EPS = 10, DECAY = 11, NEG_LR = 12, FIRST = 13, K = 14;

    /** Adan: lr 1e-3, betas (0.98, 0.92, 0.99), eps 1e-8, eps_root 1e-8, weight decay 0, as optax.adan. */
    public static final Algorithm ALGORITHM = Algorithm.builder("adan", "adan")
            .title("Adan: adaptive Nesterov momentum")
            .reference("Xie et al. 2022")
            .params(Params.lr(1e-3),
                    HyperParam.numbers("betas", List.of("beta1", "beta2", "beta3"), List.of(0.98, 0.92, 0.99),
                            Range.UNIT),
                    Params.eps(1e-8),
                    HyperParam.number("eps_root", "epsRoot", 1e-8, Range.NON_NEGATIVE),
                    Params.weightDecay(0.0))
            // One update pass over w, g and four slots (m, v, n, g_prev), each read and written: 12 + 4 * 8.
            .variant("adan", Map.of(), 44)
            .demo("Adan", 1e-3, false)
            .factory(Adan::new)
            .build();

    /** One group's typed hyperparameters. */
    private record Hyper(double beta1, double beta2, double beta3, double eps, double epsRoot, double weightDecay) {
    }

    private final List<Hyper> hp;

    /** Creates the rule over validated values. */
    public Adan(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.hp = groups.stream().map(v -> new Hyper(v.number("betas", 0), v.number("betas", 1),
                v.number("betas", 2), v.number("eps"), v.number("eps_root"), v.number("weight_decay"))).toList();
    }

    @Override
    public List<String> slots() {
        return List.of("exp_avg", "exp_avg_diff", "exp_avg_sq", "prev_grad");
    }

    @Override
    public int scalarCount() {
        return K;
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Hyper h = hp.get(group);
        out[off + B1] = (float) h.beta1();
        out[off + OMB1] = (float) (1.0 - h.beta1());
        out[off + B2] = (float) h.beta2();
        out[off + OMB2] = (float) (1.0 - h.beta2());
        out[off + B3] = (float) h.beta3();
        out[off + OMB3] = (float) (1.0 - h.beta3());
        out[off + BC1] = (float) biasCorrection(h.beta1(), t);
        out[off + B2_BC2] = (float) (h.beta2() / biasCorrection(h.beta2(), t));
        out[off + BC3] = (float) biasCorrection(h.beta3(), t);
        out[off + EPS_ROOT] = (float) h.epsRoot();
        out[off + EPS] = (float) h.eps();
        out[off + DECAY] = (float) (1.0 - lr * h.weightDecay());
        out[off + NEG_LR] = (float) -lr;
        out[off + FIRST] = t == 1 ? 1f : 0f;
    }

    /**
     * The per-element update of the class description. In one loop it is too large for C2 to unroll (and so to
     * vectorise), so each block of {@link LaunchConfig#LANES} elements, small enough to stay in the L1 cache, is
     * updated in two loops: the first stores d's consequences (v, n, g_prev), the second reads v and n back and
     * updates m and w. Every value comes from the same operations as in one loop (the second recomputes the
     * denominator from the stored n), so the bits are those of the CUDA rule, and memory traffic stays one read
     * and one write of each buffer.
     */
    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float b1 = sc[so + B1], omb1 = sc[so + OMB1], b2 = sc[so + B2], omb2 = sc[so + OMB2];
        final float b3 = sc[so + B3], omb3 = sc[so + OMB3], bc1 = sc[so + BC1], b2bc2 = sc[so + B2_BC2];
        final float bc3 = sc[so + BC3], epsRoot = sc[so + EPS_ROOT], eps = sc[so + EPS];
        final float decay = sc[so + DECAY], negLr = sc[so + NEG_LR];
        final boolean first = sc[so + FIRST] != 0f;
        final float[] w = c.w, g = c.g, m = c.s[0], v = c.s[1], n = c.s[2], gp = c.s[3];
        final float gu = c.unscale, gk = c.clip;
        for (int base = c.from; base < c.to; base += LaunchConfig.LANES) {
            final int end = Math.min(base + LaunchConfig.LANES, c.to);
            for (int i = base; i < end; i++) {
                float gi = (g[i] * gu) * gk;
                float d = first ? 0f : gi - gp[i];
                v[i] = Moments.first(v[i], d, b2, omb2);
                float q = Math.fma(b2, d, gi);
                n[i] = Moments.second(n[i], q, b3, omb3);
                gp[i] = gi;
            }
            for (int i = base; i < end; i++) {
                float mi = Moments.first(m[i], (g[i] * gu) * gk, b1, omb1);
                float num = Math.fma(b2bc2, v[i], mi / bc1);
                float den = (float) Math.sqrt(n[i] / bc3 + epsRoot) + eps;
                w[i] = Math.fma(negLr, num / den, w[i] * decay);
                m[i] = mi;
            }
        }
    }

    @Override
    public String kernelFamily() {
        return "adan";
    }
}

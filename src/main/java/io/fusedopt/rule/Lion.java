package io.fusedopt.rule;

import java.util.List;
import java.util.Map;

/**
 * Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2; as optax.lion): the sign of
 * an interpolation between the momentum and the gradient, with decoupled weight decay.
 *
 * <pre>
 * c = β1 m + (1 - β1) g                       (m from the previous step)
 * w = w (1 - η λ) - η sign(c)                 sign(0) = 0
 * m = β2 m + (1 - β2) g
 * </pre>
 *
 * <p>Per element, in this order: {@code c = fma(β1, m, (1-β1) * g)}; {@code s = min(max((c * 2^100) * 2^49, -1), 1)},
 * which is {@code sign(c)} exactly (every non-zero float has {@code |c| >= 2^-149}, so the scaled value reaches the
 * clamp; ±0 and NaN pass through), written so because C2 vectorises {@code Math.min/max}
 * ({@code fo_min}/{@code fo_max} in CUDA); {@code w = fma(-η, s, w * (1 - ηλ))}; {@code m = fma(β2, m, (1-β2) * g)}.
 * Scalars: {@code [β1, 1-β1, β2, 1-β2, 1-ηλ, -η]}.
 */
public final class Lion extends Rule {
    static final int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, DECAY = 4, NEG_LR = 5, K = 6;

    /** Lion: lr 1e-4, betas (0.9, 0.99), weight decay 0 (decoupled, scaled by the rate). */
    public static final Algorithm ALGORITHM = Algorithm.builder("lion", "lion")
            .title("Lion: the sign of interpolated momentum")
            .reference("Chen et al. 2023")
            .params(Params.lr(1e-4), Params.betas(0.9, 0.99), Params.weightDecay(0.0))
            .variant("lion", Map.of(), 20)
            .demo("Lion", 3e-4, false)
            .factory(Lion::new)
            .build();

    /** One group's typed hyperparameters. */
    private record Hyper(double beta1, double beta2, double weightDecay) {
    }

    private final List<Hyper> hp;

    /** Creates the rule over validated values. */
    public Lion(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.hp = groups.stream().map(v -> new Hyper(v.number("betas", 0), v.number("betas", 1),
                v.number("weight_decay"))).toList();
    }

    @Override
    public List<String> slots() {
        return List.of("exp_avg");
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
        out[off + DECAY] = (float) (1.0 - lr * h.weightDecay());
        out[off + NEG_LR] = (float) -lr;
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float b1 = sc[so + B1], omb1 = sc[so + OMB1], b2 = sc[so + B2], omb2 = sc[so + OMB2];
        final float decay = sc[so + DECAY], negLr = sc[so + NEG_LR];
        final float[] w = c.w, g = c.g, m = c.s[0];
        final float gu = c.unscale, gk = c.clip;
        for (int i = c.from; i < c.to; i++) {
            float gi = (g[i] * gu) * gk;
            float mi = m[i];
            float s = Math.min(Math.max(Moments.first(mi, gi, b1, omb1) * 0x1p100f * 0x1p49f, -1f), 1f);
            w[i] = Math.fma(negLr, s, w[i] * decay);
            m[i] = Moments.first(mi, gi, b2, omb2);
        }
    }

    @Override
    public String kernelFamily() {
        return "lion";
    }
}

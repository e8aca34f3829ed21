package io.fusedopt.rule;

import java.util.List;
import java.util.Map;

/**
 * Yogi (Zaheer et al. 2018), as torch_optimizer.Yogi and optax: both moments start at {@code initial_accumulator}.
 *
 * <pre>
 * g = g + λ w;   m = β1 m + (1-β1) g;   v = v - (1-β2) sign(v - g²) g²
 * w = w - η/bc1 · m / (sqrt(v)/sqrt(bc2) + ε)
 * </pre>
 *
 * <p>Per element: {@code g = fma(λ, w, g)} (λ != 0); {@code m = fma(β1, m, (1-β1) * g)}; {@code q = g * g};
 * {@code u = Math.min(Math.max((v - q) * 2^26, -q), q)}, which is {@code sign(v - q) q}: for floats {@code v, q >= 0}
 * with {@code v != q}, {@code |v - q| >= q / 2^25}, so the scaled difference always reaches the clamp, and
 * {@code v == q} gives +0; written so because C2 vectorises {@code Math.min/max} but not a chain of comparisons
 * ({@code fo_min}/{@code fo_max} in CUDA). As {@code torch.sign}, {@code v = q = inf} gives NaN;
 * {@code v = fma(-(1-β2), u, v)}; {@code w = fma(-η/bc1, m / (sqrt(v) / sqrt(bc2) + ε), w)}.
 * Scalars: {@code [β1, 1-β1, -(1-β2), ε, λ, -η/bc1, sqrt(bc2)]}.
 */
public final class Yogi extends Rule {
    static final int B1 = 0, OMB1 = 1, NEG_OMB2 = 2, EPS = 3, WD = 4, NEG_STEP = 5, SQRT_BC2 = 6, K = 7;

    private final List<Moments.Hyper> hp;
    private final double[] initialAccumulator;

    /** Yogi as torch_optimizer: lr 1e-2, eps 1e-3, initial accumulator 1e-6. */
    public static final Algorithm ALGORITHM = Algorithm.builder("yogi", "yogi")
            .title("Yogi")
            .reference("Zaheer et al. 2018")
            .params(Params.join(Params.adamHead(1e-2, 1e-3, 0.0),
                    HyperParam.number("initial_accumulator", "initialAccumulator", 1e-6,
                            HyperParam.Range.NON_NEGATIVE)))
            .demo("Yogi", 1e-2, true)
            .variant("yogi", Map.of(), 28)
            .factory(Yogi::new)
            .build();

    /** Creates the rule over validated values. */
    public Yogi(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.hp = groups.stream().map(Moments.Hyper::of).toList();
        this.initialAccumulator = groups.stream().mapToDouble(v -> v.number("initial_accumulator")).toArray();
    }

    @Override
    public List<String> slots() {
        return List.of("exp_avg", "exp_avg_sq");
    }

    @Override
    public float slotInit(int slot, int group) {
        return (float) initialAccumulator[group];
    }

    /** Yogi's v moves towards g*g by at most (1-b2) g*g from a non-negative start, so it stays >= 0. */
    @Override
    public SlotDomain slotDomain(int slot) {
        return slot == 1 ? SlotDomain.NON_NEGATIVE : SlotDomain.ANY;
    }

    @Override
    public int scalarCount() {
        return K;
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Moments.Hyper h = hp.get(group);
        out[off + B1] = (float) h.beta1();
        out[off + OMB1] = (float) (1.0 - h.beta1());
        out[off + NEG_OMB2] = (float) -(1.0 - h.beta2());
        out[off + EPS] = (float) h.eps();
        out[off + WD] = (float) h.weightDecay();
        out[off + NEG_STEP] = (float) (-lr / biasCorrection(h.beta1(), t));
        out[off + SQRT_BC2] = (float) Math.sqrt(biasCorrection(h.beta2(), t));
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float b1 = sc[so + B1], omb1 = sc[so + OMB1], negOmb2 = sc[so + NEG_OMB2], eps = sc[so + EPS];
        final float wd = sc[so + WD], negStep = sc[so + NEG_STEP], sqrtBc2 = sc[so + SQRT_BC2];
        final float[] w = c.w, g = c.g, m = c.s[0], v = c.s[1];
        final float gu = c.unscale, gk = c.clip;
        for (int i = c.from; i < c.to; i++) {
            float wi = w[i];
            float gc = (g[i] * gu) * gk;
            float gi = wd != 0f ? Math.fma(wd, wi, gc) : gc;
            float mi = Moments.first(m[i], gi, b1, omb1);
            float q = gi * gi;
            float vi = v[i];
            float u = Math.min(Math.max((vi - q) * 0x1p26f, -q), q);
            vi = Math.fma(negOmb2, u, vi);
            m[i] = mi;
            v[i] = vi;
            w[i] = Math.fma(negStep, mi / ((float) Math.sqrt(vi) / sqrtBc2 + eps), wi);
        }
    }

    @Override
    public String kernelFamily() {
        return "yogi";
    }
}

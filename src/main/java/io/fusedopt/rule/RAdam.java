package io.fusedopt.rule;

import java.util.List;
import java.util.Map;

/**
 * RAdam (Liu et al. 2020), as torch.optim.RAdam 1.13: L2 weight decay, rectified once {@code ρ_t > 5}.
 *
 * <pre>
 * g = g + λ w;  m, v as in Adam;  ρ∞ = 2/(1-β2) - 1;  ρ_t = ρ∞ - 2 t β2^t / bc2
 * ρ_t > 5:  r = sqrt((ρ_t-4)(ρ_t-2)ρ∞ / ((ρ∞-4)(ρ∞-2)ρ_t));   w = w - η r sqrt(bc2)/bc1 · m / (sqrt(v) + ε)
 * else:     w = w - η/bc1 · m
 * </pre>
 *
 * <p>Per element: {@code g = fma(λ, w, g)} (λ != 0); m and v as Adam; rectified:
 * {@code w = fma(-c, m / (sqrt(v) + ε), w)}, else {@code w = fma(-c, m, w)}; {@code c} holds the whole coefficient.
 * Scalars: {@code [β1, 1-β1, β2, 1-β2, ε, λ, rectified (0/1), -c]}.
 */
public final class RAdam extends Rule {
    // Scalar indices after the moment head (0 .. 5, see Moments).
    static final int RECT = 6, NEG_C = 7, K = 8;

    private final List<Moments.Hyper> hp;

    /** RAdam as torch.optim.RAdam: lr 1e-3, betas (0.9, 0.999), eps 1e-8, L2 weight decay 0. */
    public static final Algorithm ALGORITHM = Algorithm.builder("radam", "radam")
            .title("Rectified Adam")
            .reference("Liu et al. 2020")
            .params(Params.adamHead(1e-3, 1e-8, 0.0))
            .demo("RAdam", 1e-3, true)
            .variant("radam", Map.of(), 28)
            .factory(RAdam::new)
            .build();

    /** Creates the rule over validated values. */
    public RAdam(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.hp = groups.stream().map(Moments.Hyper::of).toList();
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

    /** {@code ρ_t} of the RAdam rectification, in double. */
    static double rho(double beta2, long t) {
        double rhoInf = 2.0 / (1.0 - beta2) - 1.0;
        double b2t = Math.pow(beta2, (double) t);
        return rhoInf - 2.0 * (double) t * b2t / (1.0 - b2t);
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Moments.Hyper h = hp.get(group);
        double bc1 = biasCorrection(h.beta1(), t), bc2 = biasCorrection(h.beta2(), t);
        double rhoInf = 2.0 / (1.0 - h.beta2()) - 1.0;
        double rhoT = rho(h.beta2(), t);
        boolean rect = rhoT > 5.0;
        double c;
        if (rect) {
            double r = Math.sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
            c = lr * r * Math.sqrt(bc2) / bc1;
        } else {
            c = lr / bc1;
        }
        Moments.head(h, (float) h.weightDecay(), out, off);
        out[off + RECT] = rect ? 1f : 0f;
        out[off + NEG_C] = (float) -c;
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float b1 = sc[so + Moments.B1], omb1 = sc[so + Moments.OMB1];
        final float b2 = sc[so + Moments.B2], omb2 = sc[so + Moments.OMB2];
        final float eps = sc[so + Moments.EPS], wd = sc[so + Moments.WD], negC = sc[so + NEG_C];
        final boolean rect = sc[so + RECT] != 0f;
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
            w[i] = rect ? Math.fma(negC, mi / ((float) Math.sqrt(vi) + eps), wi) : Math.fma(negC, mi, wi);
        }
    }

    @Override
    public String kernelFamily() {
        return "radam";
    }
}

package io.fusedopt.rule;

import io.fusedopt.core.LaunchConfig;
import io.fusedopt.rule.HyperParam.Range;
import java.util.List;
import java.util.Map;

/**
 * LARS (You et al. 2017, "Large Batch Training of Convolutional Networks"), as {@code optax.lars}: SGD momentum on
 * a direction scaled per tensor by a trust ratio, the rate inside the momentum trace.
 *
 * <pre>
 * d = g + λ w
 * trust = tc ‖w‖ / (‖d‖ + eps)   if ‖w‖ > 0 and ‖d‖ > 0, else 1      (‖w‖ of the pre-step weights)
 * u = -η trust d
 * b = u + μ b
 * w = w + (u + μ b  if nesterov  else  b)
 * </pre>
 *
 * <p>A group with {@code trust_ratio=false} takes trust 1: the usual exclusion of biases and normalisation layers
 * (optax's {@code trust_ratio_mask}), together with {@code weight_decay=0} for their decay.
 *
 * <p>Two passes, as LAMB. The norm pass changes nothing and accumulates {@code w²} and {@code d²} per tensor in the
 * order of {@link Reduce}; the trust ratio is computed in double from the tensor's sums. Per element, in this
 * order: {@code d = fma(λ, w, g)} (λ != 0); norm pass {@code fma(w, w, ·)}, {@code fma(d, d, ·)}; update
 * {@code u = negStep * d} with {@code negStep = -(η * (float) trust)}; {@code b = fma(μ, b, u)};
 * {@code w = w + (nesterov ? fma(μ, b, u) : b)}.
 * Scalars: {@code [λ, μ, nesterov (0/1), η]}; finish scalars {@code [tc, eps, trust_ratio (0/1)]}; tensor state
 * {@code [trust]}.
 */
public final class Lars extends TrustRatioRule {
    static final int WD = 0, MU = 1, NESTEROV = 2, LR = 3, K = 4;
    static final int TC = 0, EPS = 1, ENABLED = 2, FK = 3;

    /**
     * LARS: lr 1 (the trust coefficient sets the scale; optax has no default rate), momentum 0.9, no Nesterov,
     * weight decay 0, trust coefficient 0.001, eps 0, trust ratio on, as optax.lars.
     */
    public static final Algorithm ALGORITHM = Algorithm.builder("lars", "lars")
            .title("LARS: momentum with a per-tensor trust ratio")
            .reference("You et al. 2017")
            .params(Params.lr(1.0),
                    HyperParam.number("momentum", "momentum", 0.9, Range.UNIT),
                    HyperParam.flag("nesterov", "nesterov", false, false),
                    Params.weightDecay(0.0),
                    HyperParam.number("trust_coefficient", "trustCoefficient", 0.001, Range.POSITIVE),
                    HyperParam.number("eps", "eps", 0.0, Range.NON_NEGATIVE),
                    HyperParam.flag("trust_ratio", "trustRatio", true, false))
            // Norm pass: read w, g (8); update: read w, g, b, write w, b (20).
            .variant("lars", Map.of(), 28)
            .demo("LARS", 1.0, false)
            .factory(Lars::new)
            .build();

    /** One group's typed hyperparameters. */
    private record Hyper(double momentum, boolean nesterov, double weightDecay, double trustCoefficient, double eps,
            boolean trustRatio) {
    }

    private final List<Hyper> hp;

    /** Creates the rule over validated values. */
    public Lars(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.hp = groups.stream().map(v -> new Hyper(v.number("momentum"), v.flag("nesterov"),
                v.number("weight_decay"), v.number("trust_coefficient"), v.number("eps"), v.flag("trust_ratio")))
                .toList();
    }

    @Override
    public List<String> slots() {
        return List.of("momentum_buffer");
    }

    /** The norm pass reads only w and g. */
    @Override
    public int normSlotsRead() {
        return 0;
    }

    @Override
    public int scalarCount() {
        return K;
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Hyper h = hp.get(group);
        out[off + WD] = (float) h.weightDecay();
        out[off + MU] = (float) h.momentum();
        out[off + NESTEROV] = h.nesterov() ? 1f : 0f;
        out[off + LR] = (float) lr;
    }

    @Override
    public int finishScalarCount() {
        return FK;
    }

    @Override
    public void finishScalars(int group, long t, double lr, double[] out, int off) {
        Hyper h = hp.get(group);
        out[off + TC] = h.trustCoefficient();
        out[off + EPS] = h.eps();
        out[off + ENABLED] = h.trustRatio() ? 1.0 : 0.0;
    }

    @Override
    public void normChunk(Chunk c, float[] sc, int so) {
        final float wd = sc[so + WD];
        final float[] w = c.w, la = c.laneA, lb = c.laneB;
        final float[] rw = c.rows[0], rg = c.rows[1];
        for (int base = c.from; base < c.to; base += LaunchConfig.LANES) {
            int n = Math.min(LaunchConfig.LANES, c.to - base);
            System.arraycopy(w, base, rw, 0, n);
            c.gradients(base, rg, n);
            for (int l = 0; l < n; l++) {
                float wi = rw[l];
                float d = wd != 0f ? Math.fma(wd, wi, rg[l]) : rg[l];
                la[l] = Math.fma(wi, wi, la[l]);
                lb[l] = Math.fma(d, d, lb[l]);
            }
        }
    }

    @Override
    public void finishTensor(double sumA, double sumB, double[] fs, int fo, double[] ts, int off) {
        double wn = Math.sqrt(sumA), dn = Math.sqrt(sumB);
        ts[off] = fs[fo + ENABLED] != 0.0 && wn > 0 && dn > 0 ? fs[fo + TC] * wn / (dn + fs[fo + EPS]) : 1.0;
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float wd = sc[so + WD], mu = sc[so + MU];
        final boolean nesterov = sc[so + NESTEROV] != 0f;
        final float negStep = -(sc[so + LR] * (float) ts[c.tensor]);
        final float[] w = c.w, g = c.g, b = c.s[0];
        final float gu = c.unscale, gk = c.clip;
        for (int i = c.from; i < c.to; i++) {
            float wi = w[i];
            float gc = (g[i] * gu) * gk;
            float d = wd != 0f ? Math.fma(wd, wi, gc) : gc;
            float u = negStep * d;
            float bi = Math.fma(mu, b[i], u);
            b[i] = bi;
            w[i] = wi + (nesterov ? Math.fma(mu, bi, u) : bi);
        }
    }

    @Override
    public String kernelFamily() {
        return "lars";
    }
}

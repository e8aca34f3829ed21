package io.fusedopt.rule;

import java.util.List;
import java.util.Map;

/**
 * AdaBound and AMSBound (Luo et al. 2019), with the semantics of Luolc/AdaBound; {@code final_lr} follows the
 * schedule.
 *
 * <pre>
 * g = g + λ w;  m, v as in Adam;  V = v, or the running maximum (AMSBound)
 * f = final_lr · η / η0;   lo = f (1 - 1/(γ t + 1));   hi = f (1 + 1/(γ t))
 * w = w - clamp(η sqrt(bc2)/bc1 / (sqrt(V) + ε), lo, hi) · m
 * </pre>
 *
 * <p>Per element: {@code g = fma(λ, w, g)} (λ != 0); m, v, vmax as Adam;
 * {@code x = Math.min(Math.max(step / (sqrt(V) + ε), lo), hi)} ({@code fo_min}/{@code fo_max} in CUDA); {@code w = fma(-x, m, w)}.
 * Scalars: {@code [β1, 1-β1, β2, 1-β2, ε, λ, step, lo, hi]}.
 */
public final class AdaBound extends Rule {
    // Scalar indices after the moment head (0 .. 5, see Moments).
    static final int STEP = 6, LO = 7, HI = 8, K = 9;
    private final boolean amsbound;
    private final List<Moments.Hyper> hp;
    private final double[] finalLr;
    private final double[] gamma;
    private final double[] lr0;

    /** AdaBound as Luolc/AdaBound: lr 1e-3, final lr 0.1, gamma 1e-3; {@code amsbound} adds the maximum. */
    public static final Algorithm ALGORITHM = Algorithm.builder("adabound", "adabound")
            .title("AdaBound, AMSBound (`amsbound`)")
            .reference("Luo et al. 2019")
            .params(Params.join(Params.adamHead(1e-3, 1e-8, 0.0),
                    HyperParam.number("final_lr", "finalLr", 0.1, HyperParam.Range.NON_NEGATIVE),
                    HyperParam.number("gamma", "gamma", 1e-3, HyperParam.Range.POSITIVE),
                    HyperParam.flag("amsbound", "amsbound", false, true)))
            .alias("amsbound", Map.of("amsbound", true))
            .variant("adabound", Map.of(), 28)
            .variant("amsbound", Map.of("amsbound", true), 36)
            .demo("AdaBound", 1e-3, true)
            .factory(AdaBound::new)
            .build();

    /** Creates the rule; rejects lr 0, by which the final rate could not be scaled. */
    public AdaBound(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.amsbound = groups.get(0).flag("amsbound");
        this.hp = groups.stream().map(Moments.Hyper::of).toList();
        int n = groups.size();
        this.finalLr = new double[n];
        this.gamma = new double[n];
        this.lr0 = new double[n];
        for (int i = 0; i < n; i++) {
            finalLr[i] = groups.get(i).number("final_lr");
            gamma[i] = groups.get(i).number("gamma");
            lr0[i] = groups.get(i).number("lr");
            if (lr0[i] == 0) {
                throw new IllegalArgumentException(prefix(i)
                        + "lr must be > 0 for adabound (finalLr is scaled by lr/lr0), got 0.0");
            }
        }
    }

    @Override
    public List<String> slots() {
        return amsbound ? List.of("exp_avg", "exp_avg_sq", "max_exp_avg_sq") : List.of("exp_avg", "exp_avg_sq");
    }

    /** The second moment and its running maximum are sums of squares. */
    @Override
    public SlotDomain slotDomain(int slot) {
        return slot >= 1 ? SlotDomain.NON_NEGATIVE : SlotDomain.ANY;
    }

    @Override
    public int scalarCount() {
        return K;
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Moments.Hyper h = hp.get(group);
        double bc1 = biasCorrection(h.beta1(), t), bc2 = biasCorrection(h.beta2(), t);
        double f = finalLr[group] * lr / lr0[group];
        double gt = gamma[group] * (double) t;
        Moments.head(h, (float) h.weightDecay(), out, off);
        out[off + STEP] = (float) (lr * Math.sqrt(bc2) / bc1);
        out[off + LO] = (float) (f * (1.0 - 1.0 / (gt + 1.0)));
        out[off + HI] = (float) (f * (1.0 + 1.0 / gt));
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float b1 = sc[so + Moments.B1], omb1 = sc[so + Moments.OMB1];
        final float b2 = sc[so + Moments.B2], omb2 = sc[so + Moments.OMB2];
        final float eps = sc[so + Moments.EPS], wd = sc[so + Moments.WD];
        final float step = sc[so + STEP], lo = sc[so + LO], hi = sc[so + HI];
        final float[] w = c.w, g = c.g, m = c.s[0], v = c.s[1];
        final float gu = c.unscale, gk = c.clip;
        final float[] vmax = amsbound ? c.s[2] : null;
        for (int i = c.from; i < c.to; i++) {
            float wi = w[i];
            float gc = (g[i] * gu) * gk;
            float gi = wd != 0f ? Math.fma(wd, wi, gc) : gc;
            float mi = Moments.first(m[i], gi, b1, omb1);
            float vi = Moments.second(v[i], gi, b2, omb2);
            m[i] = mi;
            v[i] = vi;
            float big = vi;
            if (vmax != null) {
                big = Math.max(vi, vmax[i]);
                vmax[i] = big;
            }
            float x = Math.min(Math.max(step / ((float) Math.sqrt(big) + eps), lo), hi);
            w[i] = Math.fma(-x, mi, wi);
        }
    }

    @Override
    public String kernelFamily() {
        return amsbound ? "amsbound" : "adabound";
    }
}

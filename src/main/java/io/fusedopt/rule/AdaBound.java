package io.fusedopt.rule;

import java.util.LinkedHashMap;
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
public final class AdaBound extends GroupedRule {
    // Scalar indices after the moment head (0 .. 5, see GroupedRule.Moments).
    static final int STEP = 6, LO = 7, HI = 8, K = 9;
    private final boolean amsbound;

    /** Creates the rule; rejects invalid hyperparameters (finalLr finite and >= 0, gamma finite and > 0). */
    public AdaBound(boolean amsbound, List<Hyper> groups, List<String> names) {
        super(groups, names);
        this.amsbound = amsbound;
    }

    @Override
    protected void validate(Hyper h, String group) {
        super.validate(h, group);
        Hyper.check(prefix(group), () -> Check.nonNegative("finalLr", h.finalLr()));
        Hyper.check(prefix(group), () -> Check.positive("gamma", h.gamma()));
        if (h.lr() == 0) {
            throw new IllegalArgumentException(prefix(group) + "lr must be > 0 for adabound (finalLr is scaled by lr/lr0), got 0.0");
        }
    }

    @Override
    public String id() {
        return "adabound";
    }

    @Override
    public List<String> slots() {
        return amsbound ? List.of("exp_avg", "exp_avg_sq", "max_exp_avg_sq") : List.of("exp_avg", "exp_avg_sq");
    }

    @Override
    public int scalarCount() {
        return K;
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Hyper h = groups.get(group);
        double bc1 = biasCorrection(h.beta1(), t), bc2 = biasCorrection(h.beta2(), t);
        double f = h.finalLr() * lr / h.lr();
        double gt = h.gamma() * (double) t;
        momentHead(h, (float) h.weightDecay(), out, off);
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
        final float[] vmax = amsbound ? c.s[2] : null;
        for (int i = c.from; i < c.to; i++) {
            float wi = w[i];
            float gi = wd != 0f ? Math.fma(wd, wi, g[i]) : g[i];
            float mi = Math.fma(b1, m[i], omb1 * gi);
            float vi = Math.fma(b2, v[i], (omb2 * gi) * gi);
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
    public Map<String, Object> hyperparams(int group) {
        Hyper h = groups.get(group);
        Map<String, Object> m = new LinkedHashMap<>(h.adamKeys());
        m.put("final_lr", h.finalLr());
        m.put("gamma", h.gamma());
        m.put("amsbound", amsbound);
        return m;
    }

    @Override
    public String kernelFamily() {
        return amsbound ? "amsbound" : "adabound";
    }
}

package io.fusedopt.rule;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Adam (Kingma and Ba 2015) with L2 weight decay ({@code adam}) or decoupled weight decay ({@code adamw},
 * Loshchilov and Hutter 2019), optionally with the AMSGrad maximum (Reddi et al. 2018).
 *
 * <pre>
 * adam:  g = g + λ w (λ != 0)            adamw: w = w (1 - η λ)
 * m = β1 m + (1 - β1) g;   v = β2 v + (1 - β2) g²;   V = v, or vmax = max(vmax, v) with AMSGrad
 * w = w - (η / bc1) · m / (sqrt(V) / sqrt(bc2) + ε)          bc_i = 1 - β_i^t
 * </pre>
 *
 * <p>Per element: {@code g = fma(λ, w, g)} (adam, λ != 0) or {@code w = w * (1 - ηλ)} (adamw);
 * {@code m = fma(β1, m, (1-β1) * g)}; {@code v = fma(β2, v, ((1-β2) * g) * g)}; {@code vmax = Math.max(v, vmax)} ({@code fo_max} in CUDA);
 * {@code w = fma(-η/bc1, m / (sqrt(V) / sqrt(bc2) + ε), w)}.
 *
 * <p>Scalars: {@code [β1, 1-β1, β2, 1-β2, ε, λ or 0, 1-ηλ or 1, -η/bc1, sqrt(bc2)]}.
 */
public final class Adam extends GroupedRule {
    // Scalar indices after the moment head (0 .. 5, see GroupedRule.Moments).
    static final int DECAY = 6, NEG_STEP = 7, SQRT_BC2 = 8, K = 9;
    private final boolean decoupled;
    private final boolean amsgrad;

    /** Creates the rule; rejects invalid hyperparameters, naming the group, field and value. */
    public Adam(boolean decoupled, boolean amsgrad, List<Hyper> groups, List<String> names) {
        super(groups, names);
        this.decoupled = decoupled;
        this.amsgrad = amsgrad;
    }


    @Override
    public String id() {
        return decoupled ? "adamw" : "adam";
    }

    @Override
    public List<String> slots() {
        return amsgrad ? List.of("exp_avg", "exp_avg_sq", "max_exp_avg_sq") : List.of("exp_avg", "exp_avg_sq");
    }

    @Override
    public int scalarCount() {
        return K;
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Hyper h = groups.get(group);
        momentHead(h, decoupled ? 0f : (float) h.weightDecay(), out, off);
        out[off + DECAY] = decoupled ? (float) (1.0 - lr * h.weightDecay()) : 1f;
        out[off + NEG_STEP] = (float) (-lr / biasCorrection(h.beta1(), t));
        out[off + SQRT_BC2] = (float) Math.sqrt(biasCorrection(h.beta2(), t));
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float b1 = sc[so + Moments.B1], omb1 = sc[so + Moments.OMB1];
        final float b2 = sc[so + Moments.B2], omb2 = sc[so + Moments.OMB2];
        final float eps = sc[so + Moments.EPS], wd = sc[so + Moments.WD], decay = sc[so + DECAY];
        final float negStep = sc[so + NEG_STEP], sqrtBc2 = sc[so + SQRT_BC2];
        final float[] w = c.w, g = c.g, m = c.s[0], v = c.s[1];
        final int to = c.to;
        if (amsgrad) {
            final float[] vmax = c.s[2];
            for (int i = c.from; i < to; i++) {
                float wi = decoupled ? w[i] * decay : w[i];
                float gi = (!decoupled && wd != 0f) ? Math.fma(wd, wi, g[i]) : g[i];
                float mi = Math.fma(b1, m[i], omb1 * gi);
                float vi = Math.fma(b2, v[i], (omb2 * gi) * gi);
                float vm = Math.max(vi, vmax[i]);
                m[i] = mi;
                v[i] = vi;
                vmax[i] = vm;
                w[i] = Math.fma(negStep, mi / ((float) Math.sqrt(vm) / sqrtBc2 + eps), wi);
            }
        } else if (decoupled) {
            for (int i = c.from; i < to; i++) {
                float wi = w[i] * decay;
                float gi = g[i];
                float mi = Math.fma(b1, m[i], omb1 * gi);
                float vi = Math.fma(b2, v[i], (omb2 * gi) * gi);
                m[i] = mi;
                v[i] = vi;
                w[i] = Math.fma(negStep, mi / ((float) Math.sqrt(vi) / sqrtBc2 + eps), wi);
            }
        } else {
            for (int i = c.from; i < to; i++) {
                float wi = w[i];
                float gi = wd != 0f ? Math.fma(wd, wi, g[i]) : g[i];
                float mi = Math.fma(b1, m[i], omb1 * gi);
                float vi = Math.fma(b2, v[i], (omb2 * gi) * gi);
                m[i] = mi;
                v[i] = vi;
                w[i] = Math.fma(negStep, mi / ((float) Math.sqrt(vi) / sqrtBc2 + eps), wi);
            }
        }
    }

    @Override
    public Map<String, Object> hyperparams(int group) {
        Map<String, Object> m = new LinkedHashMap<>(groups.get(group).adamKeys());
        m.put("amsgrad", amsgrad);
        return m;
    }

    @Override
    public String kernelFamily() {
        return (decoupled ? "adamw" : "adam") + (amsgrad ? "_amsgrad" : "");
    }
}

package io.fusedopt.rule;

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
public final class Adam extends Rule {
    // Scalar indices after the moment head (0 .. 5, see Moments).
    static final int DECAY = 6, NEG_STEP = 7, SQRT_BC2 = 8, K = 9;

    /** Adam with L2 decay: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0, amsgrad false. */
    public static final Algorithm ADAM = describe("adam", 0.0, false);
    /** AdamW: as Adam, with decoupled weight decay 1e-2. */
    public static final Algorithm ADAMW = describe("adamw", 1e-2, true);

    private final boolean decoupled;
    private final boolean amsgrad;
    private final List<Moments.Hyper> hp;

    private static Algorithm describe(String id, double weightDecay, boolean decoupled) {
        return Algorithm.builder(id, "adam")
                .title(decoupled ? "AdamW (`.amsgrad(true)`: AMSGrad)" : "Adam (`.amsgrad(true)`: AMSGrad)")
                .reference(decoupled ? "Loshchilov & Hutter 2019; Reddi et al. 2018" : "Kingma & Ba 2015; Reddi et al. 2018")
                .params(Params.join(Params.adamHead(1e-3, 1e-8, weightDecay), Params.amsgrad()))
                .variant(id, Map.of(), 28)
                .variant(id + "-amsgrad", Map.of("amsgrad", true), 36)
                .demo(decoupled ? "AdamW" : "Adam", 1e-3, true)
                .factory((a, g, n) -> new Adam(a, decoupled, g, n))
                .build();
    }

    /** Creates the rule; rejects invalid hyperparameters, naming the group, field and value. */
    public Adam(Algorithm algorithm, boolean decoupled, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.decoupled = decoupled;
        this.amsgrad = groups.get(0).flag("amsgrad");
        this.hp = groups.stream().map(Moments.Hyper::of).toList();
    }

    @Override
    public List<String> slots() {
        return amsgrad ? List.of("exp_avg", "exp_avg_sq", "max_exp_avg_sq") : List.of("exp_avg", "exp_avg_sq");
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
        Moments.head(h, decoupled ? 0f : (float) h.weightDecay(), out, off);
        out[off + DECAY] = decoupled ? (float) (1.0 - lr * h.weightDecay()) : 1f;
        out[off + NEG_STEP] = (float) (-lr / biasCorrection(h.beta1(), t));
        out[off + SQRT_BC2] = (float) Math.sqrt(biasCorrection(h.beta2(), t));
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        // One loop, specialised at three call sites with constant flags: C2 inlines it and folds the branches,
        // so each variant vectorises as a branch-free loop.
        if (amsgrad) {
            run(c, sc, so, decoupled, true);
        } else if (decoupled) {
            run(c, sc, so, true, false);
        } else {
            run(c, sc, so, false, false);
        }
    }

    private static void run(Chunk c, float[] sc, int so, boolean decoupled, boolean amsgrad) {
        final float b1 = sc[so + Moments.B1], omb1 = sc[so + Moments.OMB1];
        final float b2 = sc[so + Moments.B2], omb2 = sc[so + Moments.OMB2];
        final float eps = sc[so + Moments.EPS], wd = sc[so + Moments.WD], decay = sc[so + DECAY];
        final float negStep = sc[so + NEG_STEP], sqrtBc2 = sc[so + SQRT_BC2];
        final float[] w = c.w, g = c.g, m = c.s[0], v = c.s[1];
        final float gu = c.unscale, gk = c.clip;
        final float[] vmax = amsgrad ? c.s[2] : null;
        final int to = c.to;
        for (int i = c.from; i < to; i++) {
            float wi = decoupled ? w[i] * decay : w[i];
            float gc = (g[i] * gu) * gk;
            float gi = (!decoupled && wd != 0f) ? Math.fma(wd, wi, gc) : gc;
            float mi = Moments.first(m[i], gi, b1, omb1);
            float vi = Moments.second(v[i], gi, b2, omb2);
            float big = vi;
            if (amsgrad) {
                big = Math.max(vi, vmax[i]);
                vmax[i] = big;
            }
            m[i] = mi;
            v[i] = vi;
            w[i] = Math.fma(negStep, mi / ((float) Math.sqrt(big) / sqrtBc2 + eps), wi);
        }
    }

    @Override
    public String kernelFamily() {
        return (decoupled ? "adamw" : "adam") + (amsgrad ? "_amsgrad" : "");
    }
}

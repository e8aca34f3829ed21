package io.fusedopt.rule;

import io.fusedopt.core.Tensor;
import io.fusedopt.core.LaunchConfig;
import java.util.List;
import java.util.Map;

/**
 * LAMB (You et al. 2020, Algorithm 2) with bias correction and a per-tensor trust ratio.
 *
 * <pre>
 * m = β1 m + (1-β1) g;   v = β2 v + (1-β2) g²            (g without decay)
 * r = (m / bc1) / (sqrt(v / bc2) + ε) + λ w
 * trust = 1 if ‖w‖ = 0 or ‖r‖ = 0, else ‖w‖ / ‖r‖       (‖w‖ of the pre-step weights)
 * w = w - η · trust · r
 * </pre>
 *
 * <p>Two passes. The norm pass computes the candidate {@code m, v, r} in registers, changes nothing, and
 * accumulates {@code w²} and {@code r²} per tensor in the order of {@link Reduce}; the tensor's trust ratio is
 * {@code ‖w‖/‖r‖} in double. The update recomputes {@code m, v, r} identically, stores {@code m, v}, and sets
 * {@code w = fma(-(η * (float) trust), r, w)}.
 *
 * <p>A norm that is NaN (a non-finite gradient or weight in the tensor) gives a NaN trust ratio, so the whole
 * tensor becomes NaN, as in optax and torch_optimizer: the non-finite gradient propagates instead of letting the
 * tensor's other elements take a step of trust 1. Under {@code SKIP} and {@code THROW} such a step never runs.
 *
 * <p>Per element: {@code m = fma(β1, m, (1-β1) * g)}; {@code v = fma(β2, v, ((1-β2) * g) * g)};
 * {@code r = (m / bc1) / (sqrt(v / bc2) + ε)}; {@code r = fma(λ, w, r)} (λ != 0).
 * Scalars: {@code [β1, 1-β1, β2, 1-β2, ε, λ, bc1, bc2, η]}. Tensor state: {@code [trust]}.
 */
public final class Lamb extends TrustRatioRule {
    // Scalar indices after the moment head (0 .. 5, see Moments).
    static final int BC1 = 6, BC2 = 7, LR = 8, K = 9;

    private final List<Moments.Hyper> hp;

    /** LAMB: lr 1e-3, betas (0.9, 0.999), eps 1e-6, weight decay 0, with a per-tensor trust ratio. */
    public static final Algorithm ALGORITHM = Algorithm.builder("lamb", "lamb")
            .title("LAMB with a per-tensor trust ratio")
            .reference("You et al. 2020")
            .params(Params.adamHead(1e-3, 1e-6, 0.0))
            .demo("LAMB", 2e-3, true)
            .variant("lamb", Map.of(), 44)
            .factory(Lamb::new)
            .build();

    /** Creates the rule over validated values. */
    public Lamb(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
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

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Moments.Hyper h = hp.get(group);
        Moments.head(h, (float) h.weightDecay(), out, off);
        out[off + BC1] = (float) biasCorrection(h.beta1(), t);
        out[off + BC2] = (float) biasCorrection(h.beta2(), t);
        out[off + LR] = (float) lr;
    }

    @Override
    public void normChunk(Chunk c, float[] sc, int so) {
        final float b1 = sc[so + Moments.B1], omb1 = sc[so + Moments.OMB1];
        final float b2 = sc[so + Moments.B2], omb2 = sc[so + Moments.OMB2];
        final float eps = sc[so + Moments.EPS], wd = sc[so + Moments.WD], bc1 = sc[so + BC1], bc2 = sc[so + BC2];
        final float[] w = c.w, m = c.s[0], v = c.s[1], la = c.laneA, lb = c.laneB;
        final float[] rw = c.rows[0], rg = c.rows[1], rm = c.rows[2], rv = c.rows[3];
        for (int base = c.from; base < c.to; base += LaunchConfig.LANES) {
            int n = Math.min(LaunchConfig.LANES, c.to - base);
            System.arraycopy(w, base, rw, 0, n);
            c.gradients(base, rg, n);
            System.arraycopy(m, base, rm, 0, n);
            System.arraycopy(v, base, rv, 0, n);
            for (int l = 0; l < n; l++) {
                float wi = rw[l], gi = rg[l];
                float mi = Moments.first(rm[l], gi, b1, omb1);
                float vi = Moments.second(rv[l], gi, b2, omb2);
                float r = (mi / bc1) / ((float) Math.sqrt(vi / bc2) + eps);
                if (wd != 0f) {
                    r = Math.fma(wd, wi, r);
                }
                la[l] = Math.fma(wi, wi, la[l]);
                lb[l] = Math.fma(r, r, lb[l]);
            }
        }
    }

    @Override
    public void finishTensor(double sumA, double sumB, double[] fs, int fo, double[] ts, int off) {
        double wn = Math.sqrt(sumA), rn = Math.sqrt(sumB);
        // Written as the zero test, not (wn > 0 && rn > 0), so that a NaN norm gives NaN rather than 1.
        ts[off] = (wn == 0 || rn == 0) ? 1.0 : wn / rn;
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float b1 = sc[so + Moments.B1], omb1 = sc[so + Moments.OMB1];
        final float b2 = sc[so + Moments.B2], omb2 = sc[so + Moments.OMB2];
        final float eps = sc[so + Moments.EPS], wd = sc[so + Moments.WD], bc1 = sc[so + BC1], bc2 = sc[so + BC2];
        final float negStep = -(sc[so + LR] * (float) ts[c.tensor]);
        final float[] w = c.w, g = c.g, m = c.s[0], v = c.s[1];
        final float gu = c.unscale, gk = c.clip;
        for (int i = c.from; i < c.to; i++) {
            float wi = w[i], gi = (g[i] * gu) * gk;
            float mi = Moments.first(m[i], gi, b1, omb1);
            float vi = Moments.second(v[i], gi, b2, omb2);
            float r = (mi / bc1) / ((float) Math.sqrt(vi / bc2) + eps);
            if (wd != 0f) {
                r = Math.fma(wd, wi, r);
            }
            m[i] = mi;
            v[i] = vi;
            w[i] = Math.fma(negStep, r, wi);
        }
    }

    @Override
    public String kernelFamily() {
        return "lamb";
    }
}

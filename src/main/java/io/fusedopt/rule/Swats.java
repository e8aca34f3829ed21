package io.fusedopt.rule;

import io.fusedopt.core.LaunchConfig;
import java.util.List;
import java.util.Map;

/**
 * SWATS (Keskar and Socher 2017, Algorithm 1): Adam that switches each tensor to SGD once the projected
 * SGD rate settles.
 *
 * <pre>
 * g = g + λ_wd w (both phases)
 * Adam phase: m = β1 m + (1-β1) g;  a = β2 a + (1-β2) g²;  p = -(η sqrt(bc2)/bc1) m / (sqrt(a) + ε);  w = w + p
 *   if p·g != 0:  γ = p·p / (-p·g);  λ = β2 λ + (1-β2) γ;  Λ = λ / bc2
 *                 switch to SGD if t &gt; 1 and |Λ - γ| &lt; ε and Λ &gt; 0
 * SGD phase (from the next step): v = β1 v + g;  w = w - (1-β1) Λ v
 * </pre>
 *
 * <p>Per element, Adam phase: {@code g = fma(λ_wd, w, g)} (λ_wd != 0); m and a as Adam;
 * {@code p = -(step * (m / (sqrt(a) + ε)))}; {@code w = w + p}; lanes accumulate {@code fma(p, p, ·)} and
 * {@code fma(p, g, ·)}. SGD phase: {@code v = fma(β1, v, g)}; {@code w = fma(-coef, v, w)} with
 * {@code coef = (float) ((1-β1) Λ)}. The switch test runs in double on the tensor's sums.
 * Scalars: {@code [β1, 1-β1, β2, 1-β2, ε, λ_wd, step]}; finish scalars {@code [β1, β2, bc2, ε, t]};
 * tensor state {@code [λ, Λ, phase (0 Adam, 1 SGD), coef]}.
 */
public final class Swats extends Rule {
    // Scalar indices after the moment head (0 .. 5, see Moments).
    static final int STEP = 6, K = 7;
    /** Index of the per-tensor state fields. */
    public static final int LAMBDA = 0, BIG_LAMBDA = 1, PHASE = 2, COEF = 3, WIDTH = 4;

    private final List<Moments.Hyper> hp;

    /** SWATS: lr 1e-3, eps 1e-9 (both the Adam term and the switch threshold, as in the paper). */
    public static final Algorithm ALGORITHM = Algorithm.builder("swats", "swats")
            .title("SWATS: Adam switching to SGD per tensor")
            .reference("Keskar & Socher 2017")
            .params(Params.adamHead(1e-3, 1e-9, 0.0))
            .demo("SWATS", 1e-3, true)
            .variant("swats", Map.of(), 28)
            .factory(Swats::new)
            .build();

    /** Creates the rule over validated values. */
    public Swats(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.hp = groups.stream().map(Moments.Hyper::of).toList();
    }

    @Override
    public List<String> slots() {
        return List.of("exp_avg", "exp_avg_sq", "momentum_buffer");
    }

    /** The Adam phase, the one every tensor starts in, leaves the SGD momentum buffer alone: only m and a move. */
    @Override
    public int slotsTouched() {
        return 2;
    }

    /** The second moment a is a sum of squares. */
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
        out[off + STEP] = (float) (lr * Math.sqrt(biasCorrection(h.beta2(), t)) / biasCorrection(h.beta1(), t));
    }

    @Override
    public Reduction reduction() {
        return Reduction.DURING_UPDATE;
    }

    @Override
    public int tensorStateWidth() {
        return WIDTH;
    }

    @Override
    public int finishScalarCount() {
        return 5;
    }

    @Override
    public void finishScalars(int group, long t, double lr, double[] out, int off) {
        Moments.Hyper h = hp.get(group);
        out[off] = h.beta1();
        out[off + 1] = h.beta2();
        out[off + 2] = biasCorrection(h.beta2(), t);
        out[off + 3] = h.eps();
        out[off + 4] = (double) t;
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float b1 = sc[so + Moments.B1], omb1 = sc[so + Moments.OMB1];
        final float b2 = sc[so + Moments.B2], omb2 = sc[so + Moments.OMB2];
        final float eps = sc[so + Moments.EPS], wd = sc[so + Moments.WD], step = sc[so + STEP];
        final float[] w = c.w, g = c.g, m = c.s[0], a = c.s[1], v = c.s[2];
        final float gu = c.unscale, gk = c.clip;
        final int st = c.tensor * WIDTH;
        if (ts[st + PHASE] != 0) {
            final float negCoef = -(float) ts[st + COEF];
            for (int i = c.from; i < c.to; i++) {
                float wi = w[i];
                float gc = (g[i] * gu) * gk;
                float gi = wd != 0f ? Math.fma(wd, wi, gc) : gc;
                float vi = Math.fma(b1, v[i], gi);
                v[i] = vi;
                w[i] = Math.fma(negCoef, vi, wi);
            }
            return;
        }
        final float[] la = c.laneA, lb = c.laneB;
        final float[] rw = c.rows[0], rg = c.rows[1], rm = c.rows[2], ra = c.rows[3];
        for (int base = c.from; base < c.to; base += LaunchConfig.LANES) {
            int n = Math.min(LaunchConfig.LANES, c.to - base);
            System.arraycopy(w, base, rw, 0, n);
            c.gradients(base, rg, n);
            System.arraycopy(m, base, rm, 0, n);
            System.arraycopy(a, base, ra, 0, n);
            for (int l = 0; l < n; l++) {
                float wi = rw[l];
                float gi = wd != 0f ? Math.fma(wd, wi, rg[l]) : rg[l];
                float mi = Moments.first(rm[l], gi, b1, omb1);
                float ai = Moments.second(ra[l], gi, b2, omb2);
                float p = -(step * (mi / ((float) Math.sqrt(ai) + eps)));
                rm[l] = mi;
                ra[l] = ai;
                rw[l] = wi + p;
                la[l] = Math.fma(p, p, la[l]);
                lb[l] = Math.fma(p, gi, lb[l]);
            }
            System.arraycopy(rw, 0, w, base, n);
            System.arraycopy(rm, 0, m, base, n);
            System.arraycopy(ra, 0, a, base, n);
        }
    }

    /** Whether tensor state {@code ts} at {@code off} has switched to SGD. */
    public static boolean inSgdPhase(double[] ts, int off) {
        return ts[off + PHASE] != 0;
    }

    @Override
    public void finishTensor(double pp, double pg, double[] fs, int fo, double[] ts, int off) {
        if (ts[off + PHASE] != 0 || pg == 0.0) {
            return;
        }
        double b1 = fs[fo], b2 = fs[fo + 1], bc2 = fs[fo + 2], eps = fs[fo + 3], t = fs[fo + 4];
        double gamma = pp / -pg;
        double lambda = b2 * ts[off + LAMBDA] + (1.0 - b2) * gamma;
        double bigLambda = lambda / bc2;
        ts[off + LAMBDA] = lambda;
        ts[off + BIG_LAMBDA] = bigLambda;
        if (t > 1.0 && Math.abs(bigLambda - gamma) < eps && bigLambda > 0.0) {
            ts[off + PHASE] = 1.0;
            ts[off + COEF] = (1.0 - b1) * bigLambda;
        }
    }

    /** The phase is 0 (Adam, coefficient 0) or 1 (SGD, with a finite positive coefficient). */
    @Override
    public String invalidTensorState(double[] ts, int off) {
        double phase = ts[off + PHASE], coef = ts[off + COEF];
        if (phase != 0.0 && phase != 1.0) {
            return "phase is " + phase + ", not 0 (Adam) or 1 (SGD)";
        }
        if (phase == 0.0 && coef != 0.0) {
            return "the SGD coefficient is " + coef + " while the tensor is still in the Adam phase";
        }
        if (phase == 1.0 && !(Double.isFinite(coef) && coef > 0)) {
            return "the SGD coefficient is " + coef + ", not finite and > 0";
        }
        return null;
    }

    @Override
    public String kernelFamily() {
        return "swats";
    }
}

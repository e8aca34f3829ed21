package io.fusedopt.rule;

import java.util.List;
import java.util.Map;

/**
 * AdaBelief (Zhuang et al. 2020), following adabelief-pytorch 0.2.x, with the AMSGrad maximum also used by the
 * rectified branch.
 *
 * <pre>
 * weight_decouple: w = w (1 - λ) if fixed_decay else w (1 - η λ);     otherwise g = g + λ w
 * m = β1 m + (1-β1) g;   s = β2 s + (1-β2)(g - m)² + ε;   S = s, or smax = max(smax, s) with AMSGrad
 * not rectify:     w = w - η/bc1 · m / (sqrt(S)/sqrt(bc2) + ε)
 * rectify, ρ_t ≥ 5: w = w - η k · m / (sqrt(S) + ε),  k = sqrt(bc2 (ρ_t-4)/(ρ∞-4) (ρ_t-2)/ρ_t ρ∞/(ρ∞-2)) / bc1
 * rectify, else:   w = w - η/bc1 · m  if degenerated_to_sgd, else no change to w
 * </pre>
 *
 * <p>Per element: {@code w = w * decay} (decoupled) or {@code g = fma(λ, w, g)} (λ != 0);
 * {@code m = fma(β1, m, (1-β1) * g)}; {@code d = g - m}; {@code s = fma(β2, s, ((1-β2) * d) * d) + ε};
 * {@code smax = Math.max(s, smax)} ({@code fo_max} in CUDA); then by mode 0 (Adam-like) {@code w = fma(-c, m / (sqrt(S) / sqrt(bc2) + ε), w)},
 * 1 (rectified) {@code w = fma(-c, m / (sqrt(S) + ε), w)}, 2 (SGD) {@code w = fma(-c, m, w)}, 3 nothing.
 * Scalars: {@code [β1, 1-β1, β2, 1-β2, ε, λ or 0, decay or 1, mode, -c, sqrt(bc2)]}.
 */
public final class AdaBelief extends Rule {
    // Scalar indices after the moment head (0 .. 5, see Moments).
    static final int DECAY = 6, MODE = 7, NEG_C = 8, SQRT_BC2 = 9, K = 10;
    private final boolean amsgrad;
    private final boolean weightDecouple;
    private final boolean fixedDecay;
    private final boolean rectify;
    private final boolean degeneratedToSgd;
    private final List<Moments.Hyper> hp;

    /** AdaBelief as adabelief-pytorch 0.2: eps 1e-16, decoupled decay, rectify, degenerated to SGD. */
    public static final Algorithm ALGORITHM = Algorithm.builder("adabelief", "adabelief")
            .title("AdaBelief (decoupled/fixed decay, rectify, degenerate to SGD, AMSGrad)")
            .reference("Zhuang et al. 2020")
            .params(Params.join(Params.adamHead(1e-3, 1e-16, 0.0), Params.amsgrad(),
                    HyperParam.flag("weight_decouple", "weightDecouple", true, true),
                    HyperParam.flag("fixed_decay", "fixedDecay", false, true),
                    HyperParam.flag("rectify", "rectify", true, true),
                    HyperParam.flag("degenerated_to_sgd", "degeneratedToSgd", true, true)))
            .variant("adabelief", Map.of(), 28)
            .variant("adabelief-amsgrad", Map.of("amsgrad", true), 36)
            .demo("AdaBelief", 1e-3, true)
            .factory(AdaBelief::new)
            .build();

    /** Creates the rule over validated values; the flags are the same in every group. */
    public AdaBelief(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        HyperValues v = groups.get(0);
        this.amsgrad = v.flag("amsgrad");
        this.weightDecouple = v.flag("weight_decouple");
        this.fixedDecay = v.flag("fixed_decay");
        this.rectify = v.flag("rectify");
        this.degeneratedToSgd = v.flag("degenerated_to_sgd");
        this.hp = groups.stream().map(Moments.Hyper::of).toList();
    }

    @Override
    public List<String> slots() {
        return amsgrad ? List.of("exp_avg", "exp_avg_var", "max_exp_avg_var") : List.of("exp_avg", "exp_avg_var");
    }

    /** The belief s and its running maximum are sums of squares plus eps. */
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
        int mode;
        double c;
        if (!rectify) {
            mode = 0;
            c = lr / bc1;
        } else {
            double rhoInf = 2.0 / (1.0 - h.beta2()) - 1.0;
            double rhoT = RAdam.rho(h.beta2(), t);
            if (rhoT >= 5.0) {
                mode = 1;
                double k = Math.sqrt(bc2 * (rhoT - 4) / (rhoInf - 4) * (rhoT - 2) / rhoT * rhoInf / (rhoInf - 2)) / bc1;
                c = lr * k;
            } else if (degeneratedToSgd) {
                mode = 2;
                c = lr / bc1;
            } else {
                mode = 3;
                c = 0;
            }
        }
        Moments.head(h, weightDecouple ? 0f : (float) h.weightDecay(), out, off);
        out[off + DECAY] = weightDecouple ? (float) (1.0 - (fixedDecay ? 1.0 : lr) * h.weightDecay()) : 1f;
        out[off + MODE] = mode;
        out[off + NEG_C] = (float) -c;
        out[off + SQRT_BC2] = (float) Math.sqrt(bc2);
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float b1 = sc[so + Moments.B1], omb1 = sc[so + Moments.OMB1];
        final float b2 = sc[so + Moments.B2], omb2 = sc[so + Moments.OMB2];
        final float eps = sc[so + Moments.EPS], wd = sc[so + Moments.WD], decay = sc[so + DECAY];
        final int mode = (int) sc[so + MODE];
        final float negC = sc[so + NEG_C], sqrtBc2 = sc[so + SQRT_BC2];
        final boolean decoupled = weightDecouple;
        final float[] w = c.w, g = c.g, m = c.s[0], s = c.s[1];
        final float gu = c.unscale, gk = c.clip;
        final float[] smax = amsgrad ? c.s[2] : null;
        for (int i = c.from; i < c.to; i++) {
            float wi = decoupled ? w[i] * decay : w[i];
            float gc = (g[i] * gu) * gk;
            float gi = (!decoupled && wd != 0f) ? Math.fma(wd, wi, gc) : gc;
            float mi = Moments.first(m[i], gi, b1, omb1);
            float d = gi - mi;
            float si = Moments.second(s[i], d, b2, omb2) + eps;
            m[i] = mi;
            s[i] = si;
            float big = si;
            if (smax != null) {
                big = Math.max(si, smax[i]);
                smax[i] = big;
            }
            if (mode == 0) {
                wi = Math.fma(negC, mi / ((float) Math.sqrt(big) / sqrtBc2 + eps), wi);
            } else if (mode == 1) {
                wi = Math.fma(negC, mi / ((float) Math.sqrt(big) + eps), wi);
            } else if (mode == 2) {
                wi = Math.fma(negC, mi, wi);
            }
            w[i] = wi;
        }
    }

    @Override
    public String kernelFamily() {
        return amsgrad ? "adabelief_amsgrad" : "adabelief";
    }
}

package io.fusedopt.rule;

import java.util.List;
import java.util.Map;

/**
 * SGD with momentum, dampening, Nesterov momentum and weight decay — L2 ({@code sgd}, as torch.optim.SGD) or
 * decoupled ({@code sgdw}, Loshchilov and Hutter 2019).
 *
 * <pre>
 * sgd:  d = g + λ w  (only if λ != 0)           sgdw: d = g
 * if μ != 0:  b = d at t = 1;  b = μ b + (1 - τ) d afterwards;   d = d + μ b (Nesterov) or b
 * sgd:  w = w - η d                              sgdw: w = w (1 - η λ) - η d
 * </pre>
 *
 * <p>Per element, in this order: {@code d = fma(λ, w, g)} (sgd, λ != 0); {@code b = t == 1 ? d : fma(μ, b, (1-τ) * d)};
 * {@code d = nesterov ? fma(μ, b, d) : b}; sgd: {@code w = fma(-η, d, w)}, sgdw: {@code w = fma(-η, d, w * (1 - ηλ))}.
 * Momentum being zero or not decides whether the momentum slot exists, so it must agree across groups.
 *
 * <p>Scalars: {@code [-η, λ or 0, 1 - ηλ or 1, μ, 1 - τ, first (0/1), nesterov (0/1)]}.
 */
public final class Sgd extends Rule {
    static final int NEG_LR = 0, WD = 1, DECAY = 2, MU = 3, OMD = 4, FIRST = 5, NESTEROV = 6, K = 7;
    private final boolean decoupled;
    private final boolean nesterov;
    private final boolean momentum;
    private final List<Hyper> hp;

    /** SGD as torch.optim.SGD: lr 1e-3, momentum 0, dampening 0, weight decay 0 (L2), nesterov false. */
    public static final Algorithm SGD = describe("sgd", false);
    /** SGDW: as SGD, with decoupled weight decay. */
    public static final Algorithm SGDW = describe("sgdw", true);

    /** One group's typed hyperparameters. */
    private record Hyper(double momentum, double dampening, double weightDecay) {
    }

    private static Algorithm describe(String id, boolean decoupled) {
        return Algorithm.builder(id, "sgd")
                .title(decoupled ? "SGDW: SGD with momentum and decoupled decay"
                        : "SGD with momentum, dampening, Nesterov; L2 decay")
                .reference(decoupled ? "Loshchilov & Hutter 2019" : "Sutskever et al. 2013")
                .params(Params.lr(1e-3),
                        HyperParam.number("momentum", "momentum", 0.0, HyperParam.Range.UNIT),
                        HyperParam.number("dampening", "dampening", 0.0, HyperParam.Range.CLOSED_UNIT),
                        Params.weightDecay(0.0),
                        HyperParam.flag("nesterov", "nesterov", false, true))
                // bench and the demo run SGD with momentum: the configuration worth measuring.
                .variant(id, Map.of("momentum", 0.9), 20)
                .variant(id + "-plain", Map.of(), 12)
                .demo(decoupled ? "SGDW+momentum" : "SGD+momentum", 0.05, !decoupled)
                .factory((a, g, n) -> new Sgd(a, decoupled, g, n))
                .build();
    }

    /**
     * Creates the rule.
     *
     * @throws IllegalArgumentException for invalid hyperparameters, Nesterov without momentum or with dampening,
     *     or groups that disagree on whether momentum is zero
     */
    public Sgd(Algorithm algorithm, boolean decoupled, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.decoupled = decoupled;
        this.nesterov = groups.get(0).flag("nesterov");
        this.hp = groups.stream().map(v -> new Hyper(v.number("momentum"), v.number("dampening"),
                v.number("weight_decay"))).toList();
        this.momentum = hp.get(0).momentum() != 0;
        for (int i = 0; i < groups.size(); i++) {
            Hyper h = hp.get(i);
            if ((h.momentum() != 0) != momentum) {
                throw new IllegalArgumentException(prefix(i) + "momentum must be zero in every group or in none, got "
                        + h.momentum() + " where the first group has " + hp.get(0).momentum());
            }
            if (nesterov && (h.momentum() <= 0 || h.dampening() != 0)) {
                throw new IllegalArgumentException(prefix(i)
                        + "nesterov needs momentum > 0 and dampening = 0, got momentum " + h.momentum()
                        + " and dampening " + h.dampening());
            }
        }
    }

    /** Whether the momentum slot exists. */
    public boolean hasMomentum() {
        return momentum;
    }

    /** Whether weight decay is decoupled (sgdw). */
    public boolean decoupled() {
        return decoupled;
    }

    @Override
    public List<String> slots() {
        return momentum ? List.of("momentum_buffer") : List.of();
    }

    @Override
    public int scalarCount() {
        return K;
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Hyper h = hp.get(group);
        out[off + NEG_LR] = (float) -lr;
        out[off + WD] = decoupled ? 0f : (float) h.weightDecay();
        out[off + DECAY] = decoupled ? (float) (1.0 - lr * h.weightDecay()) : 1f;
        out[off + MU] = (float) h.momentum();
        out[off + OMD] = (float) (1.0 - h.dampening());
        out[off + FIRST] = t == 1 ? 1f : 0f;
        out[off + NESTEROV] = nesterov ? 1f : 0f;
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float negLr = sc[so + NEG_LR], wd = sc[so + WD], decay = sc[so + DECAY];
        final float mu = sc[so + MU], omd = sc[so + OMD];
        final boolean first = sc[so + FIRST] != 0f, nest = sc[so + NESTEROV] != 0f;
        final float[] w = c.w, g = c.g;
        final float gu = c.unscale, gk = c.clip;
        final int to = c.to;
        if (!momentum) {
            if (decoupled) {
                for (int i = c.from; i < to; i++) {
                    w[i] = Math.fma(negLr, (g[i] * gu) * gk, w[i] * decay);
                }
            } else if (wd != 0f) {
                for (int i = c.from; i < to; i++) {
                    w[i] = Math.fma(negLr, Math.fma(wd, w[i], (g[i] * gu) * gk), w[i]);
                }
            } else {
                for (int i = c.from; i < to; i++) {
                    w[i] = Math.fma(negLr, (g[i] * gu) * gk, w[i]);
                }
            }
            return;
        }
        final float[] b = c.s[0];
        for (int i = c.from; i < to; i++) {
            float wi = w[i];
            float gc = (g[i] * gu) * gk;
            float d = (!decoupled && wd != 0f) ? Math.fma(wd, wi, gc) : gc;
            float bi = first ? d : Math.fma(mu, b[i], omd * d);
            b[i] = bi;
            d = nest ? Math.fma(mu, bi, d) : bi;
            w[i] = decoupled ? Math.fma(negLr, d, wi * decay) : Math.fma(negLr, d, wi);
        }
    }

    @Override
    public String kernelFamily() {
        return (decoupled ? "sgdw" : "sgd") + (momentum ? "_momentum" : "");
    }
}

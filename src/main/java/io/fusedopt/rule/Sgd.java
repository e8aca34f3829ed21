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
public final class Sgd extends GroupedRule {
    static final int NEG_LR = 0, WD = 1, DECAY = 2, MU = 3, OMD = 4, FIRST = 5, NESTEROV = 6, K = 7;
    private final boolean decoupled;
    private final boolean nesterov;
    private final boolean momentum;

    /**
     * Creates the rule.
     *
     * @throws IllegalArgumentException for invalid hyperparameters, Nesterov without momentum or with dampening,
     *     or groups that disagree on whether momentum is zero
     */
    public Sgd(boolean decoupled, boolean nesterov, List<Hyper> groups, List<String> names) {
        super(groups, names);
        this.decoupled = decoupled;
        this.nesterov = nesterov;
        this.momentum = groups.get(0).momentum() != 0;
        for (int i = 0; i < groups.size(); i++) {
            Hyper h = groups.get(i);
            if ((h.momentum() != 0) != momentum) {
                throw new IllegalArgumentException(prefix(names.get(i)) + "momentum must be zero in every group or in none, got "
                        + h.momentum() + " where the first group has " + groups.get(0).momentum());
            }
            if (nesterov && (h.momentum() <= 0 || h.dampening() != 0)) {
                throw new IllegalArgumentException(prefix(names.get(i))
                        + "nesterov needs momentum > 0 and dampening = 0, got momentum " + h.momentum()
                        + " and dampening " + h.dampening());
            }
        }
    }

    @Override
    protected void validate(Hyper h, String group) {
        h.validate(group, false, false, true);
    }

    @Override
    public String id() {
        return decoupled ? "sgdw" : "sgd";
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
        Hyper h = groups.get(group);
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
        final int to = c.to;
        if (!momentum) {
            if (decoupled) {
                for (int i = c.from; i < to; i++) {
                    w[i] = Math.fma(negLr, g[i], w[i] * decay);
                }
            } else if (wd != 0f) {
                for (int i = c.from; i < to; i++) {
                    w[i] = Math.fma(negLr, Math.fma(wd, w[i], g[i]), w[i]);
                }
            } else {
                for (int i = c.from; i < to; i++) {
                    w[i] = Math.fma(negLr, g[i], w[i]);
                }
            }
            return;
        }
        final float[] b = c.s[0];
        for (int i = c.from; i < to; i++) {
            float wi = w[i];
            float d = (!decoupled && wd != 0f) ? Math.fma(wd, wi, g[i]) : g[i];
            float bi = first ? d : Math.fma(mu, b[i], omd * d);
            b[i] = bi;
            d = nest ? Math.fma(mu, bi, d) : bi;
            w[i] = decoupled ? Math.fma(negLr, d, wi * decay) : Math.fma(negLr, d, wi);
        }
    }

    @Override
    public Map<String, Object> hyperparams(int group) {
        Hyper h = groups.get(group);
        return Map.of("lr", h.lr(), "momentum", h.momentum(), "dampening", h.dampening(),
                "weight_decay", h.weightDecay(), "nesterov", nesterov);
    }

    @Override
    public String kernelFamily() {
        return (decoupled ? "sgdw" : "sgd") + (momentum ? "_momentum" : "");
    }
}

package io.fusedopt.rule;

import java.util.List;
import java.util.Map;

/**
 * AdaGrad (Duchi, Hazan and Singer 2011), as torch.optim.Adagrad.
 *
 * <pre>
 * g = g + λ w;   η' = η / (1 + (t - 1) · lr_decay);   s = s + g²  (s starts at initial_accumulator_value)
 * w = w - η' g / (sqrt(s) + ε)
 * </pre>
 *
 * <p>Per element: {@code g = fma(λ, w, g)} (λ != 0); {@code s = fma(g, g, s)};
 * {@code w = fma(-η', g / (sqrt(s) + ε), w)}. Scalars: {@code [-η', λ, ε]}.
 */
public final class Adagrad extends GroupedRule {
    static final int NEG_CLR = 0, WD = 1, EPS = 2, K = 3;

    /** Creates the rule; rejects invalid hyperparameters, naming the group, field and value. */
    public Adagrad(List<Hyper> groups, List<String> names) {
        super(groups, names);
    }

    @Override
    protected void validate(Hyper h, String group) {
        h.validate(group, false, true, false);
        Hyper.check(prefix(group), () -> Check.nonNegative("lrDecay", h.lrDecay()));
        Hyper.check(prefix(group), () -> Check.nonNegative("initialAccumulatorValue", h.initialAccumulator()));
    }

    @Override
    public String id() {
        return "adagrad";
    }

    @Override
    public List<String> slots() {
        return List.of("sum");
    }

    @Override
    public float slotInit(int slot, int group) {
        return (float) groups.get(group).initialAccumulator();
    }

    @Override
    public int scalarCount() {
        return K;
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Hyper h = groups.get(group);
        out[off + NEG_CLR] = (float) (-lr / (1.0 + (double) (t - 1) * h.lrDecay()));
        out[off + WD] = (float) h.weightDecay();
        out[off + EPS] = (float) h.eps();
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float negClr = sc[so + NEG_CLR], wd = sc[so + WD], eps = sc[so + EPS];
        final float[] w = c.w, g = c.g, s = c.s[0];
        for (int i = c.from; i < c.to; i++) {
            float wi = w[i];
            float gi = wd != 0f ? Math.fma(wd, wi, g[i]) : g[i];
            float si = Math.fma(gi, gi, s[i]);
            s[i] = si;
            w[i] = Math.fma(negClr, gi / ((float) Math.sqrt(si) + eps), wi);
        }
    }

    @Override
    public Map<String, Object> hyperparams(int group) {
        Hyper h = groups.get(group);
        return Map.of("lr", h.lr(), "lr_decay", h.lrDecay(), "weight_decay", h.weightDecay(),
                "initial_accumulator_value", h.initialAccumulator(), "eps", h.eps());
    }

    @Override
    public String kernelFamily() {
        return "adagrad";
    }
}

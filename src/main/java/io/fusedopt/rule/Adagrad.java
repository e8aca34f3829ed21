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
public final class Adagrad extends Rule {
    static final int NEG_CLR = 0, WD = 1, EPS = 2, K = 3;

    /** AdaGrad as torch.optim.Adagrad: lr 1e-2, lr decay 0, weight decay 0, initial accumulator 0, eps 1e-10. */
    public static final Algorithm ALGORITHM = Algorithm.builder("adagrad", "adagrad")
            .title("AdaGrad with lr decay and initial accumulator")
            .reference("Duchi et al. 2011")
            .params(Params.lr(1e-2),
                    HyperParam.number("lr_decay", "lrDecay", 0.0, HyperParam.Range.NON_NEGATIVE),
                    Params.weightDecay(0.0),
                    HyperParam.number("initial_accumulator_value", "initialAccumulatorValue", 0.0,
                            HyperParam.Range.NON_NEGATIVE),
                    Params.eps(1e-10))
            .variant("adagrad", Map.of(), 20)
            .factory(Adagrad::new)
            .build();

    /** One group's typed hyperparameters. */
    private record Hyper(double lrDecay, double weightDecay, double initialAccumulator, double eps) {
    }

    private final List<Hyper> hp;

    /** Creates the rule over validated values. */
    public Adagrad(Algorithm algorithm, List<HyperValues> groups, List<String> names) {
        super(algorithm, groups, names);
        this.hp = groups.stream().map(v -> new Hyper(v.number("lr_decay"), v.number("weight_decay"),
                v.number("initial_accumulator_value"), v.number("eps"))).toList();
    }

    @Override
    public List<String> slots() {
        return List.of("sum");
    }

    @Override
    public float slotInit(int slot, int group) {
        return (float) hp.get(group).initialAccumulator();
    }

    /** The accumulator is a sum of squares over a non-negative start. */
    @Override
    public SlotDomain slotDomain(int slot) {
        return slot == 0 ? SlotDomain.NON_NEGATIVE : SlotDomain.ANY;
    }

    @Override
    public int scalarCount() {
        return K;
    }

    @Override
    public void scalars(int group, long t, double lr, float[] out, int off) {
        Hyper h = hp.get(group);
        out[off + NEG_CLR] = (float) (-lr / (1.0 + (double) (t - 1) * h.lrDecay()));
        out[off + WD] = (float) h.weightDecay();
        out[off + EPS] = (float) h.eps();
    }

    @Override
    public void update(Chunk c, float[] sc, int so, double[] ts) {
        final float negClr = sc[so + NEG_CLR], wd = sc[so + WD], eps = sc[so + EPS];
        final float[] w = c.w, g = c.g, s = c.s[0];
        final float gu = c.unscale, gk = c.clip;
        for (int i = c.from; i < c.to; i++) {
            float wi = w[i];
            float gc = (g[i] * gu) * gk;
            float gi = wd != 0f ? Math.fma(wd, wi, gc) : gc;
            float si = Math.fma(gi, gi, s[i]);
            s[i] = si;
            w[i] = Math.fma(negClr, gi / ((float) Math.sqrt(si) + eps), wi);
        }
    }

    @Override
    public String kernelFamily() {
        return "adagrad";
    }
}

package io.fusedopt.rule;

import io.fusedopt.rule.HyperParam.Range;
import java.util.List;

/** Hyperparameters that several algorithms share, with PyTorch's names and the Adam family's defaults. */
public final class Params {
    private Params() {
    }

    /** The base learning rate, which schedules scale. */
    public static HyperParam lr(double dflt) {
        return HyperParam.number("lr", "lr", dflt, Range.NON_NEGATIVE);
    }

    /** Weight decay, L2 or decoupled as the algorithm defines. */
    public static HyperParam weightDecay(double dflt) {
        return HyperParam.number("weight_decay", "weightDecay", dflt, Range.NON_NEGATIVE);
    }

    /** The two moment coefficients {@code (β1, β2)}, each in [0, 1). */
    public static HyperParam betas(double b1, double b2) {
        return HyperParam.numbers("betas", List.of("beta1", "beta2"), List.of(b1, b2), Range.UNIT);
    }

    /** The denominator's ε, {@code > 0}. */
    public static HyperParam eps(double dflt) {
        return HyperParam.number("eps", "eps", dflt, Range.POSITIVE);
    }

    /** The AMSGrad maximum of the second moment (adds a state slot). */
    public static HyperParam amsgrad() {
        return HyperParam.flag("amsgrad", "amsgrad", false, true);
    }

    /** {@code lr, betas, eps, weight_decay}: the head of every Adam-family algorithm, with these defaults. */
    public static HyperParam[] adamHead(double lr, double eps, double weightDecay) {
        return new HyperParam[] {lr(lr), betas(0.9, 0.999), eps(eps), weightDecay(weightDecay)};
    }

    /** Concatenates hyperparameter lists. */
    public static HyperParam[] join(HyperParam[] head, HyperParam... tail) {
        HyperParam[] out = java.util.Arrays.copyOf(head, head.length + tail.length);
        System.arraycopy(tail, 0, out, head.length, tail.length);
        return out;
    }
}

package io.fusedopt.rule;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The numeric hyperparameters of one parameter group, shared by every rule. A rule reads the ones it uses;
 * {@link #validate} checks those, naming the group, the field and the value.
 */
public record Hyper(
        double lr,
        double beta1,
        double beta2,
        double eps,
        double weightDecay,
        double momentum,
        double dampening,
        double lrDecay,
        double initialAccumulator,
        double momentumDecay,
        double finalLr,
        double gamma) {

    /** PyTorch's defaults for the Adam family; other rules override what differs. */
    public static Hyper defaults() {
        return new Hyper(1e-3, 0.9, 0.999, 1e-8, 0.0, 0.0, 0.0, 0.0, 0.0, 4e-3, 0.1, 1e-3);
    }

    /** Returns a copy with the learning rate replaced. */
    public Hyper withLr(double v) {
        return new Hyper(v, beta1, beta2, eps, weightDecay, momentum, dampening, lrDecay, initialAccumulator,
                momentumDecay, finalLr, gamma);
    }

    /** Checks the fields a rule uses; {@code group} names the group in the message. */
    public void validate(String group, boolean betas, boolean eps, boolean momentumFields) {
        String p = group.isEmpty() ? "" : "group '" + group + "': ";
        check(p, () -> Check.nonNegative("lr", lr));
        check(p, () -> Check.nonNegative("weightDecay", weightDecay));
        if (betas) {
            check(p, () -> Check.unitInterval("beta1", beta1));
            check(p, () -> Check.unitInterval("beta2", beta2));
        }
        if (eps) {
            check(p, () -> Check.positive("eps", this.eps));
        }
        if (momentumFields) {
            check(p, () -> Check.unitInterval("momentum", momentum));
            check(p, () -> Check.closedUnit("dampening", dampening));
        }
    }

    /** Reports a failed check with the group prefix. */
    public static void check(String prefix, Runnable r) {
        try {
            r.run();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(prefix + e.getMessage(), e);
        }
    }

    /** Adam-family keys: lr, betas, eps, weight_decay. */
    public Map<String, Object> adamKeys() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("lr", lr);
        m.put("betas", java.util.List.of(beta1, beta2));
        m.put("eps", eps);
        m.put("weight_decay", weightDecay);
        return m;
    }
}

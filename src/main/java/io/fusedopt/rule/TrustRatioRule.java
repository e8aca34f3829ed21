package io.fusedopt.rule;

import java.util.List;

/**
 * A rule that scales each tensor's update by a trust ratio computed from norms over the tensor (LAMB, LARS): a norm
 * pass before the update sums two squares per chunk, the per-tensor fold turns them into the ratio, kept as the
 * tensor's one double of state (1 before the first step), and the update reads it.
 */
public abstract class TrustRatioRule extends Rule {
    /** Creates the rule; see {@link Rule#Rule}. */
    protected TrustRatioRule(Algorithm algorithm, List<HyperValues> groups, List<String> groupNames) {
        super(algorithm, groups, groupNames);
    }

    @Override
    public final Reduction reduction() {
        return Reduction.BEFORE_UPDATE;
    }

    @Override
    public final int tensorStateWidth() {
        return 1;
    }

    @Override
    public final double[] tensorStateInit(int group) {
        return new double[] {1.0};
    }

    /** A trust ratio is a ratio of norms: never negative (NaN where a norm is). */
    @Override
    public final String invalidTensorState(double[] ts, int off) {
        return ts[off] < 0 ? "the trust ratio is " + ts[off] + ", below 0" : null;
    }
}

package io.fusedopt.schedule;

import java.util.Map;

/**
 * Step decay: {@code lr = baseLr · gamma^floor(e / stepSize)}.
 *
 * <p>{@code gamma > 1} is allowed (a growing rate) and saturates at infinity for huge steps.
 */
record StepLr(long stepSize, double gamma) implements EpochSchedule {
    static final String TYPE = "step_lr";

    /** Rejects {@code stepSize < 1} and a {@code gamma} that is not finite and > 0. */
    StepLr {
        Check.atLeast("stepSize", stepSize, 1);
        Check.finitePositive("gamma", gamma);
    }

    @Override
    public double at(long num, long den, double baseLr) {
        Check.baseLr(baseLr);
        // floor(floor(num/den)/stepSize) = floor(num/(den·stepSize)) without the product that
        // could overflow.
        long decays = num / den / stepSize;
        return Curves.scale(baseLr, Math.pow(gamma, decays));
    }

    @Override
    public Map<String, Object> toSpec() {
        return Specs.spec(TYPE, "step_size", stepSize, "gamma", gamma);
    }
}

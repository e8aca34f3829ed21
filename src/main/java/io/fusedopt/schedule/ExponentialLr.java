package io.fusedopt.schedule;

import java.util.Map;

/**
 * Exponential decay: {@code lr = baseLr · gamma^e}.
 *
 * <p>{@code gamma > 1} is allowed (a growing rate, as in a learning-rate range test) and
 * saturates at infinity for huge steps.
 */
record ExponentialLr(double gamma) implements EpochSchedule {
    static final String TYPE = "exponential_lr";

    /** Rejects a {@code gamma} that is not finite and > 0. */
    ExponentialLr {
        Check.finitePositive("gamma", gamma);
    }

    @Override
    public double at(long num, long den, double baseLr) {
        Check.baseLr(baseLr);
        // Whole and fractional epochs apart: the whole part stays exact however large the step.
        double factor = Math.pow(gamma, num / den);
        if (num % den != 0) {
            factor *= Math.pow(gamma, (double) (num % den) / den);
        }
        return Curves.scale(baseLr, factor);
    }

    @Override
    public Map<String, Object> toSpec() {
        return Specs.spec(TYPE, "gamma", gamma);
    }
}

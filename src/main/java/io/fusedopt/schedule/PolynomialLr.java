package io.fusedopt.schedule;

import java.util.Map;

/**
 * Polynomial decay to zero (torch {@code PolynomialLR}):
 * {@code lr = baseLr · (1 - min(e, totalIters) / totalIters)^power}, which is 0 from
 * {@code e = totalIters} on.
 */
record PolynomialLr(long totalIters, double power) implements EpochSchedule {
    static final String TYPE = "polynomial_lr";

    /**
     * Rejects {@code totalIters < 1} and a {@code power} that is not finite and > 0 (a power of 0
     * would be a constant that never reaches 0, contradicting the schedule's end point).
     */
    PolynomialLr {
        Check.atLeast("totalIters", totalIters, 1);
        Check.finitePositive("power", power);
    }

    @Override
    public double at(long num, long den, double baseLr) {
        Check.baseLr(baseLr);
        if (num / den >= totalIters) {
            return 0.0;
        }
        return baseLr * Math.pow(1 - EpochSchedule.epoch(num, den) / totalIters, power);
    }

    @Override
    public Map<String, Object> toSpec() {
        return Specs.spec(TYPE, "total_iters", totalIters, "power", power);
    }
}

package io.fusedopt.schedule;

import java.util.Map;

/**
 * Linear ramp of a factor on the base rate (torch {@code LinearLR}):
 * {@code lr = baseLr · (startFactor + (endFactor - startFactor) · min(e, totalIters) / totalIters)},
 * holding {@code baseLr · endFactor} from {@code e = totalIters} on.
 *
 * <p>Unlike torch, {@code startFactor = 0} is allowed: torch forbids it only because its stateful
 * form divides by the previous factor.
 */
record LinearWarmup(double startFactor, double endFactor, long totalIters)
        implements EpochSchedule {
    static final String TYPE = "linear_warmup";

    /** Rejects factors that are not finite and >= 0, and {@code totalIters < 1}. */
    LinearWarmup {
        startFactor = Check.finiteNonNegative("startFactor", startFactor);
        endFactor = Check.finiteNonNegative("endFactor", endFactor);
        Check.atLeast("totalIters", totalIters, 1);
    }

    @Override
    public double at(long num, long den, double baseLr) {
        Check.baseLr(baseLr);
        if (num / den >= totalIters) {
            return baseLr * endFactor;
        }
        double done = EpochSchedule.epoch(num, den) / totalIters;
        return baseLr * (startFactor + (endFactor - startFactor) * done);
    }

    @Override
    public Map<String, Object> toSpec() {
        return Specs.spec(TYPE, "start_factor", startFactor, "end_factor", endFactor,
                "total_iters", totalIters);
    }
}

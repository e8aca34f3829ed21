package io.fusedopt.schedule;

import java.util.Map;

/**
 * Cosine annealing: {@code lr = etaMin + (baseLr - etaMin)(1 + cos(π e / tMax))/2} for
 * {@code e <= tMax}, and {@code lr = etaMin} for {@code e > tMax}.
 *
 * <p><b>Past tMax the rate holds etaMin.</b> PyTorch's {@code CosineAnnealingLR} keeps following
 * the cosine and climbs back to the base rate over the next {@code tMax} epochs, which is what a
 * run that was simply trained longer than planned never wants; restarts are
 * {@link Schedules#sgdr}'s job. Holding matches optax's {@code cosine_decay_schedule} and the
 * golden cases, which pin only {@code e <= tMax}.
 */
record CosineAnnealingLr(long tMax, double etaMin) implements EpochSchedule {
    static final String TYPE = "cosine_annealing_lr";

    /** Rejects {@code tMax < 1} and an {@code etaMin} that is not finite and >= 0. */
    CosineAnnealingLr {
        Check.atLeast("tMax", tMax, 1);
        etaMin = Check.finiteNonNegative("etaMin", etaMin);
    }

    @Override
    public double at(long num, long den, double baseLr) {
        Check.baseLr(baseLr);
        // tMax is whole, so e >= tMax exactly when floor(e) >= tMax.
        if (num / den >= tMax) {
            return etaMin;
        }
        return Curves.cosine(baseLr, etaMin, EpochSchedule.epoch(num, den) / tMax);
    }

    @Override
    public Map<String, Object> toSpec() {
        return Specs.spec(TYPE, "T_max", tMax, "eta_min", etaMin);
    }
}

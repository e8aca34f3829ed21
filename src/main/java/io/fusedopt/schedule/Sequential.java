package io.fusedopt.schedule;

import java.util.Map;

/**
 * Two schedules joined at a milestone (torch {@code SequentialLR}, optax
 * {@code join_schedules}): {@code lr(e) = first(e)} for {@code e < milestone}, and
 * {@code then(e - milestone)} from the milestone on, so {@code then} starts from its own epoch 0.
 *
 * <p>{@code first} or {@code then} may themselves be re-expressed ({@code perBatch} /
 * {@code perEpoch}); they then see the whole epoch counts of this schedule as their steps.
 */
record Sequential(Schedule first, long milestone, Schedule then) implements EpochSchedule {
    static final String TYPE = "sequential";

    /** Rejects a null part and {@code milestone < 1} (a milestone of 0 would never use {@code first}). */
    Sequential {
        Check.notNull("first", first);
        Check.atLeast("milestone", milestone, 1);
        Check.notNull("then", then);
    }

    @Override
    public double at(long num, long den, double baseLr) {
        if (num / den < milestone) {
            return EpochSchedule.eval(first, num, den, baseLr);
        }
        // milestone <= floor(num/den), so milestone·den <= num: no overflow.
        return EpochSchedule.eval(then, num - milestone * den, den, baseLr);
    }

    @Override
    public boolean fractional() {
        return first instanceof EpochSchedule f && f.fractional()
                && then instanceof EpochSchedule t && t.fractional();
    }

    /**
     * Linear warm-up followed by cosine annealing is written in FORMAT.md's flat
     * {@code linear_warmup_cosine} form, so the golden specs round-trip unchanged; every other pair
     * is written as {@code {"type": "sequential", "first": {...}, "milestone": m, "then": {...}}}.
     */
    @Override
    public Map<String, Object> toSpec() {
        if (first instanceof LinearWarmup w && then instanceof CosineAnnealingLr c) {
            return Specs.spec(Specs.LINEAR_WARMUP_COSINE,
                    "start_factor", w.startFactor(), "end_factor", w.endFactor(),
                    "total_iters", w.totalIters(), "milestone", milestone,
                    "T_max", c.tMax(), "eta_min", c.etaMin());
        }
        return Specs.spec(TYPE, "first", first.toSpec(), "milestone", milestone,
                "then", then.toSpec());
    }
}

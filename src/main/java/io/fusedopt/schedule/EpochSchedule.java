package io.fusedopt.schedule;

/**
 * A schedule of this package, evaluable at a rational epoch {@code e = num / den}.
 *
 * <p>Why rational and not {@code double}: with per-batch stepping {@code e = step /
 * stepsPerEpoch} is usually not representable, and a {@code double} epoch would put SGDR restarts,
 * step decays and milestones one step early or late. Keeping the numerator and denominator as
 * integers lets every boundary test stay exact; only the position inside a segment becomes a
 * {@code double}.
 */
interface EpochSchedule extends Schedule {
    /**
     * The rate at epoch {@code num / den}. Callers guarantee {@code num >= 0} and {@code den >= 1};
     * {@code den > 1} only when {@link #fractional()} is true.
     *
     * @throws IllegalArgumentException if the schedule uses {@code baseLr} and it is negative or not
     *     finite
     */
    double at(long num, long den, double baseLr);

    /**
     * Whether {@link #at} accepts {@code den > 1}. False only for composites holding a part that
     * can be evaluated at whole epochs alone (a foreign or already re-expressed schedule).
     */
    default boolean fractional() {
        return true;
    }

    /** Evaluates at {@code e = step}; rejects {@code step < 0}. */
    @Override
    default double lr(long step, double baseLr) {
        Check.step(step);
        return at(step, 1, baseLr);
    }

    /**
     * Evaluates any schedule at {@code num / den}: ours through {@link #at}, others (whole epochs
     * only, guaranteed by the {@link #fractional()} checks at construction) through {@code lr}.
     */
    static double eval(Schedule s, long num, long den, double baseLr) {
        if (s instanceof EpochSchedule es) {
            return es.at(num, den, baseLr);
        }
        if (den != 1) {
            throw new IllegalStateException("fractional epoch reached a whole-epoch schedule: " + s);
        }
        return s.lr(num, baseLr);
    }

    /** The epoch {@code num / den} as a double, integer part exact. */
    static double epoch(long num, long den) {
        return (num / den) + (double) (num % den) / den;
    }
}

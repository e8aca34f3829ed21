package io.fusedopt.schedule;

/** The few shapes the schedules are made of. */
final class Curves {
    private Curves() {
    }

    /**
     * FORMAT.md's {@code cos(from→to, p) = to + (from - to)(1 + cos(πp))/2}. The ends are returned
     * exactly ({@code p <= 0} gives {@code from}, {@code p >= 1} gives {@code to}) so that a restart
     * is back at the base rate to the bit, and the interior is clamped to the segment because the
     * rounded sum can land one ulp beyond {@code from}.
     */
    static double cosine(double from, double to, double p) {
        if (!(p > 0)) {
            return from;
        }
        if (p >= 1) {
            return to;
        }
        double v = to + (from - to) * (0.5 * (1 + Math.cos(Math.PI * p)));
        return Math.min(Math.max(v, Math.min(from, to)), Math.max(from, to));
    }

    /**
     * {@code baseLr * factor}, except that a zero base stays zero: a decay factor that grew to
     * infinity ({@code gamma > 1} over a huge step count) must not turn a zero rate into NaN.
     */
    static double scale(double baseLr, double factor) {
        return baseLr == 0 ? 0.0 : baseLr * factor;
    }
}

package io.fusedopt.bench;

import java.util.Arrays;

/** Small statistics over timings. */
public final class Stats {
    private Stats() {
    }

    /**
     * The median of {@code values} (the mean of the middle two for an even count); the array is not changed.
     *
     * @throws IllegalArgumentException for an empty array
     */
    public static double median(double[] values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("median of no values");
        }
        double[] s = values.clone();
        Arrays.sort(s);
        int h = s.length / 2;
        return s.length % 2 == 1 ? s[h] : (s[h - 1] + s[h]) / 2;
    }
}

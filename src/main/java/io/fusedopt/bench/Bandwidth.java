package io.fusedopt.bench;

/**
 * A measured memory bandwidth: the median and the best of several timed repetitions of a reference pattern.
 *
 * @param medianGbps the median over the repetitions, in GB/s (10^9 bytes per second); the figure {@code bench}
 *     compares optimizer steps with, since their time is a median too
 * @param bestGbps the fastest repetition, in GB/s
 * @param repetitions how many timed repetitions
 * @param pattern what was timed, for reports (for example {@code in-place stream a[i] = s*a[i] + b[i], 2 x 64M floats})
 */
public record Bandwidth(double medianGbps, double bestGbps, int repetitions, String pattern) {
    /** A one-line description for reports. */
    public String describe() {
        return String.format("%s: median %.2f GB/s, best %.2f GB/s over %d repetitions", pattern, medianGbps,
                bestGbps, repetitions);
    }

    /** Median and best of repetition times {@code seconds}, each moving {@code bytes}. */
    static Bandwidth of(double[] seconds, double bytes, String pattern) {
        double[] s = seconds.clone();
        java.util.Arrays.sort(s);
        return new Bandwidth(bytes / Stats.median(s) / 1e9, bytes / s[0] / 1e9, s.length, pattern);
    }
}

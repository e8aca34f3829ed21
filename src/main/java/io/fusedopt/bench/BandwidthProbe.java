package io.fusedopt.bench;

/**
 * A reference memory pattern that can be timed once at a time, so that {@code bench} can interleave it with the
 * optimizer steps it is compared with: on a shared or throttled machine the available bandwidth drifts, and
 * only measurements taken in the same window are comparable.
 */
public interface BandwidthProbe extends AutoCloseable {
    /** Runs the pattern once, waits for it to finish, and returns the seconds it took. */
    double timeOnce();

    /** Bytes one run of the pattern moves. */
    double bytes();

    /** What is timed, for reports. */
    String pattern();

    /** The bandwidth of the given run times (seconds), median and best. */
    default Bandwidth bandwidth(double[] seconds) {
        return Bandwidth.of(seconds, bytes(), pattern());
    }

    /** Times {@code repetitions} runs in a row. */
    default Bandwidth measure(int repetitions) {
        if (repetitions < 1) {
            throw new IllegalArgumentException("repetitions must be >= 1, got " + repetitions);
        }
        double[] s = new double[repetitions];
        for (int r = 0; r < repetitions; r++) {
            s[r] = timeOnce();
        }
        return bandwidth(s);
    }

    /** Frees what the probe holds. */
    @Override
    void close();
}

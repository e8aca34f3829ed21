package io.fusedopt.bench;

import java.util.Arrays;

/**
 * The CPU's reference bandwidth: an in-place streaming update {@code a[i] = s * a[i] + b[i]} in float over two
 * large arrays on all cores, split as the CPU backend splits a step ({@link Parallel}). Per element it reads a
 * and b and writes a back, 12 bytes, into lines it has just read: the same no-write-allocate pattern as an
 * optimizer step, which writes back every buffer it reads except the gradients. The arrays should be far larger
 * than the caches (64M floats each by default).
 */
public final class StreamBandwidth implements BandwidthProbe {
    /** Default floats per array: 256 MiB each, far beyond any last-level cache. */
    public static final int DEFAULT_ELEMENTS = 64 << 20;
    /** Bytes per element: read a, read b, write a. */
    public static final int BYTES_PER_ELEMENT = 12;
    /** Untimed runs when opening, so that C2 has compiled the loop and every page is mapped. */
    static final int WARMUP = 3;
    private static final float S = 0.5f;

    private float[] a;
    private float[] b;
    private final int elements;
    private final int[][] ranges;
    private final String pattern;

    private StreamBandwidth(int elements) {
        this.elements = elements;
        a = new float[elements];
        b = new float[elements];
        // a converges to b / (1 - s) = 2: values stay normal, so no run is slowed by subnormals.
        Arrays.fill(a, 1f);
        Arrays.fill(b, 1f);
        ranges = Parallel.split(elements, 1 << 14);
        pattern = String.format("in-place stream a[i] = s*a[i] + b[i], 2 x %s floats, 12 B/element, %d threads",
                Units.count(elements), Parallel.cores());
    }

    /**
     * Allocates the two arrays of {@code elements} floats and runs the stream a few times untimed.
     *
     * @throws IllegalArgumentException when {@code elements < 1}
     * @throws OutOfMemoryError when the heap cannot hold the arrays
     */
    public static StreamBandwidth open(int elements) {
        if (elements < 1) {
            throw new IllegalArgumentException("stream bandwidth needs elements >= 1, got " + elements);
        }
        StreamBandwidth s = new StreamBandwidth(elements);
        for (int r = 0; r < WARMUP; r++) {
            s.timeOnce();
        }
        return s;
    }

    /**
     * Opens a probe over {@code elements} floats per array, times {@code repetitions} runs in a row and frees it.
     *
     * @throws IllegalArgumentException when {@code elements < 1} or {@code repetitions < 1}
     */
    public static Bandwidth measure(int elements, int repetitions) {
        try (StreamBandwidth s = open(elements)) {
            return s.measure(repetitions);
        }
    }

    @Override
    public double timeOnce() {
        final float[] x = live(), y = b;
        long t0 = System.nanoTime();
        Parallel.run(ranges, (from, to) -> stream(x, y, S, from, to));
        return (System.nanoTime() - t0) / 1e9;
    }

    private float[] live() {
        if (a == null) {
            throw new IllegalStateException("the stream probe is closed");
        }
        return a;
    }

    @Override
    public double bytes() {
        return (double) BYTES_PER_ELEMENT * elements;
    }

    @Override
    public String pattern() {
        return pattern;
    }

    /** The streamed update over {@code [from, to)}; a plain counted loop so that C2 vectorises it. */
    static void stream(float[] a, float[] b, float s, int from, int to) {
        for (int i = from; i < to; i++) {
            a[i] = s * a[i] + b[i];
        }
    }

    /** Drops the arrays so that the heap can reclaim them. */
    @Override
    public void close() {
        a = null;
        b = null;
    }
}

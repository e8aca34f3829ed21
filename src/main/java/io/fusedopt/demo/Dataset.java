package io.fusedopt.demo;

import java.util.Arrays;

/**
 * An immutable set of labelled samples: {@code size()} rows of {@link #FEATURES} floats, row-major in one array,
 * and one class label per row.
 */
public final class Dataset {
    /** Features per sample: the 8×8 pixels of a digit. */
    public static final int FEATURES = 64;
    /** Number of classes (the digits 0–9). */
    public static final int CLASSES = 10;

    private final float[] features;
    private final int[] labels;

    /**
     * Wraps copies of the arrays.
     *
     * @throws IllegalArgumentException when {@code features} does not hold {@link #FEATURES} values per label, or
     *     a label lies outside {@code [0, CLASSES)}
     */
    public Dataset(float[] features, int[] labels) {
        if (features.length != labels.length * FEATURES) {
            throw new IllegalArgumentException("expected " + labels.length * FEATURES + " features for "
                    + labels.length + " labels, got " + features.length);
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= CLASSES) {
                throw new IllegalArgumentException("label of sample " + i + " must be in [0, " + CLASSES + "), got "
                        + labels[i]);
            }
        }
        this.features = features.clone();
        this.labels = labels.clone();
    }

    /** The number of samples. */
    public int size() {
        return labels.length;
    }

    /** The label of sample {@code i}; rejects an index outside {@code [0, size())}. */
    public int label(int i) {
        return labels[i];
    }

    /** A copy of all labels, in sample order. */
    public int[] labels() {
        return labels.clone();
    }

    /** A copy of sample {@code i}'s features; rejects an index outside {@code [0, size())}. */
    public float[] row(int i) {
        return Arrays.copyOfRange(features, i * FEATURES, (i + 1) * FEATURES);
    }

    /**
     * Copies the features of the samples {@code indices[from..from+count)} into {@code dst}, one row after the
     * other; rejects indices outside the set and a {@code dst} shorter than {@code count} rows.
     */
    public void gather(int[] indices, int from, int count, float[] dst) {
        for (int r = 0; r < count; r++) {
            System.arraycopy(features, indices[from + r] * FEATURES, dst, r * FEATURES, FEATURES);
        }
    }

    /** The subset of the given samples, in the given order; rejects indices outside the set. */
    public Dataset subset(int[] indices) {
        float[] f = new float[indices.length * FEATURES];
        int[] l = new int[indices.length];
        gather(indices, 0, indices.length, f);
        for (int r = 0; r < indices.length; r++) {
            l[r] = labels[indices[r]];
        }
        return new Dataset(f, l);
    }
}

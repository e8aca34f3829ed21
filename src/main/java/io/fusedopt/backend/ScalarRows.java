package io.fusedopt.backend;

/**
 * The per-step scalars of every group for a given applied-step count, computed on the host in double and cast to
 * float once. A CUDA program asks for the rows of a window of counts, because which one a step uses is decided on
 * the device (a skipped step does not advance the count).
 */
@FunctionalInterface
public interface ScalarRows {
    /**
     * Writes the scalars of the step that makes the applied count {@code t} ({@code t >= 1}): the rule's float
     * scalars of every group, groups in order, into {@code scalars}, and its double finish scalars into
     * {@code finish}.
     *
     * @throws IllegalStateException when the schedule or the hyperparameters give a value the kernels cannot use
     *     at {@code t}; the message says which
     */
    void fill(long t, float[] scalars, double[] finish);
}

package io.fusedopt;

import io.fusedopt.checkpoint.StateImage;
import java.util.List;
import java.util.Map;

/**
 * An optimizer's whole state in memory, from {@link Optimizer#state()}, for frameworks that keep their own
 * checkpoints: every state slot of every tensor, the per-tensor state, the step and skipped counts, the
 * learning-rate control ({@link Optimizer#setLearningRate}, {@link Optimizer#setLrScale}) and the configuration, as
 * a checkpoint file holds them (see {@link Checkpoint}). {@link Optimizer#load(OptimizerState)} restores it into an
 * optimizer of the same configuration and tensors, on either backend. Immutable: the values were copied when the
 * state was taken, and every accessor returns a copy. Parameters are not in it, as they are not in a checkpoint.
 */
public final class OptimizerState {
    private final StateImage image;
    private final long step;
    private final long skipped;

    OptimizerState(StateImage image, long step, long skipped) {
        this.image = image;
        this.step = step;
        this.skipped = skipped;
    }

    StateImage image() {
        return image;
    }

    /** The step count when the state was taken. */
    public long stepCount() {
        return step;
    }

    /** The skipped-step count when the state was taken. */
    public long skippedSteps() {
        return skipped;
    }

    /**
     * The checkpoint metadata of this state: the {@code fusedopt.*} keys described in {@link Checkpoint} (the
     * optimizer description with every group's hyperparameters, the schedule and Lookahead, the tensors, the slots,
     * the counters, the learning-rate control when set, the checksums); unmodifiable.
     */
    public Map<String, String> metadata() {
        return image.metadata();
    }

    /** The entries, {@code <tensor>.<slot>} in store and slot order, then {@value Checkpoint#TENSOR_STATE} if any. */
    public List<String> entryNames() {
        return image.entryNames();
    }

    /**
     * A copy of one state slot of one tensor.
     *
     * @throws IllegalArgumentException for a tensor or slot this state has not
     */
    public float[] slot(String tensor, String slot) {
        return image.slot(tensor, slot);
    }

    /** A copy of the per-tensor state, {@code [tensors × width]} in store order; empty for rules without it. */
    public double[] tensorState() {
        return image.tensorState();
    }
}

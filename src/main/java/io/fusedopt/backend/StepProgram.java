package io.fusedopt.backend;

/**
 * The prepared step of one optimizer on one backend. {@link #run} issues the passes of a step; on CUDA it does not
 * wait for them.
 */
public interface StepProgram extends AutoCloseable {
    /**
     * Issues one step.
     *
     * @param scalars the rule's float scalars, {@code scalarCount} per group, groups in order
     * @param finishScalars the rule's double finish scalars per group (empty for rules without a reduction)
     * @param checkFinite whether to run the finite check and skip the step on device when a gradient is not finite
     * @param lookahead the Lookahead action of this step
     * @param lookaheadAlpha Lookahead's α
     */
    void run(float[] scalars, double[] finishScalars, boolean checkFinite, LookaheadAction lookahead,
            float lookaheadAlpha);

    /** Whether the last {@link #run} with {@code checkFinite} found a non-finite gradient; waits for it on CUDA. */
    boolean lastStepSkipped();

    /** The rule's per-tensor state (tensors × width doubles); a copy, read back from the device on CUDA. */
    double[] tensorState();

    /** Replaces the rule's per-tensor state. */
    void setTensorState(double[] state);

    /** Frees what {@link Backend#program} allocated. */
    @Override
    void close();

    /** What Lookahead does at a step. */
    enum LookaheadAction {
        /** No Lookahead, or not a synchronisation step. */
        NONE,
        /** Copy the parameters into the slow weights before the inner update (the first step). */
        INIT,
        /** After the inner update: {@code w = slow + α (w - slow); slow = w}, inside the same pass. */
        SYNC,
        /** Both: the first step is also a synchronisation step ({@code k = 1}). */
        INIT_AND_SYNC
    }
}

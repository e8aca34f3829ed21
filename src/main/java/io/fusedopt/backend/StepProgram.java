package io.fusedopt.backend;

/**
 * The prepared step of one optimizer on one backend. {@link #run} issues the passes of a step; on CUDA it does not
 * wait for them.
 */
public interface StepProgram extends AutoCloseable {
    /**
     * Issues the passes of {@code plan}, in order.
     *
     * @param plan the passes of this step
     * @param scalars the rule's float scalars, {@code scalarCount} per group, groups in order
     * @param finishScalars the rule's double finish scalars per group (empty for rules without a reduction)
     * @param lookaheadAlpha Lookahead's α
     */
    void run(StepPlan plan, float[] scalars, double[] finishScalars, float lookaheadAlpha);

    /**
     * Tells the program the 1-based number of the step the next {@link #run} performs; only stochastic rounding
     * reads it (its random bits depend on the step). The default ignores it.
     */
    default void beginStep(long t) {
    }

    /** Whether the last {@link #run} with {@code checkFinite} found a non-finite gradient; waits for it on CUDA. */
    boolean lastStepSkipped();

    /** The rule's per-tensor state (tensors × width doubles); a copy, read back from the device on CUDA. */
    double[] tensorState();

    /** Replaces the rule's per-tensor state. */
    void setTensorState(double[] state);

    /** Frees what {@link Backend#program} allocated. */
    @Override
    void close();
}

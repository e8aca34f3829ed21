package io.fusedopt.backend;

/**
 * The prepared step of one optimizer on one backend. {@link #step} issues a step; on CUDA it does not wait for it:
 * what the step decides (skipped or applied, the clip coefficient, the loss scale) is decided on the device, and
 * {@link #counters()} reads it back on demand.
 */
public interface StepProgram extends AutoCloseable {
    /**
     * Issues one whole step under {@code options} ({@link #configure}): the finite check or the gradient norm,
     * the decision to skip, the rule's passes with the gradient coefficient, Lookahead and the loss-scale update.
     * The applied-step count {@code t} of the step is this program's {@link StepCounters#applied()} + 1 when the
     * step is applied; on CUDA it is known only on the device, so the program asks {@code rows} for a window of
     * counts and the device picks the row. Nothing is issued when {@code rows} throws for the count the step
     * would use.
     */
    void step(ScalarRows rows);

    /**
     * As {@link #step(ScalarRows)}, on the caller's stream ({@code jcuda.driver.CUstream}); null for the backend's.
     *
     * @throws IllegalArgumentException for a stream the backend cannot use (another context; any stream on the CPU)
     */
    void step(ScalarRows rows, Object stream);

    /**
     * Fixes what {@link #step} does; called once, before the first step. Allocates what clipping needs.
     *
     * @throws IllegalStateException when called twice
     */
    void configure(StepOptions options);

    /**
     * Records one whole step (everything {@link #step} launches) as a graph that every later {@link #step} replays
     * with one launch, replacing an earlier graph. Captures nothing of the step's scalars, which still travel as a
     * window copied before each replay.
     *
     * @throws IllegalStateException on the CPU backend, which has no graphs, and when the program is closed
     */
    void capture();

    /** Drops the graph of {@link #capture}: later steps launch their passes one by one again. */
    void releaseGraph();

    /** Whether steps replay a captured graph. */
    boolean captured();

    /**
     * A step skipped for a non-finite gradient under {@link StepOptions#haltOnSkip}: its number (the applied count
     * it would have made) and how many steps issued after it were refused because the optimizer was halted.
     *
     * @param step the number of the skipped step
     * @param refusedAfter the steps issued after it that changed nothing
     */
    record Halt(long step, long refusedAfter) {
    }

    /**
     * The halt of a skipped step ({@link StepOptions#haltOnSkip}) the host has not yet raised, or null; taking it
     * lifts the halt, so steps issued afterwards apply. Waits for the steps issued only when {@code wait}; otherwise
     * it sees what the device has reported so far (on CUDA, the read-backs whose copies have completed).
     */
    Halt takeHalt(boolean wait);

    /** The step counters; on CUDA a read-back that waits for the steps issued so far. */
    StepCounters counters();

    /**
     * The device address of the loss scale (float32).
     *
     * @throws IllegalStateException on the CPU backend
     */
    long lossScaleAddress();

    /** Replaces the counters (restoring a checkpoint); the loss scale and tracker only with loss scaling. */
    void setCounters(long applied, long skipped, float lossScale, int growthTracker);

    /** The rule's per-tensor state (tensors × width doubles); a copy, read back from the device on CUDA. */
    double[] tensorState();

    /** Replaces the rule's per-tensor state. */
    void setTensorState(double[] state);

    /** Frees what {@link Backend#program} allocated. */
    @Override
    void close();
}

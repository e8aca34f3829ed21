package io.fusedopt.backend;

import io.fusedopt.core.Dtype;
import io.fusedopt.rule.Rule;
import java.util.List;

/**
 * A place where the arena lives and steps run: the CPU backend or the CUDA backend. This is fusedopt's internal
 * service interface; applications use {@link io.fusedopt.Device}, {@link io.fusedopt.ParameterStore} and
 * {@link io.fusedopt.Optimizer}.
 */
public interface Backend extends AutoCloseable {
    /** {@code "cpu"} or {@code "cuda"}. */
    String name();

    /** A one-line description of the hardware (device name, memory, driver; or cores for the CPU). */
    String description();

    /**
     * Allocates one buffer spanning the arena of {@code layout}. Contents are unspecified until written or filled.
     *
     * @param purpose what the buffer is for, used in error messages (for example {@code "parameters"})
     */
    ArenaBuffer allocate(ArenaLayout layout, String purpose);

    /**
     * Allocates one buffer spanning the arena of {@code layout} that stores {@code dtype}; as
     * {@link #allocate(ArenaLayout, String)} otherwise.
     */
    ArenaBuffer allocate(ArenaLayout layout, String purpose, Dtype dtype);

    /**
     * Prepares the step of {@code rule} over the given buffers: uploads tables and allocates what the passes
     * need. {@code slow} is the Lookahead slow-weight buffer, or null without Lookahead.
     */
    StepProgram program(Rule rule, ArenaLayout layout, ArenaBuffer params, ArenaBuffer grads,
            List<ArenaBuffer> slots, ArenaBuffer slow);

    /**
     * As {@link #program(Rule, ArenaLayout, ArenaBuffer, ArenaBuffer, List, ArenaBuffer)} with the buffers'
     * storage types taken into account ({@link Precision}): {@code params} are the weights the rule updates (the
     * float32 master copy when {@code precision} has a model copy), and the update also writes the rounded
     * weights into the model copy in the same pass.
     *
     * @throws IllegalArgumentException when the buffers' dtypes do not form a supported regime
     */
    StepProgram program(Rule rule, ArenaLayout layout, ArenaBuffer params, ArenaBuffer grads,
            List<ArenaBuffer> slots, ArenaBuffer slow, Precision precision);

    /** Waits until all work issued so far has finished. */
    void synchronize();

    /**
     * Runs {@code work}, which issues device work (steps), and returns the milliseconds the device spent between
     * the start and the end of what it issued: on CUDA between two events recorded on the step stream around it
     * (kernel time, without the host's launch overhead once the queue is full), on the CPU the wall time. Waits for
     * the work to finish.
     */
    double timeQueued(Runnable work);

    /** Releases the backend's context and everything it still holds. */
    @Override
    void close();
}

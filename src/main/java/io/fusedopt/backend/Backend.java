package io.fusedopt.backend;

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
     * Prepares the step of {@code rule} over the given buffers: uploads tables and allocates what the passes
     * need. {@code slow} is the Lookahead slow-weight buffer, or null without Lookahead.
     */
    StepProgram program(Rule rule, ArenaLayout layout, ArenaBuffer params, ArenaBuffer grads,
            List<ArenaBuffer> slots, ArenaBuffer slow);

    /** Waits until all work issued so far has finished. */
    void synchronize();

    /** Releases the backend's context and everything it still holds. */
    @Override
    void close();
}

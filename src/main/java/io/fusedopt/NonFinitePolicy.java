package io.fusedopt;

/** What an optimizer does when a gradient holds a NaN or an infinity. */
public enum NonFinitePolicy {
    /** Apply the step anyway, letting NaN and infinities reach parameters and state (PyTorch's behaviour). */
    PROPAGATE,
    /**
     * Skip the whole step: parameters, state and the step count stay as they were, and
     * {@link Optimizer#skippedSteps()} grows by one. Costs a read-only pass over the gradients (none more with
     * clipping, whose norm pass is the check); decided on the device, so {@code step()} never waits for it.
     */
    SKIP,
    /**
     * Leave everything untouched, as {@link #SKIP} does, and throw {@link NonFiniteGradientException}. On CUDA the
     * step reads its outcome back to throw in the same call, so each {@code step()} waits for the device.
     */
    THROW
}

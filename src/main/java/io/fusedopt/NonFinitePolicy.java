package io.fusedopt;

/** What an optimizer does when a gradient holds a NaN or an infinity. */
public enum NonFinitePolicy {
    /** Apply the step anyway, letting NaN and infinities reach parameters and state (PyTorch's behaviour). */
    PROPAGATE,
    /**
     * Skip the whole step: parameters, state and the step count stay as they were, and
     * {@link Optimizer#skippedSteps()} grows by one. Costs a norm pass and, on CUDA, one 4-byte read-back per step.
     */
    SKIP,
    /** Leave everything untouched, as {@link #SKIP} does, and throw {@link NonFiniteGradientException}. */
    THROW
}

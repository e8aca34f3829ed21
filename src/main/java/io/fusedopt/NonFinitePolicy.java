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
     * Leave everything untouched, as {@link #SKIP} does, and throw {@link NonFiniteGradientException}. On the CPU
     * the {@code step()} that met the gradient throws. On CUDA no {@code step()} waits for the device: the device
     * skips the step and halts the optimizer, so that every step issued after it changes nothing either, and the
     * first {@code step()} after the device's report has reached the host throws, naming the step and how many
     * steps issued after it were refused; the halt is then lifted. That is at most
     * {@code 8} steps later; {@link Optimizer#synchronize()} raises it at once, at the cost of a wait.
     */
    THROW
}

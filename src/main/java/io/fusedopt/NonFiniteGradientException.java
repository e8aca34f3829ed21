package io.fusedopt;

import io.fusedopt.core.FusedOptException;

/** Thrown by {@link Optimizer#step()} under {@link NonFinitePolicy#THROW} when a gradient is not finite; nothing was changed. */
public class NonFiniteGradientException extends FusedOptException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception for the step that was refused. */
    public NonFiniteGradientException(String message) {
        super(message);
    }
}

package io.fusedopt.core;

/** Base of the unchecked exceptions fusedopt throws for conditions other than invalid arguments. */
public class FusedOptException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Creates an exception with a message that says what failed. */
    public FusedOptException(String message) {
        super(message);
    }

    /** Creates an exception with a message and the underlying cause. */
    public FusedOptException(String message, Throwable cause) {
        super(message, cause);
    }
}

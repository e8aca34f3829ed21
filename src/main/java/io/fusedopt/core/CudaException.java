package io.fusedopt.core;

/**
 * A CUDA driver call failed. Carries the driver's error name (for example {@code CUDA_ERROR_OUT_OF_MEMORY}),
 * its numeric code, and what fusedopt was doing when it failed.
 */
public class CudaException extends FusedOptException {
    private static final long serialVersionUID = 1L;
    private final int code;
    private final String errorName;
    private final String action;

    /** Creates the exception for driver result {@code code}, named {@code errorName}, raised while {@code action}. */
    public CudaException(int code, String errorName, String action) {
        super(errorName + " (" + code + ") while " + action);
        this.code = code;
        this.errorName = errorName;
        this.action = action;
    }

    /** The driver's numeric result code. */
    public int code() {
        return code;
    }

    /** The driver's error name, e.g. {@code CUDA_ERROR_INVALID_VALUE}. */
    public String errorName() {
        return errorName;
    }

    /** What fusedopt was doing when the call failed. */
    public String action() {
        return action;
    }
}

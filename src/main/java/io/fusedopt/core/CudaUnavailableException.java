package io.fusedopt.core;

/** CUDA cannot be used here; the message is a one-line reason (no driver library, no device, driver too old ...). */
public class CudaUnavailableException extends FusedOptException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with a one-line reason. */
    public CudaUnavailableException(String reason) {
        super(reason);
    }

    /** Creates the exception with a one-line reason and its cause. */
    public CudaUnavailableException(String reason, Throwable cause) {
        super(reason, cause);
    }
}

package io.fusedopt.demo;

import io.fusedopt.core.CudaException;
import java.util.Optional;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasStatus;

/** Finds out whether JCublas can load its native library (it needs {@code libcublas.so.12}) and open a handle. */
public final class CublasProbe {
    private static final int MAX_REASON = 200;

    private CublasProbe() {
    }

    /**
     * Empty when a cuBLAS handle could be created (and was destroyed again), otherwise a one-line reason; never
     * throws for a missing or broken library, only for errors of the JVM itself (out of memory and the like).
     */
    public static Optional<String> unavailableReason() {
        try {
            // JCuda's own loader would load a file that anyone may have planted in java.io.tmpdir.
            io.fusedopt.cuda.JCudaNatives.loadCublas();
            cublasHandle handle = new cublasHandle();
            int status = JCublas2.cublasCreate(handle);
            if (status != cublasStatus.CUBLAS_STATUS_SUCCESS) {
                return Optional.of("cublasCreate returned " + cublasStatus.stringFor(status));
            }
            JCublas2.cublasDestroy(handle);
            return Optional.empty();
        } catch (VirtualMachineError e) {
            throw e; // running out of memory says nothing about cuBLAS
        } catch (Throwable e) {
            // UnsatisfiedLinkError, NoClassDefFoundError after a failed static initialiser, JCuda's own
            // CudaException: all mean the library cannot be used here.
            return Optional.of(oneLine(e));
        }
    }

    /** The throwable's simple class name and the first line of its message, cut to a readable length. */
    static String oneLine(Throwable e) {
        String message = e.getMessage();
        String text = e.getClass().getSimpleName();
        if (message != null && !message.isBlank()) {
            String first = message.strip().lines().findFirst().orElse("").strip();
            text += ": " + first;
        }
        return text.length() <= MAX_REASON ? text : text.substring(0, MAX_REASON - 1) + "…";
    }
}

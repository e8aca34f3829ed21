package io.fusedopt.cuda;

import io.fusedopt.core.CudaException;
import jcuda.driver.CUresult;

/** Turns CUDA driver result codes into {@link CudaException}s that carry the driver's error name. */
final class Driver {
    private Driver() {
    }

    /** Throws when {@code result} is not {@code CUDA_SUCCESS}, saying what was being done. */
    static void check(int result, String action) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(result, name(result), action);
        }
    }

    /** The driver's name for a result code, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}. */
    static String name(int result) {
        String s = CUresult.stringFor(result);
        return s == null || s.startsWith("INVALID CUresult") ? "CUDA_ERROR_" + result : s;
    }
}

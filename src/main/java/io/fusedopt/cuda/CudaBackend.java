package io.fusedopt.cuda;

import io.fusedopt.backend.Backend;

/** The CUDA backend; this build does not contain it yet, so opening it always reports that. */
public final class CudaBackend {
    private CudaBackend() {
    }

    /** Always throws: the CUDA kernels are not part of this build yet. */
    public static Backend open() {
        throw new CudaUnavailableException("this build of fusedopt has no CUDA backend yet");
    }
}

/**
 * fusedopt: fused optimizer steps on CUDA through JCuda, with a bit-identical CPU backend.
 *
 * <p>Exports the optimizer API ({@code io.fusedopt}), the leaf types every layer shares ({@code io.fusedopt.core}:
 * {@code Tensor}, {@code CudaException}, {@code CudaUnavailableException}, {@code FusedOptException},
 * {@code LaunchConfig}), the algorithms and their registry ({@code io.fusedopt.rule}) and the learning-rate schedules
 * ({@code io.fusedopt.schedule}).
 * The backend interface, the CPU backend and the relocated Jackson are internal.
 */
module io.fusedopt {
    // Transitive: CudaPointers speaks JCuda's CUdeviceptr in the exported API.
    requires transitive jcuda;
    // The relocated Jackson inside the library refers to these, optionally, as Jackson's own descriptor does.
    requires static java.desktop;
    requires static java.sql;
    // Optional: the CPU backend's 16-bit conversions use vectors when the application adds this module.
    requires static jdk.incubator.vector;

    exports io.fusedopt;
    exports io.fusedopt.core;
    exports io.fusedopt.rule;
    exports io.fusedopt.schedule;
}

/**
 * fusedopt: fused optimizer steps on CUDA through JCuda, with a bit-identical CPU backend.
 *
 * <p>Exports the optimizer API ({@code io.fusedopt}), the update rules ({@code io.fusedopt.rule}), the learning-rate
 * schedules ({@code io.fusedopt.schedule}) and, for {@code CudaUnavailableException}, {@code io.fusedopt.cuda}.
 * The backend interface, the CPU backend and the relocated Jackson are internal.
 */
module io.fusedopt {
    requires jcuda;
    // The relocated Jackson inside the library refers to these, optionally, as Jackson's own descriptor does.
    requires static java.desktop;
    requires static java.sql;

    exports io.fusedopt;
    exports io.fusedopt.cuda;
    exports io.fusedopt.rule;
    exports io.fusedopt.schedule;
}

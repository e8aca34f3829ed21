package io.fusedopt.cli;

import io.fusedopt.cpu.CpuBackend;
import io.fusedopt.cuda.CudaBackend;
import io.fusedopt.core.CudaUnavailableException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/**
 * {@code info}: the version, the backends, and the CUDA device with the kernel image its driver loaded (fatbin, or
 * PTX and why the fatbin was refused), or why CUDA is not usable.
 */
@Command(name = "info", description = "Show the version, the available backends, and the CUDA device (with the kernel"
        + " image loaded: fatbin or PTX) or why it is not usable.")
final class InfoCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        System.out.println("fusedopt " + Version.get());
        try (CpuBackend cpu = new CpuBackend()) {
            System.out.println("cpu:  available — " + cpu.description());
        }
        try (var cuda = CudaBackend.open()) {
            System.out.println("cuda: available — " + cuda.description());
        } catch (CudaUnavailableException e) {
            System.out.println("cuda: not usable — " + e.getMessage());
        }
        return 0;
    }
}

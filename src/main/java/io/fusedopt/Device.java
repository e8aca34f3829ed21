package io.fusedopt;

import io.fusedopt.backend.Backend;
import io.fusedopt.cpu.CpuBackend;
import io.fusedopt.cuda.CudaBackend;
import io.fusedopt.cuda.CudaUnavailableException;
import java.util.Locale;
import java.util.Optional;

/**
 * Where parameter stores live and optimizer steps run: the CUDA backend or the CPU backend.
 *
 * <pre>{@code
 * try (Device device = Device.auto()) {            // CUDA when usable, otherwise CPU
 *     device.fallbackReason().ifPresent(System.err::println);
 * }
 * }</pre>
 *
 * <p>Closing a device releases its CUDA context; stores and optimizers made on it must be closed first.
 */
public final class Device implements AutoCloseable {
    private final Backend backend;
    private final String fallbackReason;
    private boolean closed;

    private Device(Backend backend, String fallbackReason) {
        this.backend = backend;
        this.fallbackReason = fallbackReason;
    }

    /** The CUDA device when JCuda loads, a device exists and the kernels load; otherwise the CPU, with the reason. */
    public static Device auto() {
        try {
            return new Device(CudaBackend.open(), null);
        } catch (CudaUnavailableException e) {
            return new Device(new CpuBackend(), "CUDA not usable, using the CPU backend: " + e.getMessage());
        }
    }

    /** The pure-Java CPU backend. */
    public static Device cpu() {
        return new Device(new CpuBackend(), null);
    }

    /**
     * The CUDA backend on device 0.
     *
     * @throws CudaUnavailableException naming the reason when CUDA cannot work here
     */
    public static Device cuda() {
        return new Device(CudaBackend.open(), null);
    }

    /**
     * The device named {@code auto}, {@code cpu} or {@code cuda} (case-insensitive).
     *
     * @throws IllegalArgumentException for any other name
     * @throws CudaUnavailableException for {@code cuda} when CUDA cannot work here
     */
    public static Device of(String name) {
        switch (name == null ? "" : name.toLowerCase(Locale.ROOT)) {
            case "auto":
                return auto();
            case "cpu":
                return cpu();
            case "cuda":
                return cuda();
            default:
                throw new IllegalArgumentException("device must be auto, cpu or cuda, got " + name);
        }
    }

    /** {@code "cpu"} or {@code "cuda"}. */
    public String name() {
        return backend.name();
    }

    /** A one-line description of the hardware. */
    public String description() {
        return backend.description();
    }

    /** Why {@link #auto()} chose the CPU, when it did. */
    public Optional<String> fallbackReason() {
        return Optional.ofNullable(fallbackReason);
    }

    /** The backend; fusedopt's internal service interface, for the store and the optimizer. */
    public Backend backend() {
        if (closed) {
            throw new IllegalStateException("device " + name() + " is closed");
        }
        return backend;
    }

    /** Waits for all work issued on this device to finish (a no-op on the CPU). */
    public void synchronize() {
        backend().synchronize();
    }

    /** Releases the device's context. Closing twice is harmless. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            backend.close();
        }
    }

    @Override
    public String toString() {
        return name() + " (" + description() + ")";
    }
}

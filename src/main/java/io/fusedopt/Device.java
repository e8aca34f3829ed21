package io.fusedopt;

import io.fusedopt.backend.Backend;
import io.fusedopt.cpu.CpuBackend;
import io.fusedopt.cuda.CudaBackend;
import io.fusedopt.core.CudaUnavailableException;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

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
    /**
     * Shared by every use of device memory (a step, a copy in or out, a checkpoint), exclusive for every release
     * (closing an optimizer, a store or the device): a close waits for running steps, so no memory is freed under
     * a running kernel or copy, and a step after a close is refused.
     */
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private volatile boolean closed;

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

    /** Whether {@link #close()} has run. */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Runs {@code work}, which uses memory on this device, so that no close frees that memory meanwhile.
     *
     * @throws IllegalStateException when the device is closed
     */
    <T> T use(Supplier<T> work) {
        Lock shared = lifecycle.readLock();
        shared.lock();
        try {
            if (closed) {
                throw new IllegalStateException("device " + backend.name() + " is closed");
            }
            return work.get();
        } finally {
            shared.unlock();
        }
    }

    /** {@link #use(Supplier)} for work without a result. */
    void use(Runnable work) {
        use(() -> {
            work.run();
            return null;
        });
    }

    /**
     * Waits for the device's queued work before memory is freed; a device already failed or closed has nothing to
     * wait for, and the release goes on.
     */
    void quietSynchronize() {
        if (!closed) {
            try {
                backend.synchronize();
            } catch (RuntimeException e) {
                // A sticky device error is reported by the next use, not by a release.
            }
        }
    }

    /** Runs {@code release} once every running {@link #use} has finished, and before any new one starts. */
    void release(Runnable release) {
        Lock exclusive = lifecycle.writeLock();
        exclusive.lock();
        try {
            release.run();
        } finally {
            exclusive.unlock();
        }
    }

    /**
     * Releases the device's context and everything still allocated on it, after waiting for running steps; later
     * uses of its stores and optimizers are refused. Closing twice is harmless.
     */
    @Override
    public void close() {
        release(() -> {
            if (!closed) {
                closed = true;
                backend.close();
            }
        });
    }

    @Override
    public String toString() {
        return name() + " (" + description() + ")";
    }
}

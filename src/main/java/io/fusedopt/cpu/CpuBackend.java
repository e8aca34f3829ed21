package io.fusedopt.cpu;

import io.fusedopt.backend.ArenaBuffer;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.CallerMemory;
import io.fusedopt.backend.Precision;
import io.fusedopt.core.Dtype;
import io.fusedopt.backend.Backend;
import io.fusedopt.backend.StepProgram;
import io.fusedopt.rule.Rule;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.ForkJoinPool;

/**
 * The pure-Java backend: float32 buffers on the heap, every pass of a large enough arena split by runs of chunks
 * over all cores. It runs the
 * same per-element rules as the CUDA kernels, bit for bit.
 */
public final class CpuBackend implements Backend {
    private static final class PoolHolder {
        static final ForkJoinPool POOL = new ForkJoinPool(Runtime.getRuntime().availableProcessors(), pool -> {
            var thread = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
            thread.setDaemon(true);
            thread.setName("fusedopt-cpu-" + thread.getPoolIndex());
            return thread;
        }, null, false);
    }

    // Every buffer still open, so that closing the device closes them and later use is refused, as on CUDA. Weak:
    // a buffer closed and dropped by its owner must not be kept alive by the backend.
    private final Set<CpuBuffer> live = Collections.newSetFromMap(new WeakHashMap<>());
    private volatile boolean closed;

    /** Creates a CPU backend; it holds no native resources. */
    public CpuBackend() {
    }

    static ForkJoinPool pool() {
        return PoolHolder.POOL;
    }

    /** The threads a pass may use, the calling thread included: one per available processor. */
    static int threads() {
        return Runtime.getRuntime().availableProcessors();
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String description() {
        return "CPU, " + Runtime.getRuntime().availableProcessors() + " cores, Java " + Runtime.version()
                + "; 16-bit conversions: " + HalfArrays.get().describe();
    }

    /**
     * Allocates a heap buffer for {@code layout}.
     *
     * @throws IllegalStateException when this backend is closed
     */
    @Override
    public ArenaBuffer allocate(ArenaLayout layout, String purpose) {
        return allocate(layout, purpose, Dtype.FLOAT32);
    }

    /**
     * Allocates a heap buffer for {@code layout} storing {@code dtype}.
     *
     * @throws IllegalStateException when this backend is closed
     */
    @Override
    public ArenaBuffer allocate(ArenaLayout layout, String purpose, Dtype dtype) {
        return allocate(layout, purpose, dtype, CallerMemory.none(layout.tensors().size()));
    }

    @Override
    public ArenaBuffer allocate(ArenaLayout layout, String purpose, Dtype dtype, CallerMemory memory) {
        synchronized (live) {
            if (closed) {
                throw new IllegalStateException("the CPU device is closed");
            }
            CpuBuffer b = new CpuBuffer(layout, purpose, dtype, memory);
            live.add(b);
            return b;
        }
    }

    @Override
    public StepProgram program(Rule rule, ArenaLayout layout, ArenaBuffer params, ArenaBuffer grads,
            List<ArenaBuffer> slots, ArenaBuffer slow) {
        return program(rule, layout, params, grads, slots, slow, Precision.PLAIN);
    }

    @Override
    public StepProgram program(Rule rule, ArenaLayout layout, ArenaBuffer params, ArenaBuffer grads,
            List<ArenaBuffer> slots, ArenaBuffer slow, Precision precision) {
        return new CpuStepProgram(rule, layout, (CpuBuffer) params, (CpuBuffer) grads,
                slots.stream().map(CpuBuffer.class::cast).toList(), (CpuBuffer) slow, CpuBackend.threads(),
                precision);
    }

    @Override
    public void synchronize() {
        // Every CPU pass has finished when it returns.
    }

    @Override
    public double timeQueued(Runnable work) {
        long t0 = System.nanoTime();
        work.run();
        return (System.nanoTime() - t0) / 1e6;
    }

    /**
     * Closes every buffer still open on this device, as closing a CUDA device frees them with its context: stores
     * and optimizers made on it then refuse to be used. The shared worker pool outlives backends. Closing twice is
     * harmless.
     */
    @Override
    public void close() {
        List<CpuBuffer> left;
        synchronized (live) {
            closed = true;
            left = new ArrayList<>(live);
            live.clear();
        }
        for (CpuBuffer b : left) {
            b.close();
        }
    }
}

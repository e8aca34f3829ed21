package io.fusedopt.cpu;

import io.fusedopt.backend.ArenaBuffer;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.Backend;
import io.fusedopt.backend.StepProgram;
import io.fusedopt.rule.Rule;
import java.util.List;
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
        return "CPU, " + Runtime.getRuntime().availableProcessors() + " cores, Java " + Runtime.version();
    }

    @Override
    public ArenaBuffer allocate(ArenaLayout layout, String purpose) {
        return new CpuBuffer(layout, purpose);
    }

    @Override
    public StepProgram program(Rule rule, ArenaLayout layout, ArenaBuffer params, ArenaBuffer grads,
            List<ArenaBuffer> slots, ArenaBuffer slow) {
        return new CpuStepProgram(rule, layout, (CpuBuffer) params, (CpuBuffer) grads,
                slots.stream().map(CpuBuffer.class::cast).toList(), (CpuBuffer) slow);
    }

    @Override
    public void synchronize() {
        // Every CPU pass has finished when it returns.
    }

    @Override
    public void close() {
        // The shared worker pool outlives backends; nothing else is held.
    }
}

package io.fusedopt.jmh;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.bench.ModelLayout;
import io.fusedopt.bench.StepBench;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One AdamW step (PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-2), synchronized, on
 * the layouts where the CPU work split matters: one cache-resident tensor of 1M parameters, 10,000 tensors of
 * 100, and the bandwidth-bound 16M, 64M and GPT-2 small. The same arena is stepped over and over, as a training
 * loop does, so a small arena stays in the caches between steps. Run it once with
 * {@code -jvmArgsAppend -XX:ActiveProcessorCount=1} to time one worker thread.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class LayoutBenchmark {
    /** {@code 1M}, {@code 16M}, {@code 64M} (one tensor), {@code 10000x100} or {@code gpt2-small}. */
    @Param({"1M", "10000x100", "16M", "64M", "gpt2-small"})
    public String layout;

    /** cpu or cuda; the launcher sets the usable ones. */
    @Param({"cpu"})
    public String backend;

    private Device device;
    private ParameterStore store;
    private Optimizer opt;

    /** The layout a {@link #layout} value names. */
    static ModelLayout named(String layout) {
        switch (layout) {
            case "1M": return ModelLayout.single(1L << 20);
            case "16M": return ModelLayout.single(1L << 24);
            case "64M": return ModelLayout.single(1L << 26);
            case "10000x100": return ModelLayout.uniform(10_000, 100);
            case "gpt2-small": return ModelLayout.gpt2Small();
            default: throw new IllegalArgumentException("unknown layout '" + layout + "'");
        }
    }

    /** Opens the device, allocates and fills the arena, and builds AdamW on it. */
    @Setup
    public void setup() {
        device = Device.of(backend);
        store = named(layout).build(device);
        StepBench.fill(store);
        opt = Optimizers.adamW().weightDecay(1e-2).build(store);
    }

    /** One step, waited for. */
    @Benchmark
    public void step() {
        opt.step();
        opt.synchronize();
    }

    /** Frees the state, the arena and the device. */
    @TearDown
    public void tearDown() {
        Closing.all(opt, store, device);
    }
}

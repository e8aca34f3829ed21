package io.fusedopt.jmh;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.bench.BenchOptimizers;
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
 * One optimizer step, synchronized, for every configuration of {@link BenchOptimizers} on one flat tensor of
 * 1M and 16M parameters, on each usable backend. The arena and the state are allocated once per trial; the
 * benchmark steps the same optimizer over and over.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class StepBenchmark {
    /** The configuration ({@link BenchOptimizers#NAMES}; sgd and sgdw with momentum 0.9). */
    @Param({"sgd", "sgd-plain", "sgdw", "adam", "adamw", "adamw-amsgrad", "adagrad", "radam", "nadam", "adabelief",
            "adabound", "amsbound", "yogi", "lamb", "swats"})
    public String optimizer;

    /** Parameters in the single tensor. */
    @Param({"1048576", "16777216"})
    public long params;

    /** cpu or cuda; the launcher sets the usable ones. */
    @Param({"cpu"})
    public String backend;

    private Device device;
    private ParameterStore store;
    private Optimizer opt;

    /** Opens the device, allocates and fills the arena, and builds the optimizer. */
    @Setup
    public void setup() {
        device = Device.of(backend);
        store = ModelLayout.single(params).build(device);
        StepBench.fill(store);
        opt = BenchOptimizers.builder(optimizer).build(store);
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

package io.fusedopt.jmh;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
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
 * A training iteration of a {@code float[]}-based Java model on the CPU backend, AdamW over one tensor of
 * {@link #params} parameters, in the three ways a model can meet the store:
 *
 * <ul>
 *   <li>{@code arenaStepOnly}: the step alone, the store holding the tensor (what the step cost before external
 *       tensors, and the target of the other two);
 *   <li>{@code arenaIteration}: the model writes its gradient into its own array, copies it into the store
 *       ({@code writeGradients}), the step runs, and the model copies the parameters back
 *       ({@code readParameters}): what a model had to do before;
 *   <li>{@code externalIteration}: the model's arrays are the store's tensors ({@code addExternal}); the model
 *       writes its gradient in place and the step runs: no copy either way.
 * </ul>
 *
 * <p>The model's gradient write is one pass that stores a value per element (as a backward pass's last write of
 * the gradient does), the same in both iterations. Trials allocate in {@code @Setup}. Run with
 * {@code java -jar target/benchmarks.jar ExternalTensorBenchmark}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx6g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class ExternalTensorBenchmark {
    /** Parameters in the single tensor. */
    @Param({"16777216"})
    public int params;

    private Device device;
    private float[] modelW;
    private float[] modelG;
    private ParameterStore arena;
    private Optimizer arenaOpt;
    private ParameterStore external;
    private Optimizer externalOpt;
    private float sign = 1f;

    /** Opens the CPU device and builds both stores (one holding the tensor, one wrapping the model's arrays). */
    @Setup(Level.Trial)
    public void setup() {
        device = Device.cpu();
        modelW = new float[params];
        modelG = new float[params];
        for (int i = 0; i < params; i++) {
            modelW[i] = (i % 1000) * 1e-3f - 0.5f;
        }
        arena = ParameterStore.builder().add("w", params).build(device);
        arena.setParameters("w", modelW);
        arenaOpt = Optimizers.adamW().lr(1e-3).weightDecay(1e-2).build(arena);
        external = ParameterStore.builder().addExternal("w", modelW, modelG, params).build(device);
        externalOpt = Optimizers.adamW().lr(1e-3).weightDecay(1e-2).build(external);
        writeGradient();
        arena.setGradients("w", modelG);
    }

    /**
     * The model's gradient write, at its cheapest: one store per element (a backward pass ends with at least this
     * much), alternating in sign so the moments keep moving. The optimizer's arithmetic does not depend on the
     * values, so a constant gradient times the same step as a varied one.
     */
    private void writeGradient() {
        java.util.Arrays.fill(modelG, sign * 1e-3f);
        sign = -sign;
    }

    /** The step alone on the store's own tensor. */
    @Benchmark
    public void arenaStepOnly() {
        arenaOpt.step();
    }

    /** Gradient write, copy in, step, copy out: the iteration with a store that holds the tensor. */
    @Benchmark
    public void arenaIteration() {
        writeGradient();
        arena.writeGradients("w", 0, modelG, 0, params);
        arenaOpt.step();
        arena.readParameters("w", 0, modelW, 0, params);
    }

    /** Gradient write in place, step in place: the iteration with the model's arrays registered. */
    @Benchmark
    public void externalIteration() {
        writeGradient();
        externalOpt.step();
    }

    /** The step alone on the model's registered arrays. */
    @Benchmark
    public void externalStepOnly() {
        externalOpt.step();
    }

    /** Frees the optimizers, the stores and the device. */
    @TearDown(Level.Trial)
    public void tearDown() {
        Closing.all(externalOpt, external, arenaOpt, arena, device);
    }
}

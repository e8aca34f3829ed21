package io.fusedopt.jmh;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.bench.ModelLayout;
import io.fusedopt.bench.Parallel;
import io.fusedopt.bench.StepBench;
import java.util.Arrays;
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
 * Fused against unfused AdamW on the CPU, all cores, one flat tensor:
 * <ul>
 *   <li>{@code fusedLibrary}: the library's step (one pass: read w, g, m, v; write w, m, v; 28 B/param);</li>
 *   <li>{@code fusedLoop}: the same single pass written here over plain arrays, split as the library splits a
 *       step, to show what the library adds around its loop;</li>
 *   <li>{@code unfused}: Adam composed of whole-array passes as an eager framework runs it: an m pass (read m, g;
 *       write m), a v pass (read v, g; write v) and a w pass (read w, m, v; write w), 40 B/param.</li>
 * </ul>
 * The three compute the same values in the same float operations; only the number of passes differs.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class FusionBenchmark {
    /**
     * Parameters in the tensor. 64M makes each pass's arrays (256 MiB each) exceed a large server L3, where
     * the unfused passes can no longer reread the previous pass's output from cache.
     */
    @Param({"1048576", "16777216", "67108864"})
    public int params;

    private static final float B1 = 0.9f, OMB1 = 0.1f, B2 = 0.999f, OMB2 = 1e-3f, EPS = 1e-8f;
    /** AdamW's per-step scalars at a fixed late step: bias corrections near 1, lr 1e-3, decay 1e-2. */
    private static final float DECAY = 1f - 1e-5f, NEG_STEP = -1e-3f, SQRT_BC2 = 0.95f;

    private Device device;
    private ParameterStore store;
    private Optimizer opt;
    private float[] w, g, m, v;
    private int[][] ranges;

    /** Allocates the library's arena and optimizer and the plain arrays of the hand-written passes. */
    @Setup
    public void setup() {
        device = Device.cpu();
        store = ModelLayout.single(params).build(device);
        StepBench.fill(store);
        opt = Optimizers.adamW().build(store);
        w = new float[params];
        g = new float[params];
        m = new float[params];
        v = new float[params];
        store.readParameters("params", 0, w, 0, params);
        float[] grads = store.gradients("params");
        System.arraycopy(grads, 0, g, 0, params);
        Arrays.fill(m, 1e-3f);
        Arrays.fill(v, 1e-6f);
        // Ranges of whole 32K-element chunks, as the CPU backend cuts a pass.
        ranges = Parallel.split(params, 1 << 15);
    }

    /** The library's fused step. */
    @Benchmark
    public void fusedLibrary() {
        opt.step();
        opt.synchronize();
    }

    /** One fused pass over plain arrays. */
    @Benchmark
    public void fusedLoop() {
        final float[] w = this.w, g = this.g, m = this.m, v = this.v;
        Parallel.run(ranges, (from, to) -> {
            for (int i = from; i < to; i++) {
                float wi = w[i] * DECAY;
                float gi = g[i];
                float mi = Math.fma(B1, m[i], OMB1 * gi);
                float vi = Math.fma(B2, v[i], (OMB2 * gi) * gi);
                m[i] = mi;
                v[i] = vi;
                w[i] = Math.fma(NEG_STEP, mi / ((float) Math.sqrt(vi) / SQRT_BC2 + EPS), wi);
            }
        });
    }

    /** Three whole-array passes: m, then v, then w. */
    @Benchmark
    public void unfused() {
        final float[] w = this.w, g = this.g, m = this.m, v = this.v;
        Parallel.run(ranges, (from, to) -> {
            for (int i = from; i < to; i++) {
                m[i] = Math.fma(B1, m[i], OMB1 * g[i]);
            }
        });
        Parallel.run(ranges, (from, to) -> {
            for (int i = from; i < to; i++) {
                float gi = g[i];
                v[i] = Math.fma(B2, v[i], (OMB2 * gi) * gi);
            }
        });
        Parallel.run(ranges, (from, to) -> {
            for (int i = from; i < to; i++) {
                w[i] = Math.fma(NEG_STEP, m[i] / ((float) Math.sqrt(v[i]) / SQRT_BC2 + EPS), w[i] * DECAY);
            }
        });
    }

    /** Frees the optimizer, the arena and the device. */
    @TearDown
    public void tearDown() {
        Closing.all(opt, store, device);
    }
}

package io.fusedopt.cpu;

import io.fusedopt.core.Dtype;
import io.fusedopt.rule.Algorithms;
import io.fusedopt.rule.Chunk;
import io.fusedopt.rule.Rule;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The arithmetic of the CPU's low-precision step, apart from memory: each piece on one thread over one block of
 * {@value #N} elements that stays in the L1 cache, reported in nanoseconds per element. A low-precision AdamW step
 * widens four buffers (g, w, m, v), runs the float32 rule and rounds three back (w, m, v), so its arithmetic alone
 * costs {@code 4·widen + rule + 3·round} per element and per thread; set against the time per element that a
 * fraction of the stream bandwidth allows at 14 B/param, this is the floor below which the step cannot go while the
 * conversions and the rule are separate loops.
 *
 * <ul>
 *   <li>{@code widenBf16}, {@code roundBf16}, {@code widenFp16}, {@code roundFp16}: the conversions the backend
 *       uses ({@link HalfArrays#get()}: vector lanes when the JVM has {@code jdk.incubator.vector}, as here);</li>
 *   <li>{@code adamwRule}: the library's AdamW rule over float32 arrays, as the step runs it on scratch.</li>
 * </ul>
 * The fp16 inputs include subnormal halves, as underflowing states produce.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = "--add-modules=jdk.incubator.vector")
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class LowPrecisionCostBenchmark {
    /** Elements per block: 2048 floats and halves of five buffers fit a 48 KiB L1 data cache. */
    static final int N = 2048;

    private final HalfArrays conversions = HalfArrays.get();
    private final short[] bf16 = new short[N];
    private final short[] fp16 = new short[N];
    private final short[] out = new short[N];
    private final float[] f = new float[N];
    private final Chunk chunk = new Chunk();
    private Rule rule;
    private float[] scalars;

    /** Fills the blocks with values of a training step's magnitudes and prepares AdamW's chunk and scalars. */
    @Setup
    public void setup() {
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < N; i++) {
            float x = (float) (r.nextGaussian() * 1e-2);
            f[i] = x;
            bf16[i] = io.fusedopt.core.DtypeConversions.floatToBf16(x);
            // One in eight below 2^-14, subnormal in float16.
            fp16[i] = io.fusedopt.core.DtypeConversions.floatToFp16((i & 7) == 0 ? x * 1e-4f : x);
        }
        rule = Algorithms.named("adamw").create(Map.of());
        scalars = new float[rule.scalarCount()];
        rule.scalars(0, 1000, 1e-3, scalars, 0);
        chunk.w = f.clone();
        chunk.g = f.clone();
        chunk.s = new float[][] {new float[N], new float[N]};
        for (int i = 0; i < N; i++) {
            chunk.s[0][i] = f[i] * 0.1f;
            chunk.s[1][i] = f[i] * f[i];
        }
        chunk.from = 0;
        chunk.to = N;
    }

    /** bfloat16 to float32. */
    @Benchmark
    @OperationsPerInvocation(N)
    public float[] widenBf16() {
        conversions.widen(Dtype.BFLOAT16, bf16, 0, f, 0, N);
        return f;
    }

    /** float32 to bfloat16, nearest even. */
    @Benchmark
    @OperationsPerInvocation(N)
    public short[] roundBf16() {
        conversions.round(Dtype.BFLOAT16, f, 0, out, 0, N);
        return out;
    }

    /** float16 to float32. */
    @Benchmark
    @OperationsPerInvocation(N)
    public float[] widenFp16() {
        conversions.widen(Dtype.FLOAT16, fp16, 0, f, 0, N);
        return f;
    }

    /** float32 to float16, nearest even. */
    @Benchmark
    @OperationsPerInvocation(N)
    public short[] roundFp16() {
        conversions.round(Dtype.FLOAT16, f, 0, out, 0, N);
        return out;
    }

    /** AdamW's per-element update over float32 arrays (w, m, v updated in place). */
    @Benchmark
    @OperationsPerInvocation(N)
    public float[] adamwRule() {
        rule.update(chunk, scalars, 0, null);
        return chunk.w;
    }
}

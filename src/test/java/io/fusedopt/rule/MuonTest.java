package io.fusedopt.rule;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerBuilder;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.TestDevices;
import io.fusedopt.golden.GoldenRunner;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * What the golden cases do not single out for Muon: bit parity between the device under test and the CPU over
 * matrices whose sides are not multiples of the 16-wide product tiles (wide, tall, a single row, one large enough
 * to span several chunks) next to tensors of the AdamW fallback, with and without Lookahead; the Java product
 * against a plain triple loop; the cuBLAS products against the deterministic ones within their stated tolerance;
 * validation that names the field and value; a resumed checkpoint.
 */
@Tag("device")
class MuonTest {
    private static Device device;
    private static Device cpu;

    static final List<long[]> SHAPES = List.of(
            new long[] {33, 47},      // wide: X = the matrix, 3 x 3 tiles with ragged edges
            new long[] {900, 37},     // tall, across two chunks: X is the transpose
            new long[] {1, 8},        // a single row
            new long[] {40, 900},     // 36,000 elements: the matrix spans two chunks
            new long[] {16, 16},      // exactly one tile
            new long[] {2, 3, 5},     // 3-D: the AdamW fallback
            new long[] {9},
            new long[] {1});

    @BeforeAll
    static void open() {
        device = TestDevices.device();
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        device.close();
        cpu.close();
    }

    private static ParameterStore store(Device d) {
        ParameterStore.Builder b = ParameterStore.builder();
        for (int i = 0; i < SHAPES.size(); i++) {
            b.add("t" + i, SHAPES.get(i));
        }
        return b.build(d);
    }

    private static Optimizer build(Map<String, Object> hyper, boolean lookahead, ParameterStore s) {
        OptimizerBuilder<?> b = Optimizers.named("muon");
        hyper.forEach(b::set);
        b.group("second", g -> g.lr(0.003).set("ns_coeffs", List.of(1.5, -0.5, 0.0)), "t1", "t6");
        if (lookahead) {
            b.lookahead(2, 0.6);
        }
        return b.build(s);
    }

    static final List<Map<String, Object>> SETTINGS = List.of(
            Map.of("lr", 0.02, "weight_decay", 0.01),
            Map.of("lr", 0.01, "nesterov", false, "consistent_rms", 0.2, "adam_weight_decay", 0.01,
                    "adam_eps_root", 1e-8, "ns_steps", 4.0),
            Map.of("lr", 0.01, "ns_steps", 0.0));

    @TestFactory
    Stream<DynamicTest> bitParityOverOddShapes() {
        return SETTINGS.stream().flatMap(h -> Stream.of(false, true).map(la -> DynamicTest.dynamicTest(
                h + (la ? " + lookahead" : ""), () -> {
                    try (ParameterStore sa = store(device); ParameterStore sb = store(cpu);
                            Optimizer oa = build(h, la, sa); Optimizer ob = build(h, la, sb)) {
                        run(h.hashCode(), 4, sa, oa, sb, ob);
                        assertNull(GoldenRunner.firstDifference(oa, ob));
                    }
                })));
    }

    /** Runs {@code steps} steps with the same random gradients on both, checking bit equality after each. */
    private static void run(long seed, int steps, ParameterStore sa, Optimizer oa, ParameterStore sb, Optimizer ob) {
        Random r = new Random(seed);
        for (int i = 0; i < SHAPES.size(); i++) {
            float[] w = gaussian(r, count(SHAPES.get(i)), 1f);
            sa.setParameters("t" + i, w);
            sb.setParameters("t" + i, w);
        }
        for (int step = 1; step <= steps; step++) {
            for (int i = 0; i < SHAPES.size(); i++) {
                float[] g = gaussian(r, count(SHAPES.get(i)), step == 3 ? 1e-4f : 0.1f);
                if (i == 4 && step == 2) {
                    java.util.Arrays.fill(g, 0f);
                }
                sa.setGradients("t" + i, g);
                sb.setGradients("t" + i, g);
            }
            oa.step();
            ob.step();
            if (oa.rule() instanceof Muon m && !m.cublas()) {
                assertNull(GoldenRunner.firstDifference(oa, ob), "step " + step);
            }
        }
    }

    @Test
    void cublasProductsAgreeWithTheDeterministicOnesWithinTheirTolerance() {
        // On the CPU there is no cuBLAS: the flag keeps the deterministic products, bit for bit.
        Map<String, Object> h = Map.of("lr", 0.02, "cublas", true);
        Map<String, Object> d = Map.of("lr", 0.02);
        int steps = 5;
        try (ParameterStore sa = store(device); ParameterStore sb = store(device);
                Optimizer oa = build(h, false, sa); Optimizer ob = build(d, false, sb)) {
            run(11, steps, sa, oa, sb, ob);
            double sumRate = 0;
            for (int s = 1; s <= steps; s++) {
                sumRate += 0.02;
            }
            for (int i = 0; i < SHAPES.size(); i++) {
                float[] x = sa.parameters("t" + i), y = sb.parameters("t" + i);
                long[] shape = SHAPES.get(i);
                double scale = shape.length == 2 ? Math.sqrt(Math.max(1.0, (double) shape[1] / shape[0])) : 1.0;
                double tol = Muon.CUBLAS_TOLERANCE * scale * sumRate;
                for (int k = 0; k < x.length; k++) {
                    assertTrue(Math.abs(x[k] - y[k]) <= tol, "t" + i + "[" + k + "]: " + x[k] + " vs " + y[k]
                            + " beyond " + tol);
                }
                if (shape.length != 2) {
                    // The AdamW fallback does not use the products: identical on both paths.
                    assertArrayEquals(y, x, "t" + i);
                }
            }
        }
    }

    @Test
    void theJavaProductSumsInTheFixedOrder() {
        Random r = new Random(3);
        int m = 7, n = 19, k = 23;
        float[] l = gaussian(r, m * k, 1f), rr = gaussian(r, k * n, 1f), y = gaussian(r, m * n, 1f);
        float[] out = new float[m * n];
        MuonGemm.multiply(l, 0, rr, 0, m, n, k, y, 0, 0.5f, -2f, out, 0);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float acc = 0f;
                for (int q = 0; q < k; q++) {
                    acc = Math.fma(l[i * k + q], rr[q * n + j], acc);
                }
                assertEquals(Float.floatToIntBits(Math.fma(0.5f, acc, -2f * y[i * n + j])),
                        Float.floatToIntBits(out[i * n + j]), "[" + i + "][" + j + "]");
            }
        }
        float[] a = new float[m * m], tmp = new float[m * k];
        MuonGemm.gram(l, 0, m, k, tmp, a, 0);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < m; j++) {
                float acc = 0f;
                for (int q = 0; q < k; q++) {
                    acc = Math.fma(l[i * k + q], l[j * k + q], acc);
                }
                assertEquals(Float.floatToIntBits(acc), Float.floatToIntBits(a[i * m + j]));
            }
        }
    }

    @Test
    void theStateKeepsNoSecondMomentForMatrices() {
        try (ParameterStore s = store(cpu); Optimizer o = build(Map.of(), false, s)) {
            assertEquals(List.of("exp_avg", "exp_avg_sq"), o.slotNames());
            assertArrayEquals(new long[] {0}, o.stateShape("t0", "exp_avg_sq"));
            assertArrayEquals(new long[] {2, 3, 5}, o.stateShape("t5", "exp_avg_sq"));
            assertArrayEquals(new long[] {33, 47}, o.stateShape("t0", "exp_avg"));
            assertEquals(0, o.state("t3", "exp_avg_sq").length);
        }
    }

    private static String message(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    @Test
    void validationNamesTheFieldAndTheValue() {
        try (ParameterStore s = ParameterStore.builder().add("w", 4, 5).add("b", 5).build(cpu)) {
            assertEquals("beta must be in [0, 1), got 1.0", message(() -> Optimizers.named("muon")
                    .set("beta", 1.0).build(s).close()));
            assertEquals("nsSteps must be a whole number >= 0, got 2.5", message(() -> Optimizers.named("muon")
                    .set("ns_steps", 2.5).build(s).close()));
            assertEquals("ns_coeffs must be a list of 3 numbers, got [3.0, -4.0]", message(() ->
                    Optimizers.named("muon").set("ns_coeffs", List.of(3.0, -4.0)).build(s).close()));
            assertEquals("group 'bias': adamBeta2 must be in [0, 1), got 1.5", message(() ->
                    Optimizers.named("muon").group("bias", g -> g.set("adam_betas", List.of(0.9, 1.5)), "b")
                            .build(s).close()));
            assertEquals("consistentRms must be finite and >= 0, got -0.2", message(() -> Optimizers.named("muon")
                    .set("consistent_rms", -0.2).build(s).close()));
            assertTrue(message(() -> Optimizers.named("muon").group("bias", g -> g.set("ns_steps", 3.0), "b")
                    .build(s).close()).contains("changes ns_steps=3.0"));
        }
    }

    @Test
    void aCheckpointResumesBitForBit(@org.junit.jupiter.api.io.TempDir Path dir) {
        Map<String, Object> h = Map.of("lr", 0.02, "weight_decay", 0.01);
        Random r = new Random(5);
        float[][][] grads = new float[6][SHAPES.size()][];
        for (int s = 0; s < 6; s++) {
            for (int i = 0; i < SHAPES.size(); i++) {
                grads[s][i] = gaussian(r, count(SHAPES.get(i)), 0.1f);
            }
        }
        Path file = dir.resolve("muon.safetensors");
        try (ParameterStore straight = store(device); Optimizer a = build(h, false, straight);
                ParameterStore resumed = store(device); Optimizer b = build(h, false, resumed)) {
            for (int i = 0; i < SHAPES.size(); i++) {
                straight.setParameters("t" + i, gaussian(r, count(SHAPES.get(i)), 1f));
            }
            for (int s = 0; s < 6; s++) {
                for (int i = 0; i < SHAPES.size(); i++) {
                    straight.setGradients("t" + i, grads[s][i]);
                }
                a.step();
                if (s == 2) {
                    a.saveState(file);
                    for (int i = 0; i < SHAPES.size(); i++) {
                        resumed.setParameters("t" + i, straight.parameters("t" + i));
                    }
                }
            }
            b.loadState(file);
            for (int s = 3; s < 6; s++) {
                for (int i = 0; i < SHAPES.size(); i++) {
                    resumed.setGradients("t" + i, grads[s][i]);
                }
                b.step();
            }
            assertNull(GoldenRunner.firstDifference(a, b));
        }
    }

    private static int count(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return (int) n;
    }

    private static float[] gaussian(Random r, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * scale;
        }
        return v;
    }
}

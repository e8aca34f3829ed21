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
import java.nio.file.Files;
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
 * What the golden cases do not single out for Adafactor: bit parity between the device under test and the CPU over
 * shapes that reach every factoring case (batch dimensions before, between and after S and L, ties, rows that
 * cross chunks, a statistic of more than 32 terms and a tail that is not), the factored state's size, validation
 * that names the field and the value, and a checkpoint resumed bit for bit.
 */
@Tag("device")
class AdafactorTest {
    private static Device device;
    private static Device cpu;

    /** Shapes and what each exercises (min_dim_size_to_factor 3 unless a case says otherwise). */
    static final List<long[]> SHAPES = List.of(
            new long[] {300, 131},     // S = rows, L = columns; 131 terms per row (a tail of 3 lanes); 1 chunk+
            new long[] {1000, 70},     // 70,000 elements: rows cross the 32,768-element chunks
            new long[] {70, 1000},     // S = 70 rows of 1000 terms
            new long[] {1000, 40},     // L = dimension 0: R is the outer statistic
            new long[] {3, 40, 70},    // a leading batch dimension
            new long[] {45, 3, 60},    // a batch dimension between S and L
            new long[] {45, 60, 3},    // a trailing batch dimension (Cc = 3)
            new long[] {17, 17},       // a tie: L is the later dimension
            new long[] {2, 50},        // S of 2 < 3: not factored
            new long[] {7},            // 1-D: not factored
            new long[] {40000},        // 1-D across two chunks
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
        OptimizerBuilder<?> b = Optimizers.named("adafactor");
        hyper.forEach(b::set);
        b.set("min_dim_size_to_factor", 3.0);
        b.group("second", g -> g.lr(0.003).set("clipping_threshold", 0.5), "t2", "t5");
        if (lookahead) {
            b.lookahead(2, 0.6);
        }
        return b.build(s);
    }

    static final List<Map<String, Object>> SETTINGS = List.of(
            Map.of("lr", 0.01),
            Map.of("lr", 0.02, "momentum", 0.9, "weight_decay_rate", 1e-3, "decay_rate", 0.5),
            Map.of("lr", 0.01, "clipping_threshold", 0.0, "multiply_by_parameter_scale", false),
            Map.of("lr", 0.01, "factored", false, "decay_offset", 2.0));

    @TestFactory
    Stream<DynamicTest> bitParityOverOddShapes() {
        return SETTINGS.stream().flatMap(h -> Stream.of(false, true).map(la -> DynamicTest.dynamicTest(
                h + (la ? " + lookahead" : ""), () -> compare(h, la))));
    }

    private static void compare(Map<String, Object> hyper, boolean lookahead) {
        Random r = new Random(hyper.hashCode());
        try (ParameterStore sa = store(device); ParameterStore sb = store(cpu);
                Optimizer oa = build(hyper, lookahead, sa); Optimizer ob = build(hyper, lookahead, sb)) {
            for (int i = 0; i < SHAPES.size(); i++) {
                float[] w = gaussian(r, count(SHAPES.get(i)), 1f);
                if (i == SHAPES.size() - 1) {
                    w[0] = 0f;
                }
                sa.setParameters("t" + i, w);
                sb.setParameters("t" + i, w);
            }
            for (int step = 1; step <= 4; step++) {
                for (int i = 0; i < SHAPES.size(); i++) {
                    float[] g = gaussian(r, count(SHAPES.get(i)), step == 3 ? 1e-4f : 0.1f);
                    if (i == 1 && step == 2) {
                        java.util.Arrays.fill(g, 0f);
                    }
                    sa.setGradients("t" + i, g);
                    sb.setGradients("t" + i, g);
                }
                oa.step();
                ob.step();
                assertNull(GoldenRunner.firstDifference(oa, ob), "step " + step);
            }
        }
    }

    @Test
    void theFactoredStateIsOneRowAndOneColumnStatistic() {
        try (ParameterStore s = store(cpu); Optimizer o = build(Map.of(), false, s)) {
            assertEquals(List.of("v"), o.slotNames());
            assertArrayEquals(new long[] {300 + 131}, o.stateShape("t0", "v"));
            assertArrayEquals(new long[] {3 * 40 + 3 * 70}, o.stateShape("t4", "v"));
            // (45, 3, 60): R drops L (60) -> 45 * 3; C drops S (45) -> 3 * 60.
            assertArrayEquals(new long[] {45 * 3 + 3 * 60}, o.stateShape("t5", "v"));
            assertArrayEquals(new long[] {2, 50}, o.stateShape("t8", "v"));
            assertArrayEquals(new long[] {40000}, o.stateShape("t10", "v"));
            assertEquals(431, o.state("t0", "v").length);
        }
        try (ParameterStore s = ParameterStore.builder().add("w", 4096, 4096).build(cpu);
                Optimizer o = Optimizers.named("adafactor").build(s);
                Optimizer m = Optimizers.named("adafactor").set("momentum", 0.9).build(s)) {
            // 8192 statistics for 16.8M parameters: 0.002 bytes of state per parameter, against Adam's 8.
            assertArrayEquals(new long[] {8192}, o.stateShape("w", "v"));
            assertEquals(List.of("v", "exp_avg"), m.slotNames());
        }
    }

    @Test
    void theFactoredDimensionsFollowOptax() {
        Rule r = Adafactor.ALGORITHM.create(Map.of("min_dim_size_to_factor", 3.0));
        Adafactor a = (Adafactor) r;
        assertArrayEquals(new int[] {0, 1}, a.factoredDims(new long[] {6, 10}, 0));
        assertArrayEquals(new int[] {1, 2}, a.factoredDims(new long[] {3, 4, 5}, 0));
        assertArrayEquals(new int[] {0, 2}, a.factoredDims(new long[] {4, 3, 6}, 0));
        assertArrayEquals(new int[] {0, 1}, a.factoredDims(new long[] {17, 17}, 0));
        assertNull(a.factoredDims(new long[] {1, 7}, 0));
        assertNull(a.factoredDims(new long[] {9}, 0));
        assertNull(((Adafactor) Adafactor.ALGORITHM.create(Map.of())).factoredDims(new long[] {100, 1000}, 0));
    }

    private static String message(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    @Test
    void validationNamesTheFieldAndTheValue() {
        try (ParameterStore s = ParameterStore.builder().add("w", 4, 5).add("b", 5).build(cpu)) {
            assertEquals("momentum must be in [0, 1), got 1.0", message(() -> Optimizers.named("adafactor")
                    .set("momentum", 1.0).build(s).close()));
            assertEquals("decayRate must be finite and >= 0, got -0.8", message(() -> Optimizers.named("adafactor")
                    .set("decay_rate", -0.8).build(s).close()));
            assertEquals("minDimSizeToFactor must be a whole number >= 0, got 2.5", message(() ->
                    Optimizers.named("adafactor").set("min_dim_size_to_factor", 2.5).build(s).close()));
            assertEquals("group 'bias': clippingThreshold must be finite and >= 0, got -1.0", message(() ->
                    Optimizers.named("adafactor").group("bias", g -> g.set("clipping_threshold", -1.0), "b")
                            .build(s).close()));
            assertEquals("eps must be finite and > 0, got 0.0", message(() -> Optimizers.named("adafactor")
                    .set("eps", 0.0).build(s).close()));
            assertTrue(message(() -> Optimizers.named("adafactor").group("bias", g -> g.set("factored", false), "b")
                    .build(s).close()).contains("changes factored=false"));
        }
    }

    /** Adafactor and Muon store float32 only: every 16-bit regime is refused when the optimizer is built. */
    @Test
    void lowPrecisionRegimesAreRefusedNamingTheRegime() {
        for (String rule : List.of("adafactor", "muon")) {
            try (ParameterStore bf = ParameterStore.builder().dtype(io.fusedopt.core.Dtype.BFLOAT16).add("w", 4, 5)
                    .build(device); ParameterStore f32 = ParameterStore.builder().add("w", 4, 5).build(device)) {
                assertEquals(rule + " stores float32 only: parameters, gradients and state in float32, without master"
                        + " weights or stochastic rounding; got the bf16 regime",
                        message(() -> Optimizers.named(rule).build(bf).close()));
                assertTrue(message(() -> Optimizers.named(rule).masterWeights(true).build(bf).close())
                        .contains("got the bf16_master regime"));
                assertTrue(message(() -> Optimizers.named(rule).stochasticRounding(1).build(bf).close())
                        .contains("got the bf16_sr regime"));
                // bfloat16 states on float32 weights are no regime of any rule: refused before the rule is asked.
                assertTrue(message(() -> Optimizers.named(rule).stateDtype(io.fusedopt.core.Dtype.BFLOAT16)
                        .build(f32).close()).contains("states share the parameters' dtype"));
            }
        }
    }

    @Test
    void aCheckpointOfFactoredStateResumesBitForBit(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Map<String, Object> h = Map.of("lr", 0.02, "momentum", 0.9, "weight_decay_rate", 1e-3);
        Random r = new Random(7);
        float[][] w0 = new float[SHAPES.size()][];
        float[][][] grads = new float[6][SHAPES.size()][];
        for (int i = 0; i < SHAPES.size(); i++) {
            w0[i] = gaussian(r, count(SHAPES.get(i)), 1f);
            for (int s = 0; s < 6; s++) {
                grads[s][i] = gaussian(r, count(SHAPES.get(i)), 0.1f);
            }
        }
        Path file = dir.resolve("adafactor.safetensors");
        try (ParameterStore straight = store(device); Optimizer a = build(h, false, straight);
                ParameterStore resumed = store(device); Optimizer b = build(h, false, resumed)) {
            for (int i = 0; i < SHAPES.size(); i++) {
                straight.setParameters("t" + i, w0[i]);
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
            assertTrue(Files.size(file) > 0);
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

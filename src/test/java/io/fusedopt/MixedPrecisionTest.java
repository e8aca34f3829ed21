package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.core.Dtype;
import io.fusedopt.core.DtypeConversions;
import io.fusedopt.core.DtypeStochastic;
import io.fusedopt.golden.GoldenRunner;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.DynamicTest;

/**
 * The storage regimes' semantics on the CPU, for every rule: a low-precision step equals the float32 step on the
 * widened values, rounded to nearest even; a master-weights step equals the float32 step on the masters and the
 * widened gradients, with the model copy the rounded masters; stochastic rounding is unbiased; and the
 * combinations that make no sense are refused by name.
 */
class MixedPrecisionTest {
    private static final long[] SIZES = {1, 3, 13, 4097};

    private static ParameterStore store(Device d, Dtype dtype) {
        ParameterStore.Builder b = ParameterStore.builder().dtype(dtype);
        for (int i = 0; i < SIZES.length; i++) {
            b.add("t" + i, SIZES[i]);
        }
        return b.build(d);
    }

    private static float[] gaussian(Random r, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * scale;
        }
        return v;
    }

    private static float[] round(float[] v, Dtype d) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = d.round(v[i]);
        }
        return out;
    }

    private static void assertBits(float[] want, float[] got, String what) {
        for (int i = 0; i < want.length; i++) {
            int k = i;
            assertEquals(Float.floatToIntBits(want[k]), Float.floatToIntBits(got[k]),
                    () -> what + "[" + k + "]: expected " + want[k] + ", got " + got[k]);
        }
    }

    @TestFactory
    Stream<DynamicTest> lowPrecisionIsTheRoundedFloat32Step() {
        return BitParityTest.LOW_PRECISION_RULES.stream().flatMap(r -> Stream.of(Dtype.BFLOAT16, Dtype.FLOAT16).map(d ->
                DynamicTest.dynamicTest(r[0] + " " + d + " " + r[1], () -> {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> hyper = (Map<String, Object>) r[1];
                    lowPrecision((String) r[0], hyper, d);
                })));
    }

    private static void lowPrecision(String name, Map<String, Object> hyper, Dtype d) {
        Random r = new Random(name.hashCode() + d.ordinal());
        try (Device cpu = Device.cpu(); ParameterStore lp = store(cpu, d); ParameterStore ref = store(cpu, Dtype.FLOAT32);
                Optimizer olp = OptimizerSpec.builder(name, hyper, null, null).lookahead(2, 0.5).build(lp);
                Optimizer oref = OptimizerSpec.builder(name, hyper, null, null).lookahead(2, 0.5).build(ref)) {
            for (int i = 0; i < SIZES.length; i++) {
                float[] w = gaussian(r, (int) SIZES[i], 1f);
                lp.setParameters("t" + i, w);
                ref.setParameters("t" + i, lp.parameters("t" + i));
            }
            for (int step = 1; step <= 4; step++) {
                for (int i = 0; i < SIZES.length; i++) {
                    String t = "t" + i;
                    lp.setGradients(t, gaussian(r, (int) SIZES[i], 0.1f));
                    // The reference starts each step from the widened low-precision values.
                    ref.setGradients(t, lp.gradients(t));
                    ref.setParameters(t, lp.parameters(t));
                    for (String slot : olp.slotNames()) {
                        oref.writeState(t, slot, 0, olp.state(t, slot), 0, (int) SIZES[i]);
                    }
                }
                olp.step();
                oref.step();
                for (int i = 0; i < SIZES.length; i++) {
                    String t = "t" + i;
                    assertBits(round(ref.parameters(t), d), lp.parameters(t), "step " + step + " " + t);
                    for (String slot : olp.slotNames()) {
                        assertBits(round(oref.state(t, slot), d), olp.state(t, slot), "step " + step + " " + t + "."
                                + slot);
                    }
                }
            }
        }
    }

    @TestFactory
    Stream<DynamicTest> masterWeightsAreTheFloat32StepAndTheModelTheirRounding() {
        return BitParityTest.LOW_PRECISION_RULES.stream().flatMap(r -> Stream.of(Dtype.BFLOAT16, Dtype.FLOAT16).map(d ->
                DynamicTest.dynamicTest(r[0] + " " + d + " " + r[1], () -> {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> hyper = (Map<String, Object>) r[1];
                    master((String) r[0], hyper, d);
                })));
    }

    private static void master(String name, Map<String, Object> hyper, Dtype d) {
        Random r = new Random(name.hashCode() * 7L + d.ordinal());
        try (Device cpu = Device.cpu(); ParameterStore lp = store(cpu, d); ParameterStore ref = store(cpu, Dtype.FLOAT32)) {
            for (int i = 0; i < SIZES.length; i++) {
                lp.setParameters("t" + i, gaussian(r, (int) SIZES[i], 1f));
                ref.setParameters("t" + i, lp.parameters("t" + i));
            }
            try (Optimizer om = OptimizerSpec.builder(name, hyper, null, null).lookahead(3, 0.5).masterWeights(true)
                    .build(lp);
                    Optimizer oref = OptimizerSpec.builder(name, hyper, null, null).lookahead(3, 0.5).build(ref)) {
                assertEquals("master", om.slotNames().get(om.slotNames().size() - 1));
                for (int step = 1; step <= 4; step++) {
                    for (int i = 0; i < SIZES.length; i++) {
                        lp.setGradients("t" + i, gaussian(r, (int) SIZES[i], 0.1f));
                        ref.setGradients("t" + i, lp.gradients("t" + i));
                    }
                    om.step();
                    oref.step();
                    for (int i = 0; i < SIZES.length; i++) {
                        String t = "t" + i;
                        assertBits(ref.parameters(t), om.state(t, "master"), "step " + step + " " + t + " master");
                        assertBits(round(ref.parameters(t), d), lp.parameters(t), "step " + step + " " + t + " model");
                        for (String slot : oref.slotNames()) {
                            assertBits(oref.state(t, slot), om.state(t, slot), "step " + step + " " + t + "." + slot);
                        }
                    }
                }
            }
        }
    }

    @Test
    void bfloat16StatesWithMasterWeightsAreRoundedEachStep() {
        try (Device cpu = Device.cpu();
                ParameterStore s = ParameterStore.builder().dtype(Dtype.BFLOAT16).add("w", 100).build(cpu);
                Optimizer o = Optimizers.adamW().masterWeights(true).stateDtype(Dtype.BFLOAT16).build(s)) {
            float[] g = gaussian(new Random(3), 100, 0.3f);
            s.setGradients("w", g);
            o.step();
            float[] m = o.state("w", "exp_avg");
            for (int i = 0; i < m.length; i++) {
                assertEquals(Dtype.BFLOAT16.round(0.1f * s.gradients("w")[i]), m[i]);
            }
        }
    }

    @Test
    void stochasticRoundingIsUnbiasedOverManySteps() {
        // SGD steps of 1e-4 on weights of 1.0, where one bfloat16 step is 2^-7: nearest-even rounding never moves
        // them, stochastic rounding moves them by the right amount on average.
        int n = 20_000, steps = 40;
        double lr = 1e-4;
        try (Device cpu = Device.cpu();
                ParameterStore s = ParameterStore.builder().dtype(Dtype.BFLOAT16).add("w", n).build(cpu);
                ParameterStore e = ParameterStore.builder().dtype(Dtype.BFLOAT16).add("w", n).build(cpu);
                Optimizer sr = Optimizers.sgd().lr(lr).stochasticRounding(42).build(s);
                Optimizer rne = Optimizers.sgd().lr(lr).build(e)) {
            float[] ones = new float[n];
            java.util.Arrays.fill(ones, 1f);
            s.setParameters("w", ones);
            e.setParameters("w", ones);
            s.setGradients("w", ones);
            e.setGradients("w", ones);
            for (int k = 0; k < steps; k++) {
                sr.step();
                rne.step();
            }
            assertBits(ones, e.parameters("w"), "nearest even never moves");
            double mean = 0;
            for (float v : s.parameters("w")) {
                mean += v;
            }
            mean /= n;
            double expected = 1.0 - steps * lr;
            // Each step adds at most one bfloat16 step of variance (2^-8)^2 / 4 per element (well below 2^-7 near 1).
            double sigma = Math.sqrt(steps * Math.pow(0x1p-8, 2) / 4 / n);
            assertTrue(Math.abs(mean - expected) < 6 * sigma, "mean " + mean + " vs " + expected + " (sigma " + sigma
                    + ")");
        }
    }

    @Test
    void stochasticRoundingRoundsUpWithTheDroppedFraction() {
        // x = 1 + 0.3 ulp: over many element indices, about 30% round up.
        float x = Float.intBitsToFloat(0x3F800000 + (int) (0.3 * 0x10000));
        int up = 0, n = 200_000;
        for (int i = 0; i < n; i++) {
            if (DtypeConversions.floatToBf16Stochastic(x, DtypeStochastic.bits(9, 1, i)) != 0x3F80) {
                up++;
            }
        }
        double p = 0.3, sigma = Math.sqrt(p * (1 - p) / n);
        assertTrue(Math.abs((double) up / n - p) < 6 * sigma, up + " of " + n);
    }

    @Test
    void combinationsThatMakeNoSenseAreRefusedByName() {
        try (Device cpu = Device.cpu();
                ParameterStore f32 = ParameterStore.builder().add("w", 4).build(cpu);
                ParameterStore bf = ParameterStore.builder().dtype(Dtype.BFLOAT16).add("w", 4).build(cpu);
                ParameterStore fp = ParameterStore.builder().dtype(Dtype.FLOAT16).add("w", 4).build(cpu)) {
            List<Runnable> bad = List.of(
                    () -> Optimizers.adamW().masterWeights(true).build(f32),
                    () -> Optimizers.adamW().stateDtype(Dtype.FLOAT32).build(bf),
                    () -> Optimizers.adamW().masterWeights(true).stateDtype(Dtype.FLOAT16).build(fp),
                    () -> Optimizers.adamW().masterWeights(true).stateDtype(Dtype.BFLOAT16).build(fp),
                    () -> Optimizers.sgd().stochasticRounding(1).build(fp),
                    () -> Optimizers.sgd().stochasticRounding(1).masterWeights(true).build(bf),
                    () -> Optimizers.adamW().group("g", g -> g.masterWeights(true), "w").build(bf));
            List<String> words = List.of("masterWeights", "stateDtype float32", "float16", "bfloat16 store",
                    "stochasticRounding", "master weights", "storage types");
            for (int i = 0; i < bad.size(); i++) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, bad.get(i)::run);
                String word = words.get(i);
                assertTrue(e.getMessage().contains(word), e.getMessage() + " should name " + word);
            }
        }
    }

    @Test
    void float16OverflowIsAnInfiniteGradientUnderThePolicy() {
        try (Device cpu = Device.cpu();
                ParameterStore s = ParameterStore.builder().dtype(Dtype.FLOAT16).add("w", 8).build(cpu);
                Optimizer skip = Optimizers.adamW().nonFinite(NonFinitePolicy.SKIP).build(s)) {
            float[] w = {1, 2, 3, 4, 5, 6, 7, 8};
            s.setParameters("w", w);
            float[] g = new float[8];
            g[3] = 70000f; // past float16's 65504: stored as infinity
            s.setGradients("w", g);
            assertEquals(Float.POSITIVE_INFINITY, s.gradients("w")[3]);
            skip.step();
            assertEquals(1, skip.skippedSteps());
            assertBits(w, s.parameters("w"), "a skipped step leaves the parameters");
            assertEquals(0f, skip.state("w", "exp_avg")[3]);
        }
    }

    @Test
    void buffersWhoseDtypesFormNoRegimeAreRefusedNamingThem() {
        io.fusedopt.backend.Precision plain = io.fusedopt.backend.Precision.PLAIN;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> plain.regime(Dtype.BFLOAT16, Dtype.FLOAT16, List.of(Dtype.BFLOAT16), null));
        assertTrue(e.getMessage().contains("gradients float16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> plain.regime(Dtype.FLOAT32, Dtype.FLOAT32, List.of(Dtype.FLOAT32, Dtype.BFLOAT16), null));
        assertTrue(e.getMessage().contains("different dtypes"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> plain.regime(Dtype.BFLOAT16, Dtype.BFLOAT16, List.of(), Dtype.FLOAT32));
        assertTrue(e.getMessage().contains("slow weights are float32"), e.getMessage());
        assertEquals("bf16", plain.regime(Dtype.BFLOAT16, Dtype.BFLOAT16, List.of(Dtype.BFLOAT16), Dtype.BFLOAT16));
        assertEquals("f32", plain.regime(Dtype.FLOAT32, Dtype.FLOAT32, List.of(), null));
    }
}

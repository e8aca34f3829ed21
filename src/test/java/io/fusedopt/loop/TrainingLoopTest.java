package io.fusedopt.loop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.NonFinitePolicy;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerBuilder;
import io.fusedopt.OptimizerSpec;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.TestDevices;
import io.fusedopt.golden.GoldenRunner;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Global-norm clipping and dynamic loss scaling on the device under test: the norm and the coefficient, the
 * unscaling, skipped steps that change nothing, the scale's growth and backoff, and the gradient buffer left as the
 * caller wrote it.
 */
@Tag("device")
class TrainingLoopTest {
    private Device device;

    @BeforeEach
    void open() {
        device = TestDevices.device();
    }

    @AfterEach
    void close() {
        device.close();
    }

    /** Two tensors, one of them over two chunks with a tail, so the norm folds several chunk sums. */
    private ParameterStore store() {
        ParameterStore s = ParameterStore.builder().add("a", 3, 5).add("b", 40_000 + 3).build(device);
        s.setParameters("a", ramp(15, 0.1f, 0));
        s.setParameters("b", ramp(40_003, -0.01f, 1));
        return s;
    }

    private static float[] ramp(int n, float scale, int seed) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = scale * ((i * 7 + seed * 3) % 17 - 8) + 0.25f;
        }
        return v;
    }

    private static void grads(ParameterStore s, float factor) {
        s.setGradients("a", scaled(ramp(15, 0.3f, 2), factor));
        s.setGradients("b", scaled(ramp(40_003, 0.02f, 3), factor));
    }

    private static float[] scaled(float[] v, float f) {
        float[] out = v.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] *= f;
        }
        return out;
    }

    private static double norm(ParameterStore s) {
        double sum = 0;
        for (String t : new String[] {"a", "b"}) {
            for (float g : s.gradients(t)) {
                sum += (double) g * g;
            }
        }
        return Math.sqrt(sum);
    }

    private static Supplier<OptimizerBuilder<?>> rule(String id) {
        return () -> OptimizerSpec.builder(id, Map.of("lr", 0.01), null, null);
    }

    @ParameterizedTest
    @ValueSource(strings = {"adafactor", "muon"})
    void rulesThatReadGradientsPerTensorRefuseClippingAndLossScaling(String id) {
        try (ParameterStore s = store()) {
            IllegalArgumentException clip = assertThrows(IllegalArgumentException.class,
                    () -> Optimizers.named(id).clipGradNorm(1.0).build(s));
            assertTrue(clip.getMessage().startsWith(id + " does not take clipGradNorm(1.0)"), clip.getMessage());
            IllegalArgumentException scale = assertThrows(IllegalArgumentException.class,
                    () -> Optimizers.named(id).lossScaling(1024, 2, 0.5, 2).build(s));
            assertTrue(scale.getMessage().startsWith(id + " does not take lossScaling(initScale=1024"),
                    scale.getMessage());
            // Nothing was left behind: the same store still takes a plain optimizer of the rule.
            try (Optimizer o = Optimizers.named(id).build(s)) {
                o.step();
                assertEquals(1, o.stepCount());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sgd", "adamw", "lamb", "lars", "swats", "adan"})
    void clippingScalesTheGradientByTheCoefficientOfItsGlobalNorm(String id) {
        try (ParameterStore clipped = store(); ParameterStore manual = store();
                Optimizer oc = rule(id).get().clipGradNorm(0.5).build(clipped);
                Optimizer om = rule(id).get().build(manual)) {
            for (int step = 0; step < 3; step++) {
                grads(clipped, 1f + step);
                float[] a = clipped.gradients("a");
                oc.step();
                double total = oc.lastGradNorm();
                assertEquals(norm(clipped), total, 1e-6 * total, "the global norm of step " + step);
                assertTrue(total > 0.5, "the case clips");
                assertArrayEquals(a, clipped.gradients("a"), "the gradient buffer is left as the caller wrote it");
                float c = (float) Math.min(1.0, 0.5 / (total + 1e-6));
                manual.setGradients("a", scaled(clipped.gradients("a"), c));
                manual.setGradients("b", scaled(clipped.gradients("b"), c));
                om.step();
                assertNull(GoldenRunner.firstDifference(oc, om), id + " step " + step
                        + ": clipping is the rule on g · coefficient, bit for bit");
            }
        }
    }

    @Test
    void aNormBelowTheThresholdChangesNothing() {
        try (ParameterStore clipped = store(); ParameterStore plain = store();
                Optimizer oc = Optimizers.adamW().clipGradNorm(1e6).build(clipped);
                Optimizer op = Optimizers.adamW().build(plain)) {
            grads(clipped, 1f);
            grads(plain, 1f);
            oc.step();
            op.step();
            assertNull(GoldenRunner.firstDifference(oc, op));
        }
    }

    @Test
    void aNonFiniteNormFollowsThePolicy() {
        try (ParameterStore s = store(); Optimizer skip = Optimizers.adamW().clipGradNorm(1.0)
                .nonFinite(NonFinitePolicy.SKIP).build(s)) {
            grads(s, 1f);
            float[] b = s.gradients("b");
            b[40_002] = Float.NaN;
            s.setGradients("b", b);
            float[] before = s.parameters("b");
            skip.step();
            assertEquals(1, skip.skippedSteps());
            assertEquals(0, skip.stepCount());
            assertArrayEquals(before, s.parameters("b"));
            assertTrue(Double.isNaN(skip.lastGradNorm()));
            // Finite values whose squares overflow give an infinite norm: also skipped.
            grads(s, 1e30f);
            skip.step();
            assertEquals(2, skip.skippedSteps());
            assertEquals(Double.POSITIVE_INFINITY, skip.lastGradNorm());
            grads(s, 1f);
            skip.step();
            assertEquals(1, skip.stepCount());
        }
        try (ParameterStore s = store(); Optimizer propagate = Optimizers.sgd().clipGradNorm(1.0).build(s)) {
            grads(s, 1e30f);
            propagate.step();
            // torch's semantics: coefficient max_norm / inf = 0, so every gradient becomes 0 and w stays.
            assertArrayEquals(store().parameters("a"), s.parameters("a"));
            assertEquals(1, propagate.stepCount());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sgd", "adamw", "lamb", "swats"})
    void aPowerOfTwoScaleUnscalesExactly(String id) {
        try (ParameterStore scaled = store(); ParameterStore plain = store();
                Optimizer os = rule(id).get().lossScaling(1024, 2, 0.5, 2).build(scaled);
                Optimizer op = rule(id).get().build(plain)) {
            for (int step = 0; step < 4; step++) {
                float s = os.lossScale();
                assertEquals(1024f * (1 << (step / 2)), s, "grows after every 2 applied steps");
                grads(scaled, s);
                grads(plain, 1f);
                os.step();
                op.step();
                assertNull(GoldenRunner.firstDifference(os, op), id + " step " + step);
            }
            assertEquals(4, os.stepCount());
            assertEquals(0, os.skippedSteps());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"adamw", "lamb", "swats"})
    void anOverflowSkipsTheWholeStepAndBacksOff(String id) {
        try (ParameterStore s = store(); ParameterStore ref = store();
                Optimizer o = rule(id).get().lossScaling(65536, 2, 0.25, 3).lookahead(2, 0.5).build(s);
                Optimizer r = rule(id).get().lookahead(2, 0.5).build(ref)) {
            grads(s, 65536f);
            grads(ref, 1f);
            o.step();
            r.step();
            float[] g = s.gradients("b");
            g[7] = Float.NEGATIVE_INFINITY;
            s.setGradients("b", g);
            o.step();
            assertEquals(1, o.skippedSteps());
            assertEquals(1, o.stepCount(), "the step count did not advance");
            assertEquals(16384f, o.lossScale(), "backed off by 0.25");
            assertNull(GoldenRunner.firstDifference(o, r), "parameters and every state, slow weights included");
            grads(s, 16384f);
            grads(ref, 1f);
            o.step();
            r.step();
            assertNull(GoldenRunner.firstDifference(o, r), "the next step is step 2, a Lookahead sync step");
            assertEquals(2, o.stepCount());
        }
    }

    @Test
    void anOverflowAtTheFirstStepLeavesEverythingAtItsStart() {
        try (ParameterStore s = store(); Optimizer o = Optimizers.adam().lossScaling().build(s)) {
            grads(s, Float.POSITIVE_INFINITY);
            float[] before = s.parameters("a");
            o.step();
            assertEquals(0, o.stepCount());
            assertEquals(32768f, o.lossScale());
            assertArrayEquals(before, s.parameters("a"));
            assertArrayEquals(new float[15], o.state("a", "exp_avg"));
        }
    }

    @Test
    void theLossScaleAddressIsDeviceMemoryOnlyOnCuda() {
        try (ParameterStore s = store(); Optimizer o = Optimizers.adamW().lossScaling().build(s)) {
            if (device.name().equals("cpu")) {
                IllegalStateException e = assertThrows(IllegalStateException.class, o::lossScaleAddress);
                assertTrue(e.getMessage().contains("CPU"), e.getMessage());
            } else {
                assertTrue(o.lossScaleAddress() != 0);
            }
        }
        try (ParameterStore s = store(); Optimizer o = Optimizers.adamW().build(s)) {
            assertThrows(IllegalStateException.class, o::lossScale);
            assertThrows(IllegalStateException.class, o::lastGradNorm);
        }
    }

    @Test
    void clippingAndScalingTogetherClipTheUnscaledNorm() {
        try (ParameterStore s = store(); Optimizer o = Optimizers.adamW().clipGradNorm(0.5).lossScaling(256, 2, 0.5, 100)
                .build(s)) {
            grads(s, 256f);
            double scaledNorm = norm(s);
            o.step();
            assertEquals(scaledNorm / 256, o.lastGradNorm(), 1e-6 * o.lastGradNorm());
        }
    }

    @Test
    void aCheckpointCarriesTheLossScaleAcrossBackends() throws Exception {
        java.nio.file.Path file = java.nio.file.Files.createTempFile("loss-scale", ".safetensors");
        try (Device cpu = Device.cpu(); ParameterStore s = store(); ParameterStore r = storeOn(cpu);
                Optimizer o = Optimizers.adamW().clipGradNorm(0.5).lossScaling(1024, 2, 0.5, 3).build(s);
                Optimizer resumed = Optimizers.adamW().clipGradNorm(0.5).lossScaling(1024, 2, 0.5, 3).build(r)) {
            for (int k = 0; k < 5; k++) {
                grads(s, k == 1 ? Float.POSITIVE_INFINITY : o.lossScale());
                o.step();
            }
            assertEquals(1024f, o.lossScale(), "backed off to 512 at step 2, grown after three applied steps");
            grads(s, o.lossScale());
            o.step();
            assertEquals(1, o.lossScaleGrowthTracker());
            o.saveState(file);
            resumed.loadState(file);
            r.setParameters("a", s.parameters("a"));
            r.setParameters("b", s.parameters("b"));
            assertEquals(o.lossScale(), resumed.lossScale());
            assertEquals(1, resumed.lossScaleGrowthTracker());
            assertEquals(5, resumed.stepCount());
            for (int k = 0; k < 3; k++) {
                grads(s, o.lossScale());
                grads(r, resumed.lossScale());
                o.step();
                resumed.step();
                assertEquals(o.lossScale(), resumed.lossScale(), "step " + k);
                assertNull(GoldenRunner.firstDifference(o, resumed), "step " + k);
            }
            assertEquals(2048f, o.lossScale(), "the resumed tracker grows the scale at the same step");
        } finally {
            java.nio.file.Files.deleteIfExists(file);
        }
    }

    private static ParameterStore storeOn(Device d) {
        ParameterStore s = ParameterStore.builder().add("a", 3, 5).add("b", 40_000 + 3).build(d);
        s.setParameters("a", ramp(15, 0.1f, 0));
        s.setParameters("b", ramp(40_003, -0.01f, 1));
        return s;
    }

    @Test
    void badSettingsAreRejectedByName() {
        try (ParameterStore s = store()) {
            for (double bad : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> Optimizers.adamW().clipGradNorm(bad).build(s));
                assertTrue(e.getMessage().contains("maxNorm") && e.getMessage().contains(String.valueOf(bad)),
                        e.getMessage());
            }
            assertRejects(s, "initScale", () -> Optimizers.sgd().lossScaling(0, 2, 0.5, 1));
            assertRejects(s, "initScale", () -> Optimizers.sgd().lossScaling(1e39, 2, 0.5, 1));
            assertRejects(s, "growthFactor", () -> Optimizers.sgd().lossScaling(1, 1, 0.5, 1));
            assertRejects(s, "backoffFactor", () -> Optimizers.sgd().lossScaling(1, 2, 1, 1));
            assertRejects(s, "backoffFactor", () -> Optimizers.sgd().lossScaling(1, 2, 0, 1));
            assertRejects(s, "growthInterval", () -> Optimizers.sgd().lossScaling(1, 2, 0.5, 0));
            IllegalArgumentException g = assertThrows(IllegalArgumentException.class,
                    () -> Optimizers.sgd().group("g", b -> b.clipGradNorm(1), "a").build(s));
            assertTrue(g.getMessage().contains("gradient clipping"), g.getMessage());
        }
    }

    private static void assertRejects(ParameterStore s, String field, Supplier<OptimizerBuilder<?>> b) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.get().build(s));
        assertTrue(e.getMessage().contains(field), e.getMessage());
    }
}

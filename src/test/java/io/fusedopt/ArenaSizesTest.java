package io.fusedopt;

import io.fusedopt.core.LaunchConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.fusedopt.golden.GoldenRunner;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Sizes that are not multiples of the chunk or vector width (1, 3, 4097, chunk ± 1) update every element, and a
 * tensor's result does not depend on its neighbours or on how the arena is split over threads.
 */
@Tag("device")
class ArenaSizesTest {
    static final long[] SIZES = {1, 3, 4097, LaunchConfig.CHUNK - 1, LaunchConfig.CHUNK + 1, 2L * LaunchConfig.CHUNK + 3};

    private static float[] random(Random r, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * scale;
        }
        return v;
    }

    /** AdamW written out element by element, independently of the rule class, in the documented order. */
    private static void adamwReference(float[] w, float[] g, float[] m, float[] v, double lr, double b1, double b2,
            double eps, double wd, int t) {
        float decay = (float) (1 - lr * wd);
        float negStep = (float) (-lr / (1 - Math.pow(b1, t)));
        float sqrtBc2 = (float) Math.sqrt(1 - Math.pow(b2, t));
        for (int i = 0; i < w.length; i++) {
            float wi = w[i] * decay;
            m[i] = Math.fma((float) b1, m[i], (float) (1 - b1) * g[i]);
            v[i] = Math.fma((float) b2, v[i], ((float) (1 - b2) * g[i]) * g[i]);
            w[i] = Math.fma(negStep, m[i] / ((float) Math.sqrt(v[i]) / sqrtBc2 + (float) eps), wi);
        }
    }

    @Test
    void everyElementOfEverySizeMatchesTheElementwiseReference() {
        Random r = new Random(7);
        try (Device device = TestDevices.device()) {
            ParameterStore.Builder b = ParameterStore.builder();
            for (int i = 0; i < SIZES.length; i++) {
                b.add("t" + i, SIZES[i]);
            }
            try (ParameterStore s = b.build(device);
                    Optimizer opt = Optimizers.adamW().lr(0.01).weightDecay(0.1).build(s)) {
                float[][] w = new float[SIZES.length][], m = new float[SIZES.length][], v = new float[SIZES.length][];
                for (int i = 0; i < SIZES.length; i++) {
                    w[i] = random(r, (int) SIZES[i], 1f);
                    m[i] = new float[w[i].length];
                    v[i] = new float[w[i].length];
                    s.setParameters("t" + i, w[i].clone());
                }
                for (int step = 1; step <= 3; step++) {
                    for (int i = 0; i < SIZES.length; i++) {
                        float[] g = random(r, w[i].length, 0.5f);
                        s.setGradients("t" + i, g);
                        adamwReference(w[i], g, m[i], v[i], 0.01, 0.9, 0.999, 1e-8, 0.1, step);
                    }
                    opt.step();
                    for (int i = 0; i < SIZES.length; i++) {
                        assertBits(w[i], s.parameters("t" + i), "t" + i + " parameters, step " + step);
                        assertBits(m[i], opt.state("t" + i, "exp_avg"), "t" + i + " exp_avg, step " + step);
                        assertBits(v[i], opt.state("t" + i, "exp_avg_sq"), "t" + i + " exp_avg_sq, step " + step);
                    }
                }
            }
        }
    }

    private static void assertBits(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int k = 0; k < expected.length; k++) {
            if (Float.floatToRawIntBits(expected[k]) != Float.floatToRawIntBits(actual[k])) {
                throw new AssertionError(what + " element " + k + ": expected " + expected[k] + " got " + actual[k]);
            }
        }
    }

    /** The same tensor, alone or behind others (so split differently over chunks and threads), steps identically. */
    @ParameterizedTest
    @ValueSource(strings = {"lamb", "swats", "adabelief", "sgd"})
    void resultsDoNotDependOnNeighbours(String name) {
        Random r = new Random(11);
        float[] w0 = random(r, 3 * LaunchConfig.CHUNK + 5, 1f);
        float[][] grads = new float[4][];
        for (int i = 0; i < grads.length; i++) {
            grads[i] = random(r, w0.length, 0.01f);
        }
        try (Device device = TestDevices.device();
                ParameterStore alone = ParameterStore.builder().add("x", w0.length).build(device);
                ParameterStore crowded = ParameterStore.builder().add("pad", 3).add("x", w0.length).add("tail", 9)
                        .build(device);
                Optimizer a = OptimizerSpec.builder(name, Map.of("lr", 0.01), null, null).build(alone);
                Optimizer c = OptimizerSpec.builder(name, Map.of("lr", 0.01), null, null).build(crowded)) {
            alone.setParameters("x", w0);
            crowded.setParameters("x", w0);
            for (float[] g : grads) {
                alone.setGradients("x", g);
                crowded.setGradients("x", g);
                a.step();
                c.step();
            }
            assertBits(alone.parameters("x"), crowded.parameters("x"), name + " parameters");
            for (String slot : a.slotNames()) {
                assertBits(a.state("x", slot), c.state("x", slot), name + " " + slot);
            }
        }
    }

    /** Two runs of the same steps give the same bits: the reductions have one fixed order. */
    @ParameterizedTest
    @ValueSource(strings = {"lamb", "swats"})
    void reductionsAreDeterministic(String name) {
        Random r = new Random(3);
        float[] w0 = random(r, 5 * LaunchConfig.CHUNK + 77, 1f);
        float[] g = random(r, w0.length, 0.1f);
        try (Device device = TestDevices.device();
                ParameterStore s1 = ParameterStore.builder().add("x", w0.length).add("y", 1000).build(device);
                ParameterStore s2 = ParameterStore.builder().add("x", w0.length).add("y", 1000).build(device);
                Optimizer o1 = OptimizerSpec.builder(name, Map.of("lr", 0.01), null, null).build(s1);
                Optimizer o2 = OptimizerSpec.builder(name, Map.of("lr", 0.01), null, null).build(s2)) {
            for (ParameterStore s : new ParameterStore[] {s1, s2}) {
                s.setParameters("x", w0);
                s.setGradients("x", g);
            }
            for (int i = 0; i < 3; i++) {
                o1.step();
                o2.step();
            }
            assertNull(GoldenRunner.firstDifference(o1, o2));
        }
    }
}

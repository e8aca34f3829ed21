package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.golden.GoldenRunner;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The three non-finite gradient policies, on every rule family, on the device under test. */
@Tag("device")
class NonFinitePolicyTest {
    private Device device;

    @BeforeEach
    void open() {
        device = TestDevices.device();
    }

    @AfterEach
    void close() {
        device.close();
    }

    private ParameterStore store() {
        ParameterStore s = ParameterStore.builder().add("a", 3, 5).add("b", 4097).build(device);
        s.setParameters("a", ramp(15, 0.1f));
        s.setParameters("b", ramp(4097, -0.01f));
        return s;
    }

    private static float[] ramp(int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = scale * (i % 17 - 8) + 0.5f;
        }
        return v;
    }

    private static Supplier<OptimizerBuilder<?>> builder(String name) {
        return () -> OptimizerSpec.builder("lamb".equals(name) || "swats".equals(name) ? name : name,
                java.util.Map.of("lr", 0.01), null, null).lookahead(2, 0.5);
    }

    private static void grads(ParameterStore s, float bad) {
        s.setGradients("a", ramp(15, 0.3f));
        float[] b = ramp(4097, 0.2f);
        b[4096] = bad;
        s.setGradients("b", b);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sgd", "sgdw", "adam", "adamw", "adagrad", "radam", "nadam", "adabelief", "adabound", "yogi", "lamb", "swats"})
    void skipLeavesEverythingAsIfTheStepNeverHappened(String name) {
        try (ParameterStore s = store(); Optimizer opt = builder(name).get().nonFinite(NonFinitePolicy.SKIP).build(s);
                ParameterStore ref = store(); Optimizer clean = builder(name).get().build(ref)) {
            grads(s, Float.NaN);
            opt.step();
            assertEquals(0, opt.stepCount());
            assertEquals(1, opt.skippedSteps());
            assertArrayEquals(ramp(4097, -0.01f), s.parameters("b"));
            grads(s, Float.POSITIVE_INFINITY);
            opt.step();
            assertEquals(2, opt.skippedSteps());
            for (int i = 0; i < 3; i++) {
                grads(s, 0.25f);
                grads(ref, 0.25f);
                opt.step();
                clean.step();
            }
            assertEquals(3, opt.stepCount());
            assertNull(GoldenRunner.firstDifference(opt, clean), "a skipped step must leave no trace");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sgd", "sgdw", "adam", "adamw", "adagrad", "radam", "nadam", "adabelief", "adabound", "yogi", "lamb", "swats"})
    void throwRefusesTheStepAndChangesNothing(String name) {
        try (ParameterStore s = store(); Optimizer opt = builder(name).get().nonFinite(NonFinitePolicy.THROW).build(s)) {
            grads(s, 0.5f);
            opt.step();
            float[] w = s.parameters("b");
            float[][] state = new float[opt.slotNames().size()][];
            for (int i = 0; i < state.length; i++) {
                state[i] = opt.state("b", opt.slotNames().get(i));
            }
            grads(s, Float.NEGATIVE_INFINITY);
            NonFiniteGradientException e = assertThrows(NonFiniteGradientException.class, opt::step);
            assertTrue(e.getMessage().contains("not finite at step 2"), e.getMessage());
            assertArrayEquals(w, s.parameters("b"));
            for (int i = 0; i < state.length; i++) {
                assertArrayEquals(state[i], opt.state("b", opt.slotNames().get(i)), opt.slotNames().get(i));
            }
            assertEquals(1, opt.stepCount());
        }
    }

    /**
     * Under PROPAGATE a NaN gradient element makes that element's parameter NaN and leaves the other elements
     * finite, for every rule whose update is per element. LAMB scales a whole tensor by its trust ratio, whose
     * norm the NaN reaches: the whole tensor becomes NaN (as in optax and torch_optimizer), and the other tensor
     * stays finite.
     */
    @ParameterizedTest
    @ValueSource(strings = {"sgd", "sgdw", "adam", "adamw", "adagrad", "radam", "nadam", "adabelief", "adabound", "yogi", "lamb", "swats"})
    void propagateLetsNaNThrough(String name) {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
            try (ParameterStore s = store(); Optimizer opt = builder(name).get().build(s)) {
                grads(s, bad);
                opt.step();
                assertEquals(1, opt.stepCount());
                float[] b = s.parameters("b");
                assertTrue(Float.isNaN(b[4096]) || Float.isInfinite(b[4096]), name + " " + bad + ": " + b[4096]);
                if (name.equals("lamb")) {
                    for (int i = 0; i < b.length; i++) {
                        assertTrue(Float.isNaN(b[i]), "lamb " + bad + ": b[" + i + "] = " + b[i]);
                    }
                } else {
                    assertTrue(Float.isFinite(b[4095]), name + " " + bad + ": " + b[4095]);
                }
                for (float x : s.parameters("a")) {
                    assertTrue(Float.isFinite(x), name + " " + bad + ": tensor a must stay finite");
                }
            }
        }
    }
}

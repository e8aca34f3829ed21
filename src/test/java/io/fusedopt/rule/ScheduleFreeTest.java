package io.fusedopt.rule;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Schedule-Free AdamW beyond its golden cases: validation, the rule's own warmup as the reported rate, the
 * averaging weight, and the evaluation weights before a step, after steps and after a checkpoint.
 */
class ScheduleFreeTest {
    private Device cpu;
    private ParameterStore store;

    @BeforeEach
    void open() {
        cpu = Device.cpu();
        store = ParameterStore.builder().add("w", 2, 3).build(cpu);
        store.setParameters("w", new float[] {1f, -2f, 0.5f, 3f, 0f, -1f});
    }

    @AfterEach
    void close() {
        store.close();
        cpu.close();
    }

    private static Optimizers.Builder sf() {
        return Optimizers.of(ScheduleFreeAdamW.ALGORITHM);
    }

    private void gradients(int step) {
        float[] g = new float[6];
        for (int i = 0; i < g.length; i++) {
            g[i] = (float) Math.sin(1.7 * i + 0.9 * step);
        }
        store.setGradients("w", g);
    }

    @Test
    void validationNamesTheFieldAndTheValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> sf().set("warmup_steps", 2.5).build(store));
        assertEquals("warmupSteps must be a whole number >= 0, got 2.5", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> sf().set("betas", List.of(0.0, 0.999)).build(store));
        assertEquals("beta1 must be in (0, 1) for schedule_free_adamw (x = (y - (1-beta1) z) / beta1), got 0.0",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> sf().set("weight_lr_power", -1.0).build(store));
        assertEquals("weightLrPower must be finite and >= 0, got -1.0", e.getMessage());
        // null is optax's "no warmup", the same as 0.
        try (Optimizer o = sf().set("warmup_steps", null).build(store)) {
            assertEquals(0.0, o.rule().values(0).number("warmup_steps"));
        }
    }

    @Test
    void theWarmupIsTheReportedRate() {
        try (Optimizer o = sf().lr(0.02).set("warmup_steps", 4.0).build(store)) {
            assertEquals(0.005, o.learningRate(), 1e-15, "the rate the first step will use");
            double[] expected = {0.005, 0.01, 0.015, 0.02, 0.02, 0.02};
            for (int t = 1; t <= expected.length; t++) {
                gradients(t);
                o.step();
                assertEquals(expected[t - 1], o.learningRate(), 1e-15, "step " + t);
            }
        }
    }

    @Test
    void averagingWeightWeighsTheRunningMaximumRate() {
        ScheduleFreeAdamW r = (ScheduleFreeAdamW) ScheduleFreeAdamW.ALGORITHM.create(
                java.util.Map.of("warmup_steps", 2.0, "weight_lr_power", 2.0));
        Rule.Rates rates = (g, t) -> r.rate(g, t, 1.0);
        // Rates 0.5, 1, 1, ...: weights 0.25, 1, 1, ...; c_t = w_t / (sum of weights through t).
        assertEquals(1.0, r.averagingWeight(0, 1, 0.5, rates), 0.0);
        assertEquals(1.0 / 1.25, r.averagingWeight(0, 2, 1.0, rates), 1e-15);
        assertEquals(1.0 / 3.25, r.averagingWeight(0, 4, 1.0, rates), 1e-15, "skips ahead over step 3");
        assertEquals(1.0 / 1.25, r.averagingWeight(0, 2, 1.0, rates), 1e-15, "recomputes when asked for an earlier step");
        Rule.Rates zero = (g, t) -> 0.0;
        assertEquals(0.0, r.averagingWeight(0, 3, 0.0, zero), 0.0, "no weight yet: c = 0");
    }

    @Test
    void evaluationWeightsAreTheAverage(@TempDir Path dir) throws Exception {
        float[] initial = store.parameters("w");
        try (Optimizer o = sf().lr(0.05).weightDecay(0.1).build(store)) {
            assertArrayEquals(initial, o.evalParameters("w"), "before the first step x = y");
            for (int t = 1; t <= 3; t++) {
                gradients(t);
                o.step();
            }
            float[] y = store.parameters("w"), z = o.state("w", "z"), x = o.evalParameters("w");
            float b1 = 0.9f, omb1 = (float) (1.0 - 0.9);
            for (int i = 0; i < y.length; i++) {
                assertEquals(Math.fma(-omb1, z[i], y[i]) / b1, x[i], 0f, "element " + i);
                // y lies between x and z: y = b1 x + (1 - b1) z.
                assertEquals(0.9 * x[i] + 0.1 * z[i], y[i], 1e-6, "element " + i);
            }
            assertArrayEquals(y, store.parameters("w"), "evaluating does not change the store");
            Path file = dir.resolve("sf.safetensors");
            o.saveState(file);
            assertEquals(true, Files.size(file) > 0);
            try (Optimizer resumed = sf().lr(0.05).weightDecay(0.1).build(store)) {
                resumed.loadState(file);
                assertArrayEquals(x, resumed.evalParameters("w"), "a checkpoint carries what x is made of");
            }
        }
    }

    @Test
    void firstStepMovesZFromTheParametersAndXToZ() {
        float[] y0 = store.parameters("w");
        try (Optimizer o = sf().lr(0.05).build(store)) {
            gradients(1);
            o.step();
            float[] z = o.state("w", "z"), x = o.evalParameters("w");
            for (int i = 0; i < z.length; i++) {
                // c_1 = 1, so x_1 = z_1 = y_0 - lr g / (|g| + eps) (v / bc2 = g^2 at t = 1).
                double g = (float) Math.sin(1.7 * i + 0.9);
                assertEquals(y0[i] - 0.05 * g / (Math.abs(g) + 1e-8), z[i], 1e-6, "z element " + i);
                assertEquals(z[i], x[i], 1e-6, "x element " + i);
            }
        }
    }
}

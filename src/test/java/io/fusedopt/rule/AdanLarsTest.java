package io.fusedopt.rule;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What the golden cases do not single out for Adan and LARS: validation messages that name the field and value,
 * Adan's first step and its previous-gradient slot, LARS's trust ratio per tensor and its per-group exclusion.
 */
class AdanLarsTest {
    private Device cpu;
    private ParameterStore store;

    @BeforeEach
    void open() {
        cpu = Device.cpu();
        store = ParameterStore.builder().add("w", 2, 3).add("b", 2).build(cpu);
    }

    @AfterEach
    void close() {
        store.close();
        cpu.close();
    }

    private static String message(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    @Test
    void validationNamesTheFieldAndTheValue() {
        assertEquals("beta3 must be in [0, 1), got 1.0", message(() -> Optimizers.named("adan")
                .set("betas", List.of(0.98, 0.92, 1.0)).build(store).close()));
        assertEquals("betas must be a list of 3 numbers, got [0.9, 0.99]", message(() -> Optimizers.named("adan")
                .set("betas", List.of(0.9, 0.99)).build(store).close()));
        assertEquals("epsRoot must be finite and >= 0, got -1.0E-8", message(() -> Optimizers.named("adan")
                .set("eps_root", -1e-8).build(store).close()));
        assertEquals("trustCoefficient must be finite and > 0, got 0.0", message(() -> Optimizers.named("lars")
                .set("trust_coefficient", 0.0).build(store).close()));
        assertEquals("group 'bias': momentum must be in [0, 1), got 1.0", message(() -> Optimizers.named("lars")
                .group("bias", g -> g.set("momentum", 1.0), "b").build(store).close()));
        assertEquals("eps must be finite and >= 0, got NaN", message(() -> Optimizers.named("lars")
                .set("eps", Double.NaN).build(store).close()));
    }

    @Test
    void adanFirstStepIgnoresTheGradientDifferenceAndKeepsTheGradient() {
        float[] w = {1f, -2f, 0.5f, 3f, 0f, -1f};
        float[] g = {0.5f, -0.25f, 2f, 0f, -1f, 4f};
        store.setParameters("w", w);
        store.setGradients("w", g);
        store.setGradients("b", new float[2]);
        double lr = 0.01, eps = 1e-8;
        try (Optimizer o = Optimizers.named("adan").lr(lr).set("eps_root", 0.0).build(store)) {
            o.step();
            assertArrayEquals(g, o.state("w", "prev_grad"), "the previous-gradient slot holds this step's gradient");
            assertArrayEquals(new float[6], o.state("w", "exp_avg_diff"), "v stays 0: d = 0 at t = 1");
            float[] after = store.parameters("w");
            for (int i = 0; i < w.length; i++) {
                // At t = 1, m / bc1 = g and n / bc3 = g^2 (d = 0), so the step is -lr g / (|g| + eps).
                double expected = w[i] - lr * g[i] / (Math.abs(g[i]) + eps);
                assertEquals(expected, after[i], 1e-6, "element " + i);
            }
            // At t = 2 the difference enters v: (1 - beta2) (g2 - g1).
            store.setGradients("w", new float[] {1f, 1f, 1f, 1f, 1f, 1f});
            o.step();
            float[] v = o.state("w", "exp_avg_diff");
            for (int i = 0; i < w.length; i++) {
                assertEquals((1 - 0.92) * (1f - g[i]), v[i], 1e-6, "v element " + i);
            }
        }
    }

    @Test
    void larsTrustRatioPerTensorAndItsExclusion() {
        float[] w = {1f, -2f, 0.5f, 3f, 0f, -1f};
        float[] g = {0.5f, -0.25f, 2f, 0f, -1f, 4f};
        store.setParameters("w", w);
        store.setParameters("b", new float[] {0.5f, 0.25f});
        store.setGradients("w", g);
        store.setGradients("b", new float[] {1f, -1f});
        double tc = 0.02, wd = 0.01, eps = 1e-3, lr = 0.5;
        try (Optimizer o = Optimizers.named("lars").lr(lr).set("trust_coefficient", tc).weightDecay(wd)
                .set("eps", eps).group("bias", b -> b.set("trust_ratio", false), "b").build(store)) {
            o.step();
            double ww = 0, dd = 0;
            for (int i = 0; i < w.length; i++) {
                double d = (float) Math.fma((float) wd, w[i], g[i]);
                ww += (double) w[i] * w[i];
                dd += d * d;
            }
            double trust = tc * Math.sqrt(ww) / (Math.sqrt(dd) + eps);
            assertEquals(trust, o.tensorState("w")[0], 1e-6 * trust, "trust ratio of w");
            assertEquals(1.0, o.tensorState("b")[0], "a group without the trust ratio uses 1");
            float[] after = store.parameters("w");
            for (int i = 0; i < w.length; i++) {
                double d = w[i] * wd + g[i];
                assertEquals(w[i] - lr * trust * d, after[i], 1e-6, "element " + i);
            }
            float[] b = store.parameters("b");
            assertEquals(0.5 - lr * (1 + wd * 0.5), b[0], 1e-6);
            assertEquals(0.25 - lr * (-1 + wd * 0.25), b[1], 1e-6);
        }
    }
}

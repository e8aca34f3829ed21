package io.fusedopt.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerBuilder;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.TestDevices;
import io.fusedopt.core.Dtype;
import io.fusedopt.golden.GoldenRunner;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Clipping and loss scaling in every storage regime: the device under test and the CPU agree bit for bit on the
 * parameters, every state and the loss scale, with 16-bit gradients unscaled and clipped after widening, an overflow
 * step skipped, and Lookahead.
 */
@Tag("device")
class MixedPrecisionLoopTest {
    private static ParameterStore store(Device d, Dtype dtype) {
        ParameterStore s = ParameterStore.builder().dtype(dtype).add("a", 5, 7).add("b", 3000).build(d);
        s.setParameters("a", ramp(35, 0.1f));
        s.setParameters("b", ramp(3000, -0.02f));
        return s;
    }

    private static float[] ramp(int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = scale * (i % 13 - 6) + 0.125f;
        }
        return v;
    }

    private static void grads(ParameterStore s, int k, float scale) {
        float[] a = ramp(35, 0.02f * (k + 1));
        float[] b = ramp(3000, 0.01f);
        for (int i = 0; i < a.length; i++) {
            a[i] *= scale;
        }
        for (int i = 0; i < b.length; i++) {
            b[i] *= scale;
        }
        if (k == 2) {
            b[17] = Float.POSITIVE_INFINITY;
        }
        s.setGradients("a", a);
        s.setGradients("b", b);
    }

    private static OptimizerBuilder<?> builder(String regime) {
        OptimizerBuilder<?> b = Optimizers.adamW().lr(1e-2).clipGradNorm(0.5).lossScaling(256, 2, 0.5, 2)
                .lookahead(2, 0.5);
        return switch (regime) {
            case "bf16_master", "fp16_master" -> b.masterWeights(true);
            case "bf16_sr" -> b.stochasticRounding(42);
            default -> b;
        };
    }

    private static Dtype dtype(String regime) {
        return regime.startsWith("bf16") ? Dtype.BFLOAT16 : regime.startsWith("fp16") ? Dtype.FLOAT16 : Dtype.FLOAT32;
    }

    @ParameterizedTest
    @ValueSource(strings = {"f32", "bf16", "fp16", "bf16_master", "fp16_master", "bf16_sr"})
    void theDeviceAndTheCpuAgreeInEveryRegime(String regime) {
        try (Device dut = TestDevices.device(); Device cpu = Device.cpu();
                ParameterStore sd = store(dut, dtype(regime)); ParameterStore sc = store(cpu, dtype(regime));
                Optimizer od = builder(regime).build(sd); Optimizer oc = builder(regime).build(sc)) {
            for (int k = 0; k < 5; k++) {
                grads(sd, k, od.lossScale());
                grads(sc, k, oc.lossScale());
                od.step();
                oc.step();
                assertNull(GoldenRunner.firstDifference(od, oc), regime + " step " + k);
                assertEquals(oc.lossScale(), od.lossScale());
                assertEquals(oc.lastGradNorm(), od.lastGradNorm());
            }
            assertEquals(1, od.skippedSteps());
            assertEquals(4, od.stepCount());
        }
    }
}

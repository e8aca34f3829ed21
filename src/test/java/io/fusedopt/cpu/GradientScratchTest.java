package io.fusedopt.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import org.junit.jupiter.api.Test;

/**
 * Clipping and loss scaling on the CPU never write the caller's gradient arrays (the rules apply the coefficient as
 * they read each gradient), for arrays longer than a page too, and give the bits of a store that holds the same
 * values itself.
 */
class GradientScratchTest {
    /** Longer than {@link CpuBuffer#OFFSET_LIMIT}: a caller's array is one array, not paged like the store's. */
    private static final int BIG = CpuBuffer.OFFSET_LIMIT + 40_009;
    private static final int SMALL = 1_003;

    private static float[] values(int n, int seed) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = 0.001f * (((i * 31 + seed * 17) % 97) - 48);
        }
        return a;
    }

    @Test
    void clippedAndUnscaledGradientsLeaveTheCallersArraysAsTheyWere() {
        float[] wBig = values(BIG, 1), gBig = values(BIG, 2);
        float[] wSmall = values(SMALL, 3), gSmall = values(SMALL, 4);
        float[] gBigCopy = gBig.clone(), gSmallCopy = gSmall.clone();
        try (Device cpu = Device.cpu();
                ParameterStore caller = ParameterStore.builder().addExternal("big", wBig, gBig, BIG)
                        .addExternal("small", wSmall, gSmall, SMALL).build(cpu);
                ParameterStore own = ParameterStore.builder().add("big", BIG).add("small", SMALL).build(cpu)) {
            own.setParameters("big", values(BIG, 1));
            own.setParameters("small", values(SMALL, 3));
            own.setGradients("big", gBigCopy);
            own.setGradients("small", gSmallCopy);
            try (Optimizer a = Optimizers.adamW().clipGradNorm(0.05).lossScaling(1024, 2, 0.5, 2).build(caller);
                    Optimizer b = Optimizers.adamW().clipGradNorm(0.05).lossScaling(1024, 2, 0.5, 2).build(own)) {
                for (int k = 0; k < 3; k++) {
                    a.step();
                    b.step();
                }
                assertArrayEquals(gBigCopy, gBig, "the caller's long gradient array was written");
                assertArrayEquals(gSmallCopy, gSmall, "the caller's gradient array was written");
                assertArrayEquals(own.gradients("big"), gBigCopy, "the store's gradients were written");
                assertArrayEquals(own.parameters("big"), wBig, "the caller's long array and the store's pages differ");
                assertArrayEquals(own.parameters("small"), wSmall);
                assertArrayEquals(b.state("big", "exp_avg_sq"), a.state("big", "exp_avg_sq"));
            }
        }
    }
}

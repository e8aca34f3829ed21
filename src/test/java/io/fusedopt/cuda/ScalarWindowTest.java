package io.fusedopt.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.NonFinitePolicy;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.emu.StandIn;
import io.fusedopt.golden.GoldenRunner;
import io.fusedopt.schedule.Schedules;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The scalar window when the host runs ahead of the device: with the program's read-backs held back as on a GPU
 * that is {@link CudaStepProgram#WINDOW} steps behind, each step uploads the rows of every count it may have and the
 * device picks the row of its own count; a count whose row the host refuses is found exactly.
 */
@Tag("cuda-emu")
class ScalarWindowTest {
    @BeforeEach
    void checkStandIn() {
        assertTrue(StandIn.active(), () -> "the CPU stand-in is not loaded: " + StandIn.inactiveReason());
    }

    private static ParameterStore store(Device d) {
        ParameterStore s = ParameterStore.builder().add("w", 300).build(d);
        float[] w = new float[300];
        for (int i = 0; i < w.length; i++) {
            w[i] = 0.01f * (i % 11) - 0.05f;
        }
        s.setParameters("w", w);
        return s;
    }

    private static void grads(ParameterStore s, int k) {
        float[] g = new float[300];
        for (int i = 0; i < g.length; i++) {
            g[i] = 0.001f * ((i * (k + 3)) % 17 - 8);
        }
        if (k % 5 == 3) {
            g[k] = Float.NaN;
        }
        s.setGradients("w", g);
    }

    private static void lag(Optimizer o) throws ReflectiveOperationException {
        java.lang.reflect.Field f = Optimizer.class.getDeclaredField("program");
        f.setAccessible(true);
        ((CudaStepProgram) f.get(o)).lagging = true;
    }

    @Test
    void theDevicePicksItsRowAmongTheCountsInFlight() throws Exception {
        try (Device d = Device.cuda(); ParameterStore sl = store(d); ParameterStore sr = store(d);
                Optimizer lagging = Optimizers.adam().nonFinite(NonFinitePolicy.SKIP).clipGradNorm(0.01)
                        .schedule(Schedules.cosineAnnealing(30, 1e-5)).build(sl);
                Optimizer ref = Optimizers.adam().nonFinite(NonFinitePolicy.SKIP).clipGradNorm(0.01)
                        .schedule(Schedules.cosineAnnealing(30, 1e-5)).build(sr)) {
            lag(lagging);
            StandIn.resetCounters();
            for (int k = 0; k < 3 * CudaStepProgram.WINDOW; k++) {
                grads(sl, k);
                grads(sr, k);
                lagging.step();
                ref.step();
            }
            // The host waits only with a full window, for the oldest step alone: once per step after the first
            // WINDOW, as behind a device that is WINDOW steps behind.
            assertEquals(2L * CudaStepProgram.WINDOW, StandIn.count("cuEventSynchronize"));
            assertNull(GoldenRunner.firstDifference(lagging, ref),
                    "skipped steps shift the counts; every step used the row of its own count");
            assertEquals(ref.skippedSteps(), lagging.skippedSteps());
            assertEquals(ref.stepCount(), lagging.stepCount());
            assertTrue(lagging.skippedSteps() >= 4);
        }
    }

    @Test
    void aRowRefusedAheadIsRefusedOnlyWhenTheStepWouldUseIt() throws Exception {
        try (Device d = Device.cuda(); ParameterStore s = store(d);
                Optimizer o = Optimizers.sgd().lr(1e-3).nonFinite(NonFinitePolicy.SKIP)
                        .schedule(Schedules.exponentialLr(1e10)).build(s)) {
            lag(o);
            // The rate of step t is 1e-3 · 1e10^(t-1): a float32 up to t = 5, an overflow from t = 6.
            for (int k = 0; k < 5; k++) {
                float[] g = new float[300];
                Arrays.fill(g, k == 2 ? Float.POSITIVE_INFINITY : 0f);
                s.setGradients("w", g);
                o.step();
            }
            assertEquals(4, o.stepCount(), "one of the five was skipped");
            s.setGradients("w", new float[300]);
            o.step();
            assertEquals(5, o.stepCount(), "the sixth call is step 5, whose rate is fine");
            float[] before = s.parameters("w");
            IllegalStateException e = assertThrows(IllegalStateException.class, o::step);
            assertTrue(e.getMessage().contains("overflows a float32"), e.getMessage());
            assertEquals(5, o.stepCount(), "nothing was applied");
            assertTrue(Arrays.equals(before, s.parameters("w")));
        }
    }
}

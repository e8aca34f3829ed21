package io.fusedopt.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.NonFiniteGradientException;
import io.fusedopt.NonFinitePolicy;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.emu.StandIn;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link NonFinitePolicy#THROW} on CUDA without waiting for the device: with the read-backs held back as on a GPU
 * that runs behind the host, the step that met a NaN and the steps issued after it change nothing, no step() waits,
 * and the exception comes from the next call that learns of it, naming the step and the steps refused since; the
 * halt is then lifted and the following step applies as if the refused ones had never been issued.
 */
@Tag("cuda-emu")
class DeferredThrowTest {
    private static final int N = 300;

    @BeforeEach
    void checkStandIn() {
        assertTrue(StandIn.active(), () -> "the CPU stand-in is not loaded: " + StandIn.inactiveReason());
    }

    private static ParameterStore store(Device d) {
        ParameterStore s = ParameterStore.builder().add("w", N).build(d);
        float[] w = new float[N];
        for (int i = 0; i < N; i++) {
            w[i] = 0.01f * (i % 13) - 0.06f;
        }
        s.setParameters("w", w);
        return s;
    }

    private static float[] grads(int k, boolean nan) {
        float[] g = new float[N];
        for (int i = 0; i < N; i++) {
            g[i] = 0.002f * ((i * (k + 5)) % 19 - 9);
        }
        if (nan) {
            g[k % N] = Float.NaN;
        }
        return g;
    }

    /** Holds back (or not) the optimizer's read-backs, as on a GPU that runs behind the host. */
    private static void lag(Optimizer o, boolean lagging) throws ReflectiveOperationException {
        java.lang.reflect.Field f = Optimizer.class.getDeclaredField("program");
        f.setAccessible(true);
        ((CudaStepProgram) f.get(o)).lagging = lagging;
    }

    /** Steps {@code opt}, counting the stand-in's waits and blocking copies of the step() call alone. */
    private static void stepCounted(Optimizer opt, long[] waits) {
        StandIn.resetCounters();
        opt.step();
        waits[0] += StandIn.synchronizations() + StandIn.blockingCopies();
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void theSkippedStepAndTheStepsIssuedBeforeTheReportChangeNothing(boolean graph) throws Exception {
        try (Device d = Device.cuda(); ParameterStore s = store(d);
                Optimizer opt = Optimizers.adamW().nonFinite(NonFinitePolicy.THROW).build(s);
                Device cpu = Device.cpu(); ParameterStore r = store(cpu);
                Optimizer ref = Optimizers.adamW().nonFinite(NonFinitePolicy.THROW).build(r)) {
            if (graph) {
                opt.capture();
            }
            lag(opt, true);
            long[] waits = {0};
            s.setGradients("w", grads(0, false));
            stepCounted(opt, waits);
            float[] afterFirst = s.parameters("w");
            s.setGradients("w", grads(1, true));
            stepCounted(opt, waits);
            // Issued before the host has heard of the skip: refused on the device.
            s.setGradients("w", grads(2, false));
            stepCounted(opt, waits);
            s.setGradients("w", grads(3, false));
            stepCounted(opt, waits);
            assertEquals(0, waits[0], "a step() under THROW waited for the device");

            NonFiniteGradientException e = assertThrows(NonFiniteGradientException.class, opt::synchronize);
            assertTrue(e.getMessage().contains("not finite at step 2"), e.getMessage());
            assertTrue(e.getMessage().contains("the 2 steps issued after it"), e.getMessage());
            assertArrayEquals(afterFirst, s.parameters("w"), "a refused step changed the parameters");
            assertEquals(1, opt.stepCount());
            assertEquals(1, opt.skippedSteps(), "refused steps are not counted as skipped");
            // Raised once: the halt is lifted and the next step applies.
            opt.synchronize();
            s.setGradients("w", grads(4, false));
            opt.step();
            assertEquals(2, opt.stepCount());

            // The CPU applies the same two steps (it throws in the step that met the NaN).
            r.setGradients("w", grads(0, false));
            ref.step();
            r.setGradients("w", grads(1, true));
            assertThrows(NonFiniteGradientException.class, ref::step);
            r.setGradients("w", grads(4, false));
            ref.step();
            assertArrayEquals(r.parameters("w"), s.parameters("w"), "the bits of the steps that applied");
            assertArrayEquals(ref.state("w", "exp_avg_sq"), opt.state("w", "exp_avg_sq"));
        }
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void theNextStepRaisesTheReportWithoutIssuingItself(boolean graph) throws Exception {
        try (Device d = Device.cuda(); ParameterStore s = store(d);
                Optimizer opt = Optimizers.adamW().nonFinite(NonFinitePolicy.THROW).build(s)) {
            if (graph) {
                opt.capture();
            }
            s.setGradients("w", grads(0, false));
            opt.step();
            lag(opt, true);
            s.setGradients("w", grads(1, true));
            opt.step();
            float[] before = s.parameters("w");
            // The report is in now (reading the parameters waited); the next step() raises it and issues nothing.
            lag(opt, false);
            s.setGradients("w", grads(2, false));
            NonFiniteGradientException e = assertThrows(NonFiniteGradientException.class, opt::step);
            assertTrue(e.getMessage().contains("not finite at step 2"), e.getMessage());
            assertTrue(e.getMessage().contains("issued nothing"), e.getMessage());
            assertArrayEquals(before, s.parameters("w"));
            opt.step();
            assertEquals(2, opt.stepCount(), "after the report the same gradients apply");
        }
    }
}

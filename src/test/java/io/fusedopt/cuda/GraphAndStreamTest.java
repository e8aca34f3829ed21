package io.fusedopt.cuda;

import static jcuda.driver.JCudaDriver.cuCtxCreate;
import static jcuda.driver.JCudaDriver.cuCtxDestroy;
import static jcuda.driver.JCudaDriver.cuCtxGetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import io.fusedopt.emu.StandIn;
import io.fusedopt.golden.GoldenRunner;
import io.fusedopt.rule.Algorithms;
import java.util.Arrays;
import java.util.Map;
import java.util.function.Supplier;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A step captured as a CUDA graph and replayed, and steps on the caller's stream, observed through the stand-in's
 * call log: one graph launch per replayed step, bit-identical results to eager steps for every rule, the ordering
 * across streams without synchronisation, and the refusals (a closed store under a graph, a stream of another
 * context, capture on the CPU).
 */
@Tag("cuda-emu")
class GraphAndStreamTest {
    private long baseline;

    @BeforeEach
    void checkStandIn() {
        assertTrue(StandIn.active(), () -> "the CPU stand-in is not loaded: " + StandIn.inactiveReason());
        StandIn.clearFaults();
        baseline = StandIn.liveAllocations();
    }

    @AfterEach
    void nothingLeaked() {
        assertEquals(baseline, StandIn.liveAllocations(), "device allocations left behind");
    }

    private static ParameterStore store(Device d) {
        ParameterStore s = ParameterStore.builder().add("a", 7, 9).add("b", 1000).build(d);
        s.setParameters("a", ramp(63, 0.1f, 1f));
        s.setParameters("b", ramp(1000, -0.02f, 1f));
        return s;
    }

    private static float[] ramp(int n, float scale, float factor) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (scale * (i % 13 - 6) + 0.125f) * factor;
        }
        return v;
    }

    /** Step {@code k}'s gradients, scaled by the loss scale; step 2 overflows. */
    private static void grads(ParameterStore s, int k, float scale) {
        s.setGradients("a", ramp(63, 0.03f * (k + 1), scale));
        float[] b = ramp(1000, 0.01f, scale);
        if (k == 2) {
            b[999] = Float.POSITIVE_INFINITY;
        }
        s.setGradients("b", b);
    }

    static java.util.stream.Stream<String> ids() {
        return Algorithms.names().stream();
    }

    /** Adafactor and Muon read gradients per tensor and refuse clipping and loss scaling; SKIP still applies. */
    private static boolean wholeTensor(String id) {
        return Algorithms.named(id).create(Map.of()).perTensorPasses();
    }

    private static OptimizerBuilder<?> loop(String id) {
        OptimizerBuilder<?> b = OptimizerSpec.builder(id, Map.of("lr", 0.01), null, null).lookahead(2, 0.5)
                .nonFinite(NonFinitePolicy.SKIP);
        return wholeTensor(id) ? b : b.clipGradNorm(0.5).lossScaling(1024, 2, 0.5, 2);
    }

    @ParameterizedTest
    @MethodSource("ids")
    void aCapturedStepIsOneGraphLaunchAndEqualsTheEagerStep(String id) {
        try (Device d = Device.cuda(); ParameterStore se = store(d); ParameterStore sg = store(d);
                Optimizer eager = loop(id).build(se); Optimizer graphed = loop(id).build(sg)) {
            graphed.capture();
            assertTrue(graphed.captured());
            for (int k = 0; k < 5; k++) {
                grads(se, k, wholeTensor(id) ? 1f : eager.lossScale());
                grads(sg, k, wholeTensor(id) ? 1f : graphed.lossScale());
                eager.step();
                StandIn.resetCounters();
                graphed.step();
                assertEquals(1, StandIn.graphLaunches(), id + " step " + k + ": one graph launch");
                assertEquals(0, StandIn.launches(), "no kernel launched one by one");
                assertEquals(0, StandIn.blockingCopies() + StandIn.synchronizations(), "nothing waits");
                assertNull(GoldenRunner.firstDifference(eager, graphed), id + " step " + k);
            }
            assertEquals(1, graphed.skippedSteps());
            assertEquals(4, graphed.stepCount());
            if (!wholeTensor(id)) {
                assertEquals(eager.lossScale(), graphed.lossScale());
                assertEquals(eager.lastGradNorm(), graphed.lastGradNorm());
            }
        }
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"bf16_sr", "fp16_master"})
    void aGraphReplaysEveryStorageRegime(String regime) {
        io.fusedopt.core.Dtype dtype = regime.startsWith("bf16") ? io.fusedopt.core.Dtype.BFLOAT16
                : io.fusedopt.core.Dtype.FLOAT16;
        Supplier<OptimizerBuilder<?>> b = () -> {
            OptimizerBuilder<?> o = Optimizers.adamW().lr(1e-2).clipGradNorm(0.5).lossScaling(256, 2, 0.5, 2);
            return regime.equals("bf16_sr") ? o.stochasticRounding(7) : o.masterWeights(true);
        };
        try (Device d = Device.cuda();
                ParameterStore se = ParameterStore.builder().dtype(dtype).add("a", 7, 9).add("b", 1000).build(d);
                ParameterStore sg = ParameterStore.builder().dtype(dtype).add("a", 7, 9).add("b", 1000).build(d);
                Optimizer eager = b.get().build(se); Optimizer graphed = b.get().build(sg)) {
            for (ParameterStore s : new ParameterStore[] {se, sg}) {
                s.setParameters("a", ramp(63, 0.1f, 1f));
                s.setParameters("b", ramp(1000, -0.02f, 1f));
            }
            graphed.capture();
            for (int k = 0; k < 4; k++) {
                grads(se, k, eager.lossScale());
                grads(sg, k, graphed.lossScale());
                eager.step();
                StandIn.resetCounters();
                graphed.step();
                assertEquals(1, StandIn.graphLaunches());
                // Stochastic rounding draws from the device's step count: the replays round like eager steps.
                assertNull(GoldenRunner.firstDifference(eager, graphed), regime + " step " + k);
            }
        }
    }

    @Test
    void aGraphOutlivesACheckpointLoadAndALearningRateChange() throws Exception {
        java.nio.file.Path file = java.nio.file.Files.createTempFile("graph", ".safetensors");
        try (Device d = Device.cuda(); ParameterStore se = store(d); ParameterStore sg = store(d);
                Optimizer eager = Optimizers.adamW().clipGradNorm(1).build(se);
                Optimizer graphed = Optimizers.adamW().clipGradNorm(1).build(sg)) {
            graphed.capture();
            for (int k = 0; k < 2; k++) {
                grads(se, k, 1f);
                grads(sg, k, 1f);
                eager.step();
                graphed.step();
            }
            graphed.saveState(file);
            grads(sg, 0, 1f);
            graphed.step();
            graphed.loadState(file);
            eager.setLearningRate(0, 0.003);
            graphed.setLearningRate(0, 0.003);
            sg.setParameters("a", se.parameters("a"));
            sg.setParameters("b", se.parameters("b"));
            grads(se, 3, 1f);
            grads(sg, 3, 1f);
            eager.step();
            graphed.step();
            assertEquals(3, graphed.stepCount());
            assertNull(GoldenRunner.firstDifference(eager, graphed));
        } finally {
            java.nio.file.Files.deleteIfExists(file);
        }
    }

    @Test
    void aGraphOfAClosedStoreIsNotReplayed() {
        try (Device d = Device.cuda()) {
            ParameterStore s = store(d);
            try (Optimizer o = Optimizers.adamW().build(s)) {
                o.capture();
                s.close();
                IllegalStateException e = assertThrows(IllegalStateException.class, o::step);
                assertTrue(e.getMessage().contains("store is closed") && e.getMessage().contains("graph"),
                        e.getMessage());
            }
        }
    }

    @Test
    void captureOnTheCpuIsRefused() {
        try (Device d = Device.cpu(); ParameterStore s = store(d); Optimizer o = Optimizers.adamW().build(s)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, o::capture);
            assertTrue(e.getMessage().contains("CPU"), e.getMessage());
            assertFalse(o.captured());
            CUstream any = new CUstream();
            IllegalArgumentException s2 = assertThrows(IllegalArgumentException.class, () -> o.step(any));
            assertTrue(s2.getMessage().contains("stream"), s2.getMessage());
            assertEquals(0, o.stepCount(), "nothing was applied");
        }
    }

    @Test
    void aStepOnTheCallersStreamEqualsOneOnFusedoptsAndNeverWaits() {
        try (Device d = Device.cuda(); ParameterStore sa = store(d); ParameterStore sb = store(d);
                Optimizer oa = Optimizers.lamb().clipGradNorm(0.5).build(sa);
                Optimizer ob = Optimizers.lamb().clipGradNorm(0.5).build(sb)) {
            CUstream stream = new CUstream();
            assertEquals(CUresult.CUDA_SUCCESS, cuStreamCreate(stream, 0));
            try {
                for (int k = 0; k < 3; k++) {
                    grads(sa, k == 2 ? 0 : k, 1f);
                    grads(sb, k == 2 ? 0 : k, 1f);
                    oa.step();
                    StandIn.resetCounters();
                    ob.step(stream);
                    assertEquals(0, StandIn.blockingCopies() + StandIn.synchronizations(), "step " + k);
                    assertEquals(2, StandIn.count("cuStreamWaitEvent"), "ordered both ways by events");
                    assertNull(GoldenRunner.firstDifference(oa, ob), "step " + k);
                }
                ob.capture();
                StandIn.resetCounters();
                grads(sb, 1, 1f);
                grads(sa, 1, 1f);
                oa.step();
                ob.step(stream);
                assertEquals(1, StandIn.graphLaunches(), "the graph replays on the caller's stream");
                assertNull(GoldenRunner.firstDifference(oa, ob));
            } finally {
                cuStreamDestroy(stream);
            }
        }
    }

    @Test
    void aStreamOfAnotherContextIsRefusedAndNothingIsApplied() {
        try (Device d = Device.cuda(); ParameterStore s = store(d); Optimizer o = Optimizers.adamW().build(s)) {
            CUcontext mine = new CUcontext();
            assertEquals(CUresult.CUDA_SUCCESS, cuCtxGetCurrent(mine));
            CUdevice dev = new CUdevice();
            assertEquals(CUresult.CUDA_SUCCESS, cuDeviceGet(dev, 0));
            CUcontext other = new CUcontext();
            assertEquals(CUresult.CUDA_SUCCESS, cuCtxCreate(other, 0, dev));
            CUstream foreign = new CUstream();
            try {
                assertEquals(CUresult.CUDA_SUCCESS, cuStreamCreate(foreign, 0));
                float[] before = s.parameters("b");
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> o.step(foreign));
                assertTrue(e.getMessage().contains("another CUDA context"), e.getMessage());
                assertTrue(Arrays.equals(before, s.parameters("b")));
                assertEquals(0, o.stepCount());
                o.step();
                assertEquals(1, o.stepCount(), "the optimizer still steps");
            } finally {
                cuCtxSetCurrent(other);
                cuStreamDestroy(foreign);
                cuCtxDestroy(other);
                cuCtxSetCurrent(mine);
            }
        }
    }
}

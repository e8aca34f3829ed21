package io.fusedopt.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.core.CudaException;
import io.fusedopt.Device;
import io.fusedopt.NonFinitePolicy;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerBuilder;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.emu.StandIn;
import java.util.Arrays;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend's driver traffic and failure handling, observed through the CPU stand-in for the driver:
 * driver calls per step (no synchronisation inside a step), one update launch however many tensors, faults while
 * building the arena and during a step, and leaks over many create/step/close cycles.
 */
@Tag("cuda-emu")
class StandInBackendTest {
    private long baseline;

    @BeforeEach
    void checkStandIn() {
        assertTrue(StandIn.active(), () -> "the CPU stand-in is not loaded: " + StandIn.inactiveReason());
        StandIn.clearFaults();
        baseline = StandIn.liveAllocations();
    }

    @AfterEach
    void nothingLeaked() {
        StandIn.clearFaults();
        assertEquals(baseline, StandIn.liveAllocations(), "device allocations left behind");
    }

    @Test
    void autoSelectsTheStandInDevice() {
        try (Device d = Device.auto()) {
            assertEquals("cuda", d.name());
            assertTrue(d.description().contains("stand-in"), d.description());
            // The stand-in executes the PTX inside the fatbins, so the GPU's loading path is the one tested.
            assertTrue(d.description().endsWith("kernels from fatbin"), d.description());
            assertTrue(d.fallbackReason().isEmpty());
        }
    }

    private static ParameterStore store(Device d, int tensors, int size) {
        ParameterStore.Builder b = ParameterStore.builder();
        for (int i = 0; i < tensors; i++) {
            b.add("t" + i, size + i);
        }
        ParameterStore s = b.build(d);
        for (int i = 0; i < tensors; i++) {
            float[] g = new float[size + i];
            Arrays.fill(g, 0.01f * (i + 1));
            s.setGradients("t" + i, g);
        }
        return s;
    }

    /** Driver calls of {@code steps} steps: launches, async copies, blocking copies, synchronisations. */
    private static long[] callsPerStep(Supplier<OptimizerBuilder<?>> builder, int tensors, int steps) {
        try (Device d = Device.cuda(); ParameterStore s = store(d, tensors, 1000);
                Optimizer opt = builder.get().build(s)) {
            opt.step();
            StandIn.resetCounters();
            for (int i = 0; i < steps; i++) {
                opt.step();
            }
            long[] c = {StandIn.launches(), StandIn.countCategory("async_copy"), StandIn.blockingCopies(),
                    StandIn.synchronizations(), StandIn.countCategory("memset")};
            opt.synchronize();
            return c;
        }
    }

    @Test
    void aStepIsTwoCopiesAndTwoLaunchesWithNoSynchronisation() {
        // Per step: the scalar window down and the step-control block back, both asynchronous; step_decide and
        // the update.
        assertEquals(java.util.List.of(10L, 10L, 0L, 0L, 0L),
                Arrays.stream(callsPerStep(() -> Optimizers.adamW(), 3, 5)).boxed().toList());
    }

    @Test
    void manyTensorsStillTakeOneUpdateLaunch() {
        long[] c = callsPerStep(() -> Optimizers.adamW(), 148, 1);
        assertEquals(2, c[0], "the decision and one update launch for 148 tensors");
        assertEquals(2, c[1]);
        assertEquals(0, c[3]);
    }

    @Test
    void lambAndSwatsAddOnlyTheirSmallPasses() {
        long[] lamb = callsPerStep(() -> Optimizers.lamb(), 4, 1);
        assertEquals(4, lamb[0], "decision, norm pass, finalize, update");
        assertEquals(0, lamb[2] + lamb[3]);
        long[] swats = callsPerStep(() -> Optimizers.swats(), 4, 1);
        assertEquals(3, swats[0], "decision, update, finalize");
        assertEquals(0, swats[2] + swats[3]);
    }

    /**
     * The per-tensor finalize reads a tensor's chunk sums a warp at a time: a tensor of more than one warp's worth of
     * chunks (33 full and one partial), and more tensors than one block has warps, still match the CPU's sequential
     * fold bit for bit.
     */
    @Test
    void warpWideFinalizeKeepsTheSequentialFold() {
        for (boolean lamb : new boolean[] {true, false}) {
            try (Device cuda = Device.cuda(); Device cpu = Device.cpu();
                    ParameterStore sa = manyChunks(cuda); ParameterStore sb = manyChunks(cpu);
                    Optimizer oa = (lamb ? Optimizers.lamb() : Optimizers.swats()).build(sa);
                    Optimizer ob = (lamb ? Optimizers.lamb() : Optimizers.swats()).build(sb)) {
                for (int step = 0; step < 2; step++) {
                    oa.step();
                    ob.step();
                    assertNull(io.fusedopt.golden.GoldenRunner.firstDifference(oa, ob),
                            (lamb ? "lamb" : "swats") + " step " + (step + 1));
                }
            }
        }
    }

    private static ParameterStore manyChunks(Device d) {
        ParameterStore.Builder b = ParameterStore.builder().add("big", 33 * 32768 + 1000);
        for (int i = 0; i < 9; i++) {
            b.add("small" + i, 100 + 37 * i);
        }
        ParameterStore s = b.build(d);
        java.util.Random r = new java.util.Random(5);
        for (io.fusedopt.core.Tensor t : s.tensors()) {
            String name = t.name();
            int n = (int) t.length();
            float[] w = new float[n];
            float[] g = new float[n];
            for (int i = 0; i < n; i++) {
                w[i] = (float) r.nextGaussian();
                g[i] = (float) r.nextGaussian() * 0.01f;
            }
            s.setParameters(name, w);
            s.setGradients(name, g);
        }
        return s;
    }

    @Test
    void lookaheadSyncHappensInsideTheUpdateLaunch() {
        long[] c = callsPerStep(() -> Optimizers.adam().lookahead(1, 0.5), 2, 3);
        // The same launches at every step, so one graph replays any step: the decision, the first-step copy, and
        // both update entries, of which the device's gates let exactly one run.
        assertEquals(3 * 4, c[0], "the sync costs no launch of its own");
        assertEquals(0, c[3]);
    }

    @Test
    void skipPolicyReadsNothingBack() {
        long[] c = callsPerStep(() -> Optimizers.adamW().nonFinite(NonFinitePolicy.SKIP), 2, 1);
        assertEquals(3, c[0], "finite check, decision and update");
        assertEquals(0, c[2], "the skip is decided on the device: no read-back");
        assertEquals(0, c[4], "the flag is cleared by the decision, not by a memset");
        assertEquals(0, c[3]);
    }

    @Test
    void aSteadyStateStepWithClippingAndLossScalingNeverWaits() {
        long[] c = callsPerStep(() -> Optimizers.adamW().nonFinite(NonFinitePolicy.SKIP).clipGradNorm(1.0)
                .lossScaling(), 4, 20);
        assertEquals(20 * 3, c[0], "norm pass, decision, update");
        assertEquals(20 * 2, c[1], "the window down and the counts back, asynchronously");
        assertEquals(0, c[2], "no blocking copy");
        assertEquals(0, c[3], "no synchronisation");
    }

    @Test
    void skippedStepsUnderLossScalingNeverWaitEither() {
        try (Device d = Device.cuda(); ParameterStore s = store(d, 2, 1000);
                Optimizer opt = Optimizers.lamb().clipGradNorm(0.1).lossScaling(1024, 2, 0.5, 2).build(s)) {
            opt.step();
            StandIn.resetCounters();
            for (int i = 0; i < 6; i++) {
                float[] g = new float[1000];
                Arrays.fill(g, i % 2 == 0 ? 0.01f : Float.POSITIVE_INFINITY);
                s.setGradients("t0", g);
                StandIn.resetCounters();
                opt.step();
                assertEquals(0, StandIn.blockingCopies() + StandIn.synchronizations(), "step " + i);
            }
            assertEquals(3, opt.skippedSteps(), "read on demand");
            assertEquals(4, opt.appliedSteps());
        }
    }

    @Test
    void aFailedAllocationWhileBuildingLeavesNothingAllocated() {
        try (Device d = Device.cuda()) {
            long before = StandIn.liveAllocations();
            StandIn.failNth("alloc", 2, StandIn.OUT_OF_MEMORY);
            CudaException e = assertThrows(CudaException.class,
                    () -> ParameterStore.builder().add("w", 100).build(d));
            assertEquals("CUDA_ERROR_OUT_OF_MEMORY", e.errorName());
            assertTrue(e.getMessage().contains("allocating the gradients buffer"), e.getMessage());
            assertEquals(before, StandIn.liveAllocations());
            try (ParameterStore s = ParameterStore.builder().add("w", 100).build(d)) {
                long withStore = StandIn.liveAllocations();
                for (int n = 1; n <= 6; n++) {
                    StandIn.failNth("alloc", n, StandIn.OUT_OF_MEMORY);
                    try (Optimizer o = Optimizers.lamb().lookahead(2, 0.5).build(s)) {
                        StandIn.clearFaults();
                        continue;
                    } catch (CudaException expected) {
                        assertEquals("CUDA_ERROR_OUT_OF_MEMORY", expected.errorName());
                    }
                    assertEquals(withStore, StandIn.liveAllocations(), "after failing allocation " + n);
                }
            }
            assertEquals(before, StandIn.liveAllocations());
        }
    }

    @Test
    void aFailedLaunchMakesTheOptimizerRefuseFurtherSteps() {
        try (Device d = Device.cuda(); ParameterStore s = store(d, 2, 100);
                Optimizer opt = Optimizers.adamW().build(s)) {
            opt.step();
            StandIn.failNth("launch", 1, 1);
            CudaException e = assertThrows(CudaException.class, opt::step);
            assertTrue(e.getMessage().contains("device state is now unknown"), e.getMessage());
            assertTrue(e.getMessage().contains("checkpoint"), e.getMessage());
            IllegalStateException again = assertThrows(IllegalStateException.class, opt::step);
            assertTrue(again.getMessage().contains("restore from the last checkpoint"), again.getMessage());
            assertEquals(1, opt.stepCount());
        }
    }

    @Test
    void tenThousandCyclesLeakNothing() {
        try (Device d = Device.cuda()) {
            long devBefore = StandIn.liveAllocations();
            long heapAt1000 = 0;
            for (int i = 0; i < 10_000; i++) {
                try (ParameterStore s = ParameterStore.builder().add("w", 33).add("b", 3).build(d);
                        Optimizer o = (i % 2 == 0 ? Optimizers.adamW() : Optimizers.lamb()).build(s)) {
                    s.setGradients("b", new float[] {1, 2, 3});
                    o.step();
                }
                if (i == 999) {
                    heapAt1000 = usedHeapAfterGc();
                }
            }
            assertEquals(devBefore, StandIn.liveAllocations());
            long growth = usedHeapAfterGc() - heapAt1000;
            assertTrue(growth < 16L << 20, "heap grew by " + growth + " bytes over 9,000 cycles");
        }
    }

    static long usedHeapAfterGc() {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return rt.totalMemory() - rt.freeMemory();
    }
}

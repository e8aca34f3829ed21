package io.fusedopt.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.emu.StandIn;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The step scalars go down from pinned host memory (a copy from pageable memory may make the driver wait): an
 * optimizer holds {@link CudaStepProgram#SCALAR_SLOTS} pinned slots, reuses them without waiting while the device
 * keeps up, and frees them on close.
 */
@Tag("cuda-emu")
class PinnedScalarsTest {
    @Test
    void theScalarsTravelFromPinnedSlotsWithoutWaiting() {
        assertTrue(StandIn.active(), () -> "the CPU stand-in is not loaded: " + StandIn.inactiveReason());
        try (Device d = Device.cuda(); ParameterStore s = ParameterStore.builder().add("w", 1000).build(d)) {
            long before = StandIn.liveHostAllocations();
            try (Optimizer opt = Optimizers.adamW().build(s)) {
                // One upload slot and one read-back slot per step in flight.
                assertEquals(before + 2L * CudaStepProgram.SCALAR_SLOTS, StandIn.liveHostAllocations());
                opt.step();
                StandIn.resetCounters();
                for (int i = 0; i < 3 * CudaStepProgram.SCALAR_SLOTS; i++) {
                    opt.step();
                }
                assertEquals(0, StandIn.synchronizations(), "no step waited for an earlier scalar copy");
                assertEquals(0, StandIn.blockingCopies());
                assertEquals(2 * 3L * CudaStepProgram.SCALAR_SLOTS, StandIn.countCategory("async_copy"));
            }
            assertEquals(before, StandIn.liveHostAllocations(), "the pinned slots are freed with the optimizer");
        }
    }
}

package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** 10,000 create/step/close cycles on the device under test leave the heap where it was, give or take noise. */
@Tag("device")
class LeakTest {
    @Test
    void tenThousandCyclesDoNotGrowTheHeap() {
        try (Device d = TestDevices.device()) {
            long at1000 = 0;
            for (int i = 0; i < 10_000; i++) {
                try (ParameterStore s = ParameterStore.builder().add("w", 40).add("b", 3).build(d);
                        Optimizer o = (i % 3 == 0 ? Optimizers.swats() : Optimizers.adamW().lookahead(2, 0.5)).build(s)) {
                    s.setGradients("b", new float[] {1, -2, 3});
                    o.step();
                    o.step();
                }
                if (i == 999) {
                    at1000 = usedHeapAfterGc();
                }
            }
            long growth = usedHeapAfterGc() - at1000;
            // 16 MiB: far above GC noise for a steady state, far below what 9,000 leaked arenas would hold.
            assertTrue(growth < 16L << 20, "heap grew by " + growth + " bytes over 9,000 cycles");
        }
    }

    private static long usedHeapAfterGc() {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return rt.totalMemory() - rt.freeMemory();
    }
}

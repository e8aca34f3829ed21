package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * 10,000 create/step/close cycles on the device under test leave the heap and the process's memory outside the heap
 * where they were, give or take noise. They follow 30,000 cycles that let the JIT settle: its compiler arenas grow
 * the process by about 180 MB over the first 20,000 cycles here, then stay.
 */
@Tag("device")
class LeakTest {
    @Test
    void tenThousandCyclesLeakNothing() {
        try (Device d = TestDevices.device()) {
            long heapBefore = 0;
            long outsideBefore = 0;
            for (int i = 0; i < 40_000; i++) {
                try (ParameterStore s = ParameterStore.builder().add("w", 40).add("b", 3).build(d);
                        Optimizer o = (i % 3 == 0 ? Optimizers.swats() : Optimizers.adamW().lookahead(2, 0.5))
                                .build(s)) {
                    s.setGradients("b", new float[] {1, -2, 3});
                    o.step();
                    o.step();
                }
                if (i == 29_999) {
                    heapBefore = usedHeapAfterGc();
                    outsideBefore = outsideHeap();
                }
            }
            long growth = usedHeapAfterGc() - heapBefore;
            // 16 MiB: far above GC noise for a steady state, far below what 10,000 leaked arenas would hold.
            assertTrue(growth < 16L << 20, "heap grew by " + growth + " bytes over 10,000 cycles");
            long outsideGrowth = outsideHeap() - outsideBefore;
            // 32 MiB: room for the code cache and metaspace; 10,000 leaked native buffers or contexts would show more.
            assertTrue(outsideGrowth < 32L << 20,
                    "memory outside the heap grew by " + outsideGrowth + " bytes over 10,000 cycles");
        }
    }

    /**
     * Resident memory minus the committed Java heap: the JVM keeps heap pages it has touched, so only what lies
     * outside the heap can show a native leak.
     */
    private static long outsideHeap() {
        return residentBytes()
                - java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
    }

    /** VmRSS from /proc/self/status (Linux), in bytes. */
    private static long residentBytes() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (java.io.IOException e) {
            throw new AssertionError("cannot read /proc/self/status", e);
        }
        throw new AssertionError("no VmRSS line in /proc/self/status");
    }

    private static long usedHeapAfterGc() {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return rt.totalMemory() - rt.freeMemory();
    }
}

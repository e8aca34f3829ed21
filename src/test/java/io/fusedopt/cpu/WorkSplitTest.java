package io.fusedopt.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.core.LaunchConfig;
import org.junit.jupiter.api.Test;

class WorkSplitTest {
    /** The runs are non-empty, in order, and cover every chunk exactly once. */
    private static void assertCovers(WorkSplit s, ArenaLayout layout) {
        assertEquals(0, s.from(0));
        for (int r = 0; r < s.runs(); r++) {
            assertTrue(s.to(r) > s.from(r), "run " + r + " is empty");
            if (r > 0) {
                assertEquals(s.to(r - 1), s.from(r), "run " + r + " does not start where run " + (r - 1) + " ends");
            }
        }
        assertEquals(layout.chunkCount(), s.to(s.runs() - 1));
    }

    private static long cost(WorkSplit s, ArenaLayout layout, int r) {
        long c = 0;
        for (int k = s.from(r); k < s.to(r); k++) {
            c += WorkSplit.cost(layout.chunkLength(k));
        }
        return c;
    }

    @Test
    void oneThreadOrASmallArenaIsOneRun() {
        ArenaLayout big = Layouts.of(1L << 24);
        assertEquals(1, WorkSplit.of(big, 1).runs());
        ArenaLayout small = Layouts.of(WorkSplit.INLINE_COST - 64 * WorkSplit.CHUNK_COST - 1);
        assertEquals(1, WorkSplit.of(small, 2).runs());
        assertCovers(WorkSplit.of(small, 2), small);
        ArenaLayout empty = Layouts.of();
        assertEquals(0, WorkSplit.of(empty, 2).to(0));
    }

    @Test
    void aLargeTensorIsCutIntoEqualRunsPerThread() {
        ArenaLayout l = Layouts.of(1L << 26);
        WorkSplit s = WorkSplit.of(l, 2);
        assertEquals(2 * WorkSplit.RUNS_PER_THREAD, s.runs());
        assertCovers(s, l);
        for (int r = 0; r < s.runs(); r++) {
            assertEquals(l.chunkCount() / s.runs(), s.to(r) - s.from(r));
        }
    }

    @Test
    void manySmallTensorsGetAFewRunsOfEqualCostNotOnePerTensor() {
        ArenaLayout l = Layouts.uniform(10_000, 100);
        WorkSplit s = WorkSplit.of(l, 2);
        assertEquals(2 * WorkSplit.RUNS_PER_THREAD, s.runs());
        assertCovers(s, l);
        long each = 10_000L * WorkSplit.cost(100) / s.runs();
        for (int r = 0; r < s.runs(); r++) {
            assertTrue(Math.abs(cost(s, l, r) - each) <= WorkSplit.cost(100), "run " + r + " costs " + cost(s, l, r));
        }
    }

    @Test
    void runsBalanceCostAcrossMixedTensorsAndNeverExceedTheChunks() {
        ArenaLayout l = Layouts.of(12L * LaunchConfig.CHUNK + 7, 5, 100, 6L * LaunchConfig.CHUNK, 64, 1);
        WorkSplit s = WorkSplit.of(l, 64);
        assertEquals(l.chunkCount(), s.runs(), "no more runs than chunks");
        assertCovers(s, l);
        long four = 4L * LaunchConfig.CHUNK;
        ArenaLayout m = Layouts.of(four, 1, 1, 1, 1, 1, four, four, four, four - 3);
        WorkSplit t = WorkSplit.of(m, 2);
        assertCovers(t, m);
        assertTrue(t.runs() >= 2 && t.runs() <= 2 * WorkSplit.RUNS_PER_THREAD, "runs: " + t.runs());
        long total = 0, max = 0;
        for (int r = 0; r < t.runs(); r++) {
            total += cost(t, m, r);
            max = Math.max(max, cost(t, m, r));
        }
        assertTrue(max <= total / t.runs() + WorkSplit.cost(LaunchConfig.CHUNK), "largest run costs " + max);
    }

    @Test
    void rejectsFewerThanOneThread() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> WorkSplit.of(Layouts.of(10), 0));
        assertTrue(e.getMessage().contains("threads"), e.getMessage());
    }
}

package io.fusedopt.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.backend.ArenaLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class PassRunnerTest {
    private static final ArenaLayout LAYOUT = Layouts.uniform(4_000, 100);

    private static AtomicIntegerArray countChunks(PassRunner runner, int passes) {
        AtomicIntegerArray seen = new AtomicIntegerArray(LAYOUT.chunkCount());
        for (int p = 0; p < passes; p++) {
            runner.run((from, to, c) -> {
                for (int k = from; k < to; k++) {
                    seen.incrementAndGet(k);
                }
            });
        }
        return seen;
    }

    private static void assertEachChunk(AtomicIntegerArray seen, int times) {
        for (int k = 0; k < seen.length(); k++) {
            assertEquals(times, seen.get(k), "chunk " + k);
        }
    }

    @Test
    void everyChunkRunsOncePerPassOnThePool() {
        WorkSplit split = WorkSplit.of(LAYOUT, 3);
        assertTrue(split.runs() > 3, "the layout must split: " + split.runs() + " runs");
        PassRunner runner = new PassRunner(split, 3, CpuBackend.pool());
        assertEquals(3, runner.threads());
        assertEachChunk(countChunks(runner, 50), 50);
    }

    @Test
    void theCallerDoesAllTheWorkWhenNoHelperStartsAndLateHelpersDoNothing() {
        List<Runnable> queued = new ArrayList<>();
        Executor never = queued::add;
        PassRunner runner = new PassRunner(WorkSplit.of(LAYOUT, 2), 2, never);
        Set<Thread> threads = ConcurrentHashMap.newKeySet();
        AtomicIntegerArray seen = new AtomicIntegerArray(LAYOUT.chunkCount());
        PassRunner.RangeWork work = (from, to, c) -> {
            threads.add(Thread.currentThread());
            for (int k = from; k < to; k++) {
                seen.incrementAndGet(k);
            }
        };
        runner.run(work);
        runner.run(work);
        assertEquals(Set.of(Thread.currentThread()), threads);
        assertEquals(1, queued.size(), "a helper that has not started is not submitted again");
        queued.forEach(Runnable::run);
        assertEachChunk(seen, 2);
    }

    @Test
    void oneThreadRunsEverythingOnTheCaller() {
        List<Runnable> queued = new ArrayList<>();
        PassRunner runner = new PassRunner(WorkSplit.of(LAYOUT, 1), 1, queued::add);
        assertEquals(1, runner.threads());
        assertEachChunk(countChunks(runner, 2), 2);
        assertTrue(queued.isEmpty());
    }

    @Test
    void aFailingRunIsRethrownAfterTheOtherRunsComplete() {
        WorkSplit split = WorkSplit.of(LAYOUT, 2);
        PassRunner runner = new PassRunner(split, 2, CpuBackend.pool());
        IllegalStateException boom = new IllegalStateException("run 1 failed");
        AtomicIntegerArray seen = new AtomicIntegerArray(LAYOUT.chunkCount());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> runner.run((from, to, c) -> {
            if (from == split.from(1)) {
                throw boom;
            }
            for (int k = from; k < to; k++) {
                seen.incrementAndGet(k);
            }
        }));
        assertSame(boom, e);
        for (int k = 0; k < seen.length(); k++) {
            boolean inFailed = k >= split.from(1) && k < split.to(1);
            assertEquals(inFailed ? 0 : 1, seen.get(k), "chunk " + k);
        }
        // The runner is usable after a failure.
        assertEachChunk(countChunks(runner, 1), 1);
    }
}

package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.CheckpointException;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.TestDevices;
import io.fusedopt.checkpoint.Fixtures.Snapshot;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interrupting the thread that loads a checkpoint streamed from the file (too large to verify in memory) either
 * leaves the optimizer exactly as it was, with a {@link CheckpointException}, or completes the load: never a state
 * partly overwritten. The interrupt stays set for the caller either way.
 */
@Tag("device")
class InterruptedLoadTest {
    private static final int N = 1 << 20;

    @TempDir
    Path dir;

    private static ParameterStore store(Device d) {
        ParameterStore s = ParameterStore.builder().add("w", N).add("b", 1000).build(d);
        float[] g = new float[N];
        Random r = new Random(3);
        for (int i = 0; i < N; i++) {
            g[i] = (float) r.nextGaussian();
        }
        s.setGradients("w", g);
        return s;
    }

    @Test
    void anInterruptedLoadIsAllOrNothing() throws Exception {
        Path file = dir.resolve("big.safetensors");
        try (Device d = TestDevices.device()) {
            Snapshot saved;
            try (ParameterStore s = store(d); Optimizer o = Optimizers.adam().lr(1e-3).build(s)) {
                for (int i = 0; i < 5; i++) {
                    o.step();
                }
                o.saveState(file);
                saved = Snapshot.of(o);
            }
            try (ParameterStore s = store(d); Optimizer o = Optimizers.adam().lr(1e-3).build(s)) {
                o.step();
                Snapshot before = Snapshot.of(o);
                Random r = new Random(11);
                int completed = 0, refused = 0, duringApply = 0;
                for (int attempt = 0; attempt < 40; attempt++) {
                    if (attempt > 0) {
                        // back to the "before" state for the next attempt
                        restore(o, before, file, d);
                    }
                    AtomicReference<Throwable> failure = new AtomicReference<>();
                    boolean[] stillInterrupted = new boolean[1];
                    Thread loader = new Thread(() -> {
                        try {
                            Streaming.load(o, file, 4096, 0, (step, skipped, ts) -> { });
                        } catch (Throwable t) {
                            failure.set(t);
                        }
                        stillInterrupted[0] = Thread.currentThread().isInterrupted();
                    });
                    loader.start();
                    Thread.sleep(0, r.nextInt(999_999));
                    Thread.sleep(r.nextInt(12));
                    loader.interrupt();
                    loader.join();
                    Snapshot after = Snapshot.of(o);
                    if (failure.get() == null) {
                        completed++;
                        assertSameState(saved, after);
                        if (stillInterrupted[0]) {
                            duringApply++;
                        }
                    } else {
                        refused++;
                        assertTrue(failure.get() instanceof CheckpointException, () -> failure.get().toString());
                        assertTrue(failure.get().getMessage().contains("unchanged"), failure.get().getMessage());
                        before.assertSame(after);
                        assertTrue(stillInterrupted[0], "the interrupt stays set");
                    }
                }
                assertEquals(40, completed + refused);
                assertTrue(refused + duringApply > 0, "no interrupt reached a load in progress; adjust the delays");
            }
        }
    }

    // The counters are not part of this load (the callback ignores them), so only the slots are compared.
    private static void assertSameState(Snapshot want, Snapshot got) {
        assertEquals(want.state().keySet(), got.state().keySet());
        for (String k : want.state().keySet()) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(want.state().get(k), got.state().get(k), k);
        }
    }

    private static void restore(Optimizer o, Snapshot before, Path file, Device d) {
        for (String k : before.state().keySet()) {
            int dot = k.indexOf('.');
            int[] bits = before.state().get(k);
            float[] v = new float[bits.length];
            for (int i = 0; i < v.length; i++) {
                v[i] = Float.intBitsToFloat(bits[i]);
            }
            o.writeState(k.substring(0, dot), k.substring(dot + 1), 0, v, 0, v.length);
        }
        before.assertSame(Snapshot.of(o));
    }
}

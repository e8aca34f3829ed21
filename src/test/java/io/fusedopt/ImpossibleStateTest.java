package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint holding a state the rule's steps cannot produce is refused by name, with the loading optimizer
 * unchanged: a negative second moment, a NaN second moment saved under SKIP (which never lets a non-finite
 * gradient reach the state), a SWATS phase of 0.5. A NaN saved under PROPAGATE, which a NaN gradient produces,
 * loads as saved.
 */
@Tag("device")
class ImpossibleStateTest {
    @TempDir
    Path tmp;

    private Path saveWith(Function<ParameterStore, Optimizer> build, java.util.function.Consumer<Optimizer> damage) {
        Path file = tmp.resolve("state.safetensors");
        try (Device d = TestDevices.device(); ParameterStore s = ParameterStore.builder().add("w", 5).build(d);
                Optimizer opt = build.apply(s)) {
            s.setGradients("w", new float[] {0.1f, -0.2f, 0.3f, 0.05f, -0.4f});
            opt.step();
            damage.accept(opt);
            opt.saveState(file);
        }
        return file;
    }

    private static void assertRefused(Path file, Function<ParameterStore, Optimizer> build, String... words) {
        try (Device d = TestDevices.device(); ParameterStore s = ParameterStore.builder().add("w", 5).build(d);
                Optimizer opt = build.apply(s)) {
            float[] before = opt.state("w", opt.slotNames().get(0));
            CheckpointException e = assertThrows(CheckpointException.class, () -> opt.loadState(file));
            for (String w : words) {
                assertTrue(e.getMessage().contains(w), () -> "'" + w + "' in: " + e.getMessage());
            }
            assertEquals(0, opt.stepCount(), "the optimizer is unchanged");
            assertArrayEquals(before, opt.state("w", opt.slotNames().get(0)));
        }
    }

    @Test
    void aNegativeSecondMomentIsRefused() {
        Function<ParameterStore, Optimizer> adam = s -> Optimizers.adamW().build(s);
        Path file = saveWith(adam, o -> o.writeState("w", "exp_avg_sq", 3, new float[] {-1e-6f}, 0, 1));
        assertRefused(file, adam, "'w.exp_avg_sq' element 3 is -1.0E-6", "never negative");
    }

    @Test
    void aNanSecondMomentIsRefusedWhereNoNanGradientCouldReachIt() {
        Function<ParameterStore, Optimizer> skip = s -> Optimizers.adamW().nonFinite(NonFinitePolicy.SKIP).build(s);
        Path file = saveWith(skip, o -> o.writeState("w", "exp_avg_sq", 1, new float[] {Float.NaN}, 0, 1));
        assertRefused(file, skip, "'w.exp_avg_sq' element 1 is NaN", "SKIP");
    }

    @Test
    void aNanSecondMomentUnderPropagateLoadsAsSaved() {
        Function<ParameterStore, Optimizer> propagate = s -> Optimizers.adamW().build(s);
        Path file = saveWith(propagate, o -> o.writeState("w", "exp_avg_sq", 1, new float[] {Float.NaN}, 0, 1));
        try (Device d = TestDevices.device(); ParameterStore s = ParameterStore.builder().add("w", 5).build(d);
                Optimizer opt = propagate.apply(s)) {
            opt.loadState(file);
            assertTrue(Float.isNaN(opt.state("w", "exp_avg_sq")[1]));
        }
    }

    @Test
    void aSwatsPhaseOfOneHalfIsRefused() {
        Function<ParameterStore, Optimizer> swats = s -> Optimizers.swats().build(s);
        Path file = saveWith(swats, o -> {
            double[] ts = o.tensorState();
            ts[io.fusedopt.rule.Swats.PHASE] = 0.5;
            o.restoreCounters(o.stepCount(), o.skippedSteps(), ts);
        });
        assertRefused(file, swats, "tensor 'w'", "phase is 0.5");
    }
}

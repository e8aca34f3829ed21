package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A skipped step leaves the per-tensor state (LAMB's trust ratio, SWATS's phase) as it was, also right after a
 * checkpoint was loaded, when the device's partial sums are those of no step: on CUDA every pass after the
 * finite check reads the skip flag, the per-tensor fold included.
 */
@Tag("device")
class SkippedStepTensorStateTest {
    private static Device device;

    @BeforeAll
    static void open() {
        device = TestDevices.device();
    }

    @AfterAll
    static void close() {
        device.close();
    }

    private static Optimizer build(String rule, ParameterStore s) {
        return OptimizerSpec.builder(rule, java.util.Map.of("lr", 0.01), null, null)
                .nonFinite(NonFinitePolicy.SKIP).build(s);
    }

    @ParameterizedTest
    @ValueSource(strings = {"lamb", "swats"})
    void aSkippedStepAfterALoadKeepsTheTensorState(String rule, @TempDir Path tmp) {
        float[] g = {0.3f, -0.2f, 0.1f, 0.4f, -0.5f, 0.25f, 0.05f};
        float[] bad = g.clone();
        bad[2] = Float.NaN;
        Path file = tmp.resolve("state.safetensors");
        double[] saved;
        try (ParameterStore s = ParameterStore.builder().add("w", 7).build(device); Optimizer opt = build(rule, s)) {
            s.setParameters("w", new float[] {1f, -2f, 0.5f, 0.25f, 3f, -1f, 2f});
            for (int i = 0; i < 3; i++) {
                s.setGradients("w", g);
                opt.step();
            }
            opt.saveState(file);
            saved = opt.tensorState();
        }
        try (ParameterStore s = ParameterStore.builder().add("w", 7).build(device); Optimizer opt = build(rule, s)) {
            opt.loadState(file);
            s.setGradients("w", bad);
            opt.step();
            assertEquals(1, opt.skippedSteps(), "the step was skipped");
            assertArrayEquals(saved, opt.tensorState(), "the per-tensor state is the loaded one");
        }
    }
}

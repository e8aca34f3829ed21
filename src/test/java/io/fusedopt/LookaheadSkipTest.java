package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.fusedopt.golden.GoldenRunner;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A skipped first step changes nothing, Lookahead's slow weights included, on the device under test exactly as on
 * the CPU: the step plan puts Lookahead's first copy after the finite check on both backends.
 */
@Tag("device")
class LookaheadSkipTest {
    private static Device device;
    private static Device cpu;

    @BeforeAll
    static void open() {
        device = TestDevices.device();
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        device.close();
        cpu.close();
    }

    private static Optimizer build(ParameterStore s, NonFinitePolicy policy) {
        return Optimizers.adam().lr(0.01).lookahead(2, 0.5).nonFinite(policy).build(s);
    }

    @ParameterizedTest
    @EnumSource(value = NonFinitePolicy.class, names = {"SKIP", "THROW"})
    void aNonFiniteFirstGradientLeavesTheSlowWeightsAlone(NonFinitePolicy policy) {
        float[] w = {0.5f, -1.25f, 2f, 3f, -0.75f};
        float[] bad = {0.1f, Float.NaN, 0.2f, -0.3f, 0.4f};
        float[] good = {0.1f, -0.2f, 0.2f, -0.3f, 0.4f};
        try (ParameterStore sa = ParameterStore.builder().add("w", 5).build(device);
                ParameterStore sb = ParameterStore.builder().add("w", 5).build(cpu);
                Optimizer oa = build(sa, policy); Optimizer ob = build(sb, policy)) {
            for (ParameterStore s : new ParameterStore[] {sa, sb}) {
                s.setParameters("w", w);
                s.setGradients("w", bad);
            }
            for (Optimizer o : new Optimizer[] {oa, ob}) {
                if (policy == NonFinitePolicy.THROW) {
                    assertThrows(NonFiniteGradientException.class, o::step);
                } else {
                    o.step();
                }
                assertEquals(0, o.stepCount());
                assertEquals(1, o.skippedSteps());
                assertArrayEquals(new float[5], o.state("w", "slow"), "the slow weights are untouched");
            }
            assertArrayEquals(w, sa.parameters("w"));
            assertNull(GoldenRunner.firstDifference(oa, ob), "after the skipped step");
            for (int step = 0; step < 3; step++) {
                sa.setGradients("w", good);
                sb.setGradients("w", good);
                oa.step();
                ob.step();
                assertNull(GoldenRunner.firstDifference(oa, ob), "step " + oa.stepCount());
            }
        }
    }
}

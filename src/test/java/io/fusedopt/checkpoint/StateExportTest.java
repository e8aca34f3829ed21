package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.fusedopt.CheckpointException;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerState;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.TestDevices;
import io.fusedopt.checkpoint.Fixtures.Config;
import io.fusedopt.checkpoint.Fixtures.Snapshot;
import io.fusedopt.core.Tensor;
import io.fusedopt.golden.GoldenRunner;
import io.fusedopt.schedule.Schedules;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Optimizer#state()} and {@link Optimizer#load(OptimizerState)}: an in-memory state holds what a checkpoint
 * file holds, restoring it continues every rule bit for bit on either backend, it does not change afterwards, and a
 * mismatched optimizer refuses it with the message a checkpoint file of the same state gets.
 */
@Tag("device")
class StateExportTest {
    private static final Config BASE = Fixtures.adamWithGroup();
    private static Device dut;
    private static Device cpu;

    @TempDir
    Path dir;

    @BeforeAll
    static void open() {
        dut = TestDevices.device();
        cpu = Device.cpu();
    }

    @AfterAll
    static void close() {
        dut.close();
        cpu.close();
    }

    @TestFactory
    Stream<DynamicTest> takenOnTheDeviceUnderTestRestoredOnTheCpu() {
        return Fixtures.everyRule().stream().map(c -> DynamicTest.dynamicTest(c.name(),
                () -> assertContinues(c, dut, cpu)));
    }

    @TestFactory
    Stream<DynamicTest> takenOnTheCpuRestoredOnTheDeviceUnderTest() {
        return Fixtures.everyRule().stream().map(c -> DynamicTest.dynamicTest(c.name(),
                () -> assertContinues(c, cpu, dut)));
    }

    /** n steps, state(), close, rebuild elsewhere, load, n more steps: the same bits as 2n steps without stopping. */
    private static void assertContinues(Config c, Device takeOn, Device loadOn) {
        try (ParameterStore sa = Fixtures.store(c, takeOn); Optimizer a = c.factory().apply(sa)) {
            Fixtures.run(c, sa, a, 1, 2 * c.n());
            OptimizerState state;
            Map<String, float[]> params = new LinkedHashMap<>();
            try (ParameterStore sb = Fixtures.store(c, takeOn); Optimizer b = c.factory().apply(sb)) {
                Fixtures.run(c, sb, b, 1, c.n());
                state = b.state();
                for (Tensor t : sb.tensors()) {
                    params.put(t.name(), sb.parameters(t.name()));
                }
            }
            try (ParameterStore sc = Fixtures.store(c, loadOn); Optimizer resumed = c.factory().apply(sc)) {
                params.forEach(sc::setParameters);
                resumed.load(state);
                Fixtures.run(c, sc, resumed, c.n() + 1, 2 * c.n());
                assertNull(GoldenRunner.firstDifference(a, resumed), () -> c.name() + ": "
                        + GoldenRunner.firstDifference(a, resumed));
                assertEquals(a.stepCount(), resumed.stepCount(), "step count");
                assertEquals(a.skippedSteps(), resumed.skippedSteps(), "skipped steps");
                assertEquals(a.learningRate(), resumed.learningRate(), "learning rate");
            }
        }
    }

    /** The state's metadata is the header a checkpoint of the same optimizer carries, its values the slots'. */
    @Test
    void theStateHoldsWhatACheckpointFileHolds() {
        Path file = dir.resolve("same.safetensors");
        try (ParameterStore s = Fixtures.store(BASE, dut); Optimizer o = BASE.factory().apply(s)) {
            Fixtures.run(BASE, s, o, 1, 3);
            o.setLrScale(0.5);
            OptimizerState state = o.state();
            o.saveState(file);
            Map<String, String> header = new LinkedHashMap<>();
            StFile.read(file).metadata().properties().forEach(e -> header.put(e.getKey(), e.getValue().asText()));
            assertEquals(header, state.metadata());
            assertEquals(3, state.stepCount());
            assertEquals(List.of("t0.exp_avg", "t0.exp_avg_sq", "t1.exp_avg", "t1.exp_avg_sq", "t2.exp_avg",
                    "t2.exp_avg_sq"), state.entryNames());
            for (Tensor t : s.tensors()) {
                for (String slot : o.slotNames()) {
                    assertArrayEquals(o.state(t.name(), slot), state.slot(t.name(), slot), t.name() + "." + slot);
                }
            }
        }
    }

    @Test
    void theStateIsACopyThatLaterStepsAndCallersCannotChange() {
        try (ParameterStore s = Fixtures.store(BASE, dut); Optimizer o = BASE.factory().apply(s)) {
            Fixtures.run(BASE, s, o, 1, 2);
            Snapshot atTwo = Snapshot.of(o);
            OptimizerState state = o.state();
            float[] m = state.slot("t0", "exp_avg");
            m[0] = 1234f;
            assertThrows(UnsupportedOperationException.class, () -> state.metadata().put("fusedopt.step", "9"));
            Fixtures.run(BASE, s, o, 3, 4);
            o.setLearningRate(0, 0.5);
            o.load(state);
            atTwo.assertSame(Snapshot.of(o));
            assertEquals(1e-2, o.baseLearningRate(0), "the state's learning-rate control comes back too");
            assertThrows(IllegalArgumentException.class, () -> state.slot("t0", "nope"));
            assertThrows(NullPointerException.class, () -> o.load(null));
        }
    }

    /** Each mismatch is refused with the problem a checkpoint file of the same state gets, and changes nothing. */
    @Test
    void aMismatchedOptimizerRefusesTheStateAsItRefusesTheFile() {
        Path file = dir.resolve("base.safetensors");
        OptimizerState state;
        try (ParameterStore s = Fixtures.store(BASE, cpu); Optimizer o = BASE.factory().apply(s)) {
            Fixtures.run(BASE, s, o, 1, 2);
            state = o.state();
            o.saveState(file);
        }
        List<Config> targets = List.of(
                Fixtures.withFactory(BASE, s -> Fixtures.adamBuilder().lr(2e-2)
                        .group("no_decay", g -> g.weightDecay(0), "t1").build(s)),
                Fixtures.withFactory(BASE, s -> Fixtures.adamBuilder().schedule(Schedules.stepLr(3, 0.5))
                        .group("no_decay", g -> g.weightDecay(0), "t1").build(s)),
                Fixtures.withFactory(BASE, s -> Fixtures.adamBuilder().build(s)),
                Fixtures.withFactory(BASE, s -> Optimizers.sgd().lr(1e-2).build(s)),
                new Config("shapes", List.of(new long[] {5}, new long[] {2, 3}), List.of(new float[5], new float[6]),
                        BASE.factory(), BASE.grads(), BASE.n()));
        for (Config target : targets) {
            try (ParameterStore s = Fixtures.store(target, dut); Optimizer o = target.factory().apply(s)) {
                Fixtures.run(target, s, o, 1, 1);
                Snapshot before = Snapshot.of(o);
                CheckpointException fromFile = assertThrows(CheckpointException.class, () -> o.loadState(file));
                CheckpointException fromState = assertThrows(CheckpointException.class, () -> o.load(state));
                assertEquals(fromFile.problem(), fromState.problem());
                assertEquals("(in-memory optimizer state)", fromState.file());
                assertEquals("(in-memory optimizer state): " + fromState.problem(), fromState.getMessage());
                before.assertSame(Snapshot.of(o));
            }
        }
    }

    @Test
    void aClosedOptimizerNeitherGivesNorTakesAState() {
        ParameterStore s = Fixtures.store(BASE, dut);
        Optimizer o = BASE.factory().apply(s);
        OptimizerState state = o.state();
        o.close();
        assertThrows(IllegalStateException.class, o::state);
        assertThrows(IllegalStateException.class, () -> o.load(state));
        s.close();
    }
}

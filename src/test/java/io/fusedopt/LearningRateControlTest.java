package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fusedopt.checkpoint.Fixtures;
import io.fusedopt.checkpoint.Fixtures.Snapshot;
import io.fusedopt.checkpoint.StFile;
import io.fusedopt.golden.GoldenRunner;
import io.fusedopt.schedule.Schedule;
import io.fusedopt.schedule.Schedules;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Optimizer#setLearningRate} replaces the base rate a group's schedule scales, {@link Optimizer#setLrScale}
 * multiplies every scheduled rate, both from the next step on, on the device under test as on the CPU; bad values
 * are refused by name and change nothing; both survive a checkpoint, and checkpoints without them load as before.
 */
@Tag("device")
class LearningRateControlTest {
    private static final int N = 37;
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

    private static ParameterStore store(Device d) {
        ParameterStore s = ParameterStore.builder().add("a", N).add("b", N + 3).build(d);
        Random r = new Random(3);
        s.setParameters("a", gaussian(r, N));
        s.setParameters("b", gaussian(r, N + 3));
        return s;
    }

    private static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** Step {@code k}'s gradients, the same for every optimizer of a test. */
    private static void grads(ParameterStore s, int k) {
        Random r = new Random(100 + k);
        s.setGradients("a", gaussian(r, N));
        s.setGradients("b", gaussian(r, N + 3));
    }

    private static void steps(Optimizer o, int from, int to) {
        for (int k = from; k <= to; k++) {
            grads(o.store(), k);
            o.step();
        }
    }

    private static Optimizer adam(ParameterStore s, double lr, double lrB, Schedule schedule) {
        return Optimizers.adam().lr(lr).schedule(schedule).group("b", g -> g.lr(lrB), "b").build(s);
    }

    private static void copyParameters(ParameterStore from, ParameterStore to) {
        for (var t : from.tensors()) {
            to.setParameters(t.name(), from.parameters(t.name()));
        }
    }

    /**
     * Adam's moments do not depend on the rate: an optimizer whose rate changes after step 3 continues exactly as
     * one configured with the new rate whose parameters are those after step 3.
     */
    @Test
    void theNewBaseRateActsAsIfConfigured() {
        try (ParameterStore sa = store(dut); ParameterStore sb = store(cpu);
                Optimizer a = adam(sa, 0.1, 0.05, Schedules.constant());
                Optimizer b = adam(sb, 0.02, 0.05, Schedules.constant())) {
            steps(a, 1, 3);
            steps(b, 1, 3);
            a.setLearningRate("default", 0.02);
            assertEquals(0.02, a.baseLearningRate(0));
            assertEquals(0.1, a.learningRate(), "the last step's rate until the next step");
            copyParameters(sa, sb);
            steps(a, 4, 6);
            steps(b, 4, 6);
            assertNull(GoldenRunner.firstDifference(a, b));
            assertEquals(0.02, a.learningRate());
            assertEquals(0.05, a.learningRate(1), "the other group is untouched");
        }
    }

    @Test
    void theScaleMultipliesEveryGroupsRate() {
        double scale = 0.25;
        try (ParameterStore sa = store(dut); ParameterStore sb = store(cpu);
                Optimizer a = adam(sa, 0.1, 0.05, Schedules.constant());
                Optimizer b = adam(sb, 0.1 * scale, 0.05 * scale, Schedules.constant())) {
            steps(a, 1, 2);
            steps(b, 1, 2);
            a.setLrScale(scale);
            copyParameters(sa, sb);
            steps(a, 3, 5);
            steps(b, 3, 5);
            assertNull(GoldenRunner.firstDifference(a, b));
            assertEquals(0.1 * scale, a.learningRate(0));
            assertEquals(0.05 * scale, a.learningRate(1));
            a.setLrScale(0.5);
            assertEquals(0.5, a.lrScale(), "a new scale replaces the old one");
        }
    }

    /** The rate of step t is schedule(t, base) × scale: the schedule keeps its position and shape. */
    @Test
    void theScheduleScalesTheNewBaseAndTheScaleMultipliesTheResult() {
        Schedule schedule = Schedules.stepLr(2, 0.5);
        try (ParameterStore s = store(dut); Optimizer o = adam(s, 0.1, 0.05, schedule)) {
            steps(o, 1, 3);
            assertEquals(schedule.lr(2, 0.1), o.learningRate());
            o.setLearningRate(0, 0.4);
            o.setLrScale(0.1);
            steps(o, 4, 5);
            assertEquals(schedule.lr(4, 0.4) * 0.1, o.learningRate(0));
            assertEquals(schedule.lr(4, 0.05) * 0.1, o.learningRate(1));
        }
    }

    @Test
    void beforeTheFirstStepTheRateShownIsTheFirstStepsRate() {
        try (ParameterStore s = store(dut); Optimizer o = adam(s, 0.1, 0.05, Schedules.constant())) {
            o.setLearningRate(1, 0.3);
            o.setLrScale(2);
            assertEquals(0.6, o.learningRate(1));
            assertEquals(0.2, o.learningRate(0));
        }
    }

    @Test
    void badValuesAreRefusedByNameAndChangeNothing() {
        try (ParameterStore s = store(dut); Optimizer o = adam(s, 0.1, 0.05, Schedules.stepLr(2, 0.5))) {
            steps(o, 1, 2);
            o.setLearningRate("b", 0.07);
            o.setLrScale(0.5);
            Snapshot before = Snapshot.of(o);
            refused(o, x -> x.setLearningRate(0, Double.NaN), "lr", "'default'", "NaN");
            refused(o, x -> x.setLearningRate("b", -0.1), "lr", "'b'", "-0.1");
            refused(o, x -> x.setLearningRate(1, Double.POSITIVE_INFINITY), "lr", "'b'", "Infinity");
            refused(o, x -> x.setLearningRate(2, 0.1), "group", "2");
            refused(o, x -> x.setLearningRate(-1, 0.1), "group", "-1");
            refused(o, x -> x.setLearningRate("c", 0.1), "unknown group 'c'", "[default, b]");
            refused(o, x -> x.setLrScale(0), "lrScale", "0.0");
            refused(o, x -> x.setLrScale(-2), "lrScale", "-2.0");
            refused(o, x -> x.setLrScale(Double.NaN), "lrScale", "NaN");
            refused(o, x -> x.setLrScale(Double.POSITIVE_INFINITY), "lrScale", "Infinity");
            refused(o, x -> x.setLrScale(1e300), "lrScale 1.0E300", "group 'default'", "overflows a float32");
            refused(o, x -> x.setLearningRate("b", 1e300), "lr 1.0E300", "group 'b'", "overflows a float32");
            before.assertSame(Snapshot.of(o));
            assertEquals(0.07, o.baseLearningRate(1));
            assertEquals(0.1, o.baseLearningRate(0));
            assertEquals(0.5, o.lrScale());
            steps(o, 3, 3);
            assertEquals(Schedules.stepLr(2, 0.5).lr(2, 0.07) * 0.5, o.learningRate(1));
        }
    }

    private static void refused(Optimizer o, Consumer<Optimizer> call, String... needles) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> call.accept(o));
        for (String needle : needles) {
            assertTrue(e.getMessage().contains(needle), "message must mention '" + needle + "': " + e.getMessage());
        }
    }

    @Test
    void theControlIsSavedAndRestoredAcrossBackends() {
        Path file = dir.resolve("lr.safetensors");
        Schedule schedule = Schedules.stepLr(2, 0.5);
        try (ParameterStore sa = store(dut); Optimizer a = adam(sa, 0.1, 0.05, schedule)) {
            steps(a, 1, 2);
            a.setLearningRate(1, 0.02);
            a.setLrScale(0.3);
            steps(a, 3, 4);
            a.saveState(file);
            try (ParameterStore sb = store(cpu); Optimizer b = adam(sb, 0.1, 0.05, schedule)) {
                copyParameters(sa, sb);
                b.loadState(file);
                assertEquals(0.02, b.baseLearningRate(1));
                assertEquals(0.1, b.baseLearningRate(0));
                assertEquals(0.3, b.lrScale());
                assertEquals(a.learningRate(1), b.learningRate(1));
                steps(a, 5, 7);
                steps(b, 5, 7);
                assertNull(GoldenRunner.firstDifference(a, b));
            }
        }
    }

    /** Checkpoints of an optimizer whose rates were never changed carry no control, and loading one clears it. */
    @Test
    void withoutAControlTheCheckpointIsAsBeforeAndLoadingOneResetsIt() throws IOException {
        Path plain = dir.resolve("plain.safetensors");
        try (ParameterStore sa = store(dut); Optimizer a = adam(sa, 0.1, 0.05, Schedules.constant())) {
            steps(a, 1, 2);
            a.saveState(plain);
            assertFalse(header(plain).contains(Checkpoint.KEY_LR_CONTROL));
            a.setLrScale(0.5);
            a.setLearningRate(0, 0.3);
            Path controlled = dir.resolve("controlled.safetensors");
            a.saveState(controlled);
            assertTrue(header(controlled).contains(Checkpoint.KEY_LR_CONTROL));
            a.loadState(plain);
            assertEquals(1.0, a.lrScale());
            assertEquals(0.1, a.baseLearningRate(0));
            assertEquals(0.1, a.learningRate(0));
        }
    }

    @Test
    void aCorruptControlIsRefusedAndChangesNothing() {
        Path good = dir.resolve("good.safetensors");
        try (ParameterStore s = store(dut); Optimizer o = adam(s, 0.1, 0.05, Schedules.constant())) {
            steps(o, 1, 2);
            o.setLrScale(0.5);
            o.saveState(good);
            StFile parts = StFile.read(good);
            String[][] cases = {
                {"{\"base_lr\":[0.1,-1.0],\"lr_scale\":0.5}", "base_lr[1] (group 'b') must be a finite rate >= 0"},
                {"{\"base_lr\":[0.1],\"lr_scale\":0.5}", "base_lr must be an array of 2 rates"},
                {"{\"base_lr\":[0.1,0.05],\"lr_scale\":0}", "lr_scale must be a finite number > 0"},
                {"[1]", "base_lr must be an array of 2 rates"},
            };
            o.setLrScale(0.25);
            Snapshot before = Snapshot.of(o);
            for (String[] c : cases) {
                ObjectNode header = parts.header().deepCopy();
                ((ObjectNode) header.get(Checkpoint.METADATA)).put(Checkpoint.KEY_LR_CONTROL, c[0]);
                Path bad = dir.resolve("bad.safetensors");
                StFile.write(bad, StFile.resealed(header), parts.data());
                CheckpointException e = assertThrows(CheckpointException.class, () -> o.loadState(bad));
                assertTrue(e.problem().contains(c[1]), e.getMessage());
                before.assertSame(Snapshot.of(o));
                assertEquals(0.25, o.lrScale());
            }
        }
    }

    private static String header(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = java.nio.ByteBuffer.wrap(all, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        return new String(all, 8, (int) n, StandardCharsets.UTF_8);
    }

    /** A group's rate of 0 is allowed, as configuring lr 0 is: the group's parameters stop moving. */
    @Test
    void aZeroRateFreezesAGroup() {
        try (ParameterStore s = store(dut); Optimizer o = adam(s, 0.1, 0.05, Schedules.constant())) {
            steps(o, 1, 1);
            o.setLearningRate("b", 0);
            float[] b = s.parameters("b");
            steps(o, 2, 3);
            org.junit.jupiter.api.Assertions.assertArrayEquals(b, s.parameters("b"));
            assertEquals(0.0, o.learningRate(1));
        }
    }
}

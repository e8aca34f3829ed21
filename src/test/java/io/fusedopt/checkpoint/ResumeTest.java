package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.TestDevices;
import io.fusedopt.core.Tensor;
import io.fusedopt.checkpoint.Fixtures.Config;
import io.fusedopt.golden.GoldenRunner;
import io.fusedopt.rule.Swats;
import java.nio.file.Path;
import java.util.ArrayList;
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
 * Stop and resume is invisible: for every rule, n steps, save, close everything, rebuild, restore the parameters,
 * load, n more steps, gives the same bits as 2n steps without stopping — on the device under test, and across
 * devices (saved on the device under test and loaded on the CPU, and the reverse).
 */
@Tag("device")
class ResumeTest {
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
    Stream<DynamicTest> sameDevice() {
        return Fixtures.everyRule().stream().map(c -> DynamicTest.dynamicTest(c.name(),
                () -> assertResumes(c, dut, dut)));
    }

    @TestFactory
    Stream<DynamicTest> savedOnDeviceUnderTestLoadedOnCpu() {
        return Fixtures.everyRule().stream().map(c -> DynamicTest.dynamicTest(c.name(),
                () -> assertResumes(c, dut, cpu)));
    }

    @TestFactory
    Stream<DynamicTest> savedOnCpuLoadedOnDeviceUnderTest() {
        return Fixtures.everyRule().stream().map(c -> DynamicTest.dynamicTest(c.name(),
                () -> assertResumes(c, cpu, dut)));
    }

    private void assertResumes(Config c, Device saveOn, Device loadOn) {
        Path file = dir.resolve(c.name() + "-" + saveOn.name() + "-" + loadOn.name() + ".safetensors");
        try (ParameterStore sa = Fixtures.store(c, saveOn); Optimizer a = c.factory().apply(sa)) {
            Fixtures.run(c, sa, a, 1, 2 * c.n());

            Map<String, float[]> params = new LinkedHashMap<>();
            try (ParameterStore sb = Fixtures.store(c, saveOn); Optimizer b = c.factory().apply(sb)) {
                Fixtures.run(c, sb, b, 1, c.n());
                b.saveState(file);
                for (Tensor t : sb.tensors()) {
                    params.put(t.name(), sb.parameters(t.name()));
                }
            }
            try (ParameterStore sc = Fixtures.store(c, loadOn); Optimizer resumed = c.factory().apply(sc)) {
                params.forEach(sc::setParameters);
                resumed.loadState(file);
                Fixtures.run(c, sc, resumed, c.n() + 1, 2 * c.n());
                assertNull(GoldenRunner.firstDifference(a, resumed), () -> c.name() + " saved on " + saveOn.name()
                        + ", loaded on " + loadOn.name() + ": " + GoldenRunner.firstDifference(a, resumed));
                assertEquals(a.stepCount(), resumed.stepCount(), "step count");
                assertEquals(a.skippedSteps(), resumed.skippedSteps(), "skipped steps");
                assertEquals(a.learningRate(), resumed.learningRate(), "learning rate");
            }
        }
    }

    /** Guards the SWATS configurations: a tensor switches before the save and another one after it. */
    @Test
    void swatsSwitchesOnBothSidesOfTheSave() {
        for (Config c : Fixtures.everyRule()) {
            if (!c.name().startsWith("swats")) {
                continue;
            }
            try (ParameterStore s = Fixtures.store(c, dut); Optimizer o = c.factory().apply(s)) {
                Fixtures.run(c, s, o, 1, c.n());
                List<Double> atSave = phases(o);
                Fixtures.run(c, s, o, c.n() + 1, 2 * c.n());
                List<Double> atEnd = phases(o);
                boolean before = false, after = false;
                for (int i = 0; i < atSave.size(); i++) {
                    before |= atSave.get(i) != 0;
                    after |= atSave.get(i) == 0 && atEnd.get(i) != 0;
                }
                assertTrue(before, c.name() + ": no tensor in the SGD phase at the save, phases " + atSave);
                assertTrue(after, c.name() + ": no tensor switches after the save, phases " + atSave + " -> " + atEnd);
            }
        }
    }

    /** Guards the skip configuration: the checkpoint carries a skipped step. */
    @Test
    void skippedStepHappensBeforeTheSave() {
        Config c = Fixtures.everyRule().stream().filter(x -> x.name().equals("adam_skip_nonfinite")).findFirst()
                .orElseThrow();
        try (ParameterStore s = Fixtures.store(c, dut); Optimizer o = c.factory().apply(s)) {
            Fixtures.run(c, s, o, 1, c.n());
            assertEquals(1, o.skippedSteps());
            assertEquals(c.n() - 1, o.stepCount());
        }
    }

    /** Before step 1 Lookahead's slow weights are undefined on the device; the file holds zeros, not stale memory. */
    @Test
    void slowWeightsOfAStepZeroCheckpointAreZero() {
        Config c = Fixtures.everyRule().stream().filter(x -> x.name().equals("lookahead_adam_k3")).findFirst()
                .orElseThrow();
        Path file = dir.resolve("zero.safetensors");
        try (ParameterStore s = Fixtures.store(c, dut); Optimizer o = c.factory().apply(s)) {
            o.saveState(file);
        }
        StFile parts = StFile.read(file);
        for (int i = 0; i < c.shapes().size(); i++) {
            var offsets = parts.header().get("t" + i + ".slow").get("data_offsets");
            for (int b = offsets.get(0).asInt(); b < offsets.get(1).asInt(); b++) {
                assertEquals(0, parts.data()[b], "t" + i + ".slow byte " + b);
            }
        }
        try (ParameterStore s = Fixtures.store(c, cpu); Optimizer o = c.factory().apply(s)) {
            o.loadState(file);
            Fixtures.run(c, s, o, 1, 4);
            try (ParameterStore sa = Fixtures.store(c, cpu); Optimizer a = c.factory().apply(sa)) {
                Fixtures.run(c, sa, a, 1, 4);
                assertNull(GoldenRunner.firstDifference(a, o));
            }
        }
    }

    /** A store that lists the same tensors in another order loads by name, per-tensor state included. */
    @Test
    void tensorsMayBeDeclaredInAnotherOrder() {
        Config c = Fixtures.everyRule().stream().filter(x -> x.name().equals("swats_l2.json")).findFirst()
                .orElseThrow();
        Path file = dir.resolve("reordered.safetensors");
        try (ParameterStore sa = Fixtures.store(c, dut); Optimizer a = c.factory().apply(sa)) {
            Fixtures.run(c, sa, a, 1, 2 * c.n());
            Map<String, float[]> params = new LinkedHashMap<>();
            try (ParameterStore sb = Fixtures.store(c, dut); Optimizer b = c.factory().apply(sb)) {
                Fixtures.run(c, sb, b, 1, c.n());
                b.saveState(file);
                for (Tensor t : sb.tensors()) {
                    params.put(t.name(), sb.parameters(t.name()));
                }
            }
            List<String> reversed = new ArrayList<>(params.keySet());
            java.util.Collections.reverse(reversed);
            ParameterStore.Builder builder = ParameterStore.builder();
            for (String name : reversed) {
                builder.add(name, sa.tensor(name).shape());
            }
            try (ParameterStore sc = builder.build(cpu); Optimizer resumed = c.factory().apply(sc)) {
                params.forEach(sc::setParameters);
                resumed.loadState(file);
                for (int step = c.n() + 1; step <= 2 * c.n(); step++) {
                    for (int i = 0; i < c.shapes().size(); i++) {
                        Tensor t = sc.tensor("t" + i);
                        sc.setGradients(t.name(), c.grads().at(step, i, (int) t.length()));
                    }
                    resumed.step();
                }
                for (String name : params.keySet()) {
                    assertEquals(bits(sa.parameters(name)), bits(sc.parameters(name)), name + " parameters");
                    for (String slot : a.slotNames()) {
                        assertEquals(bits(a.state(name, slot)), bits(resumed.state(name, slot)), name + "." + slot);
                    }
                    assertEquals(List.of(box(a.tensorState(name))), List.of(box(resumed.tensorState(name))),
                            name + " tensor state");
                }
            }
        }
    }

    private static List<Double> phases(Optimizer o) {
        double[] ts = o.tensorState();
        List<Double> out = new ArrayList<>();
        for (int i = 0; i < ts.length / Swats.WIDTH; i++) {
            out.add(ts[i * Swats.WIDTH + Swats.PHASE]);
        }
        return out;
    }

    private static List<Integer> bits(float[] v) {
        List<Integer> out = new ArrayList<>();
        for (float f : v) {
            out.add(Float.floatToRawIntBits(f));
        }
        return out;
    }

    private static Long[] box(double[] v) {
        Long[] out = new Long[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = Double.doubleToRawLongBits(v[i]);
        }
        return out;
    }
}

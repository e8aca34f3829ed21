package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.golden.GoldenCase;
import io.fusedopt.golden.GoldenRunner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tensors registered from the caller's memory (Java arrays on the CPU, device allocations made with plain JCuda on
 * CUDA) step exactly as tensors in the store's own buffers: every golden case and random arenas of every rule,
 * with and without Lookahead, agree bit for bit with the CPU backend on an all-arena store, after every step, in
 * the parameters (read from the caller's memory itself), every state slot and the per-tensor state. External
 * tensors are mixed with store-owned ones in each store, with and without caller gradients, at sizes that hit the
 * vector path and the tail, and on CUDA at addresses 0, 4, 8 and 12 bytes past a 256-byte allocation start, so
 * both the 128-bit path and the scalar path run. The golden cases of 16-bit storage check that a 16-bit store
 * refuses external tensors (they are float32).
 */
@Tag("device")
class ExternalTensorTest {
    private static Device device;
    private static Device cpu;
    /** Byte offsets of the caller's ranges from their allocations' starts (CUDA). */
    private static final int[] OFFSETS = {4, 8, 12, 0};

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

    /** How tensor {@code i} of a mixed store lives: external with caller gradients, store-owned, external alone. */
    private enum Kind { EXTERNAL_BOTH, ARENA, EXTERNAL_PARAMS }

    private static Kind kind(int i) {
        return Kind.values()[i % 3];
    }

    /** A store on the device under test: tensor i of {@code shapes} is of {@link #kind}, then one arena tensor. */
    private static ParameterStore mixed(List<long[]> shapes, CallerTensors caller, int salt) {
        ParameterStore.Builder b = ParameterStore.builder();
        for (int i = 0; i < shapes.size(); i++) {
            String name = GoldenRunner.tensorName(i);
            switch (kind(i)) {
                case EXTERNAL_BOTH -> caller.register(b, name, shapes.get(i), true, OFFSETS[(i + salt) % 4]);
                case ARENA -> b.add(name, shapes.get(i));
                case EXTERNAL_PARAMS -> caller.register(b, name, shapes.get(i), false, OFFSETS[(i + salt + 1) % 4]);
            }
        }
        // A store-owned tensor after the external ones, so every store mixes both kinds.
        b.add("extra", 70);
        return b.build(device);
    }

    private static void setParameters(ParameterStore s, CallerTensors caller, String name, float[] v) {
        if (caller.has(name)) {
            caller.writeParameters(name, v);
        } else {
            s.setParameters(name, v);
        }
    }

    private static void setGradients(ParameterStore s, CallerTensors caller, String name, float[] v) {
        if (caller.hasGradients(name)) {
            caller.writeGradients(name, v);
        } else {
            s.setGradients(name, v);
        }
    }

    /** The parameters as the caller sees them: its own memory for an external tensor. */
    private static float[] parameters(ParameterStore s, CallerTensors caller, String name) {
        return caller.has(name) ? caller.parameters(name) : s.parameters(name);
    }

    /** The first difference in bits between the mixed store's tensors and the reference's; null if none. */
    private static String difference(ParameterStore sa, CallerTensors caller, Optimizer oa, Optimizer ob, int n) {
        for (int i = 0; i < n; i++) {
            String t = GoldenRunner.tensorName(i);
            String d = differ(parameters(sa, caller, t), ob.store().parameters(t), t + " parameters");
            if (d == null && caller.has(t)) {
                // The store's view of an external tensor is the caller's memory.
                d = differ(sa.parameters(t), ob.store().parameters(t), t + " parameters read by the store");
            }
            for (String slot : oa.slotNames()) {
                d = d != null ? d : differ(oa.state(t, slot), ob.state(t, slot), t + "." + slot);
            }
            if (d != null) {
                return d;
            }
        }
        double[] ta = oa.tensorState(), tb = ob.tensorState();
        int width = tb.length / n;
        for (int i = 0; i < tb.length; i++) {
            if (Double.doubleToLongBits(ta[i]) != Double.doubleToLongBits(tb[i])) {
                return "tensor state [" + i + "] (width " + width + "): " + ta[i] + " vs " + tb[i];
            }
        }
        return null;
    }

    private static String differ(float[] x, float[] y, String what) {
        for (int k = 0; k < x.length; k++) {
            if (Float.floatToIntBits(x[k]) != Float.floatToIntBits(y[k])) {
                return what + " differ at [" + k + "]: " + x[k] + " vs " + y[k];
            }
        }
        return x.length == y.length ? null : what + ": " + x.length + " vs " + y.length + " elements";
    }

    /** Step {@code s}'s gradients of tensor {@code i}, with the NaNs and infinities a loss-scaling case plants. */
    private static float[] plantedGradients(GoldenCase c, int s, int i) {
        float[] g = c.steps().get(s).grads().get(i).clone();
        if (c.loop() != null && !c.loop().nonFinite().isEmpty()) {
            for (io.fusedopt.golden.LoopFields.Plant p : c.loop().nonFinite().get(s)) {
                if (p.tensor() == i) {
                    g[p.index()] = p.value();
                }
            }
        }
        return g;
    }

    @TestFactory
    Stream<DynamicTest> everyGoldenCase() throws Exception {
        List<Path> files = TestDevices.goldenFiles();
        return files.stream().map(p -> DynamicTest.dynamicTest(p.getFileName().toString(), () -> {
            GoldenCase c = GoldenCase.read(p);
            if (c.scheduleOnly() || !c.runnable()) {
                return;
            }
            if (c.storage().param() != io.fusedopt.core.Dtype.FLOAT32) {
                // External tensors are float32: a 16-bit store refuses them, naming the tensor and the dtype.
                String m = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                        () -> ParameterStore.builder().dtype(c.storage().param())
                                .addExternal("t0", new float[length(c.shapes().get(0))], c.shapes().get(0))
                                .build(cpu)).getMessage();
                assertTrue(m.contains("'t0'") && m.contains(c.storage().param().label()), m);
                return;
            }
            if (refusesExternal(c.optimizer())) {
                assertRefused(c.optimizer(), c.hyperparams(), c.shapes());
                return;
            }
            int salt = files.indexOf(p);
            int n = c.shapes().size();
            try (CallerTensors caller = new CallerTensors(device)) {
                try (ParameterStore sa = mixed(c.shapes(), caller, salt);
                        Optimizer oa = GoldenRunner.optimizer(c, sa);
                        ParameterStore sb = GoldenRunner.store(c, cpu);
                        Optimizer ob = GoldenRunner.optimizer(c, sb)) {
                    for (int i = 0; i < n; i++) {
                        setParameters(sa, caller, GoldenRunner.tensorName(i), c.initial().get(i));
                    }
                    for (int s = 0; s < c.steps().size(); s++) {
                        GoldenCase.Step step = c.steps().get(s);
                        for (int i = 0; i < n; i++) {
                            float[] g = plantedGradients(c, s, i);
                            setGradients(sa, caller, GoldenRunner.tensorName(i), g);
                            sb.setGradients(GoldenRunner.tensorName(i), g);
                        }
                        oa.step();
                        ob.step();
                        assertNull(difference(sa, caller, oa, ob, n), "step " + (s + 1));
                        for (int i = 0; i < n; i++) {
                            float[] actual = parameters(sa, caller, GoldenRunner.tensorName(i));
                            float[] expected = step.expected().get(i);
                            for (int k = 0; k < actual.length; k++) {
                                double tol = c.abs() + c.rel() * Math.abs(expected[k]);
                                boolean ok = Float.isNaN(expected[k]) ? Float.isNaN(actual[k])
                                        : Math.abs(actual[k] - expected[k]) <= tol;
                                assertTrue(ok, "step " + (s + 1) + " tensor " + i + " [" + k + "]: " + actual[k]
                                        + ", expected " + expected[k]);
                            }
                        }
                    }
                }
            }
        }));
    }

    /** Sizes that hit one element, a short tail, a float4 body with a tail, and two chunks (32,768 + 7,232). */
    private static final List<long[]> SHAPES = List.of(new long[] {1}, new long[] {3}, new long[] {4097},
            new long[] {5, 7}, new long[] {40_000}, new long[] {129}, new long[] {2, 3});

    @TestFactory
    Stream<DynamicTest> randomArenasOfEveryRule() {
        return BitParityTest.RULES.stream().flatMap(r -> Stream.of(false, true).map(la -> DynamicTest.dynamicTest(
                r[0] + " " + r[1] + (la ? " + lookahead" : ""), () -> {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> hyper = (Map<String, Object>) r[1];
                    compareRandom((String) r[0], hyper, la);
                })));
    }

    /**
     * Rules with per-tensor passes (Adafactor, Muon) address gradients by arena position there: they refuse external
     * tensors. A name the registry does not hold ({@code lookahead}) wraps a chunk rule.
     */
    private static boolean refusesExternal(String name) {
        return io.fusedopt.rule.Algorithms.names().contains(name)
                && io.fusedopt.rule.Algorithms.named(name).create(Map.of()).perTensorPasses();
    }

    /** Building {@code name} over a store with external tensors fails naming the rule and a tensor. */
    private static void assertRefused(String name, Map<String, Object> hyper, List<long[]> shapes) {
        try (CallerTensors caller = new CallerTensors(device); ParameterStore sa = mixed(shapes, caller, 1)) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(
                    IllegalArgumentException.class, () -> build(name, hyper, false, sa).close());
            assertTrue(e.getMessage().startsWith(name + " does not take external tensors: tensor '"),
                    e.getMessage());
        }
    }

    private static void compareRandom(String name, Map<String, Object> hyper, boolean lookahead) {
        if (refusesExternal(name)) {
            assertRefused(name, hyper, SHAPES);
            return;
        }
        Random r = new Random(name.hashCode() * 31L + hyper.hashCode() + (lookahead ? 1 : 0));
        int n = SHAPES.size();
        try (CallerTensors caller = new CallerTensors(device)) {
            ParameterStore.Builder ref = ParameterStore.builder();
            for (int i = 0; i < n; i++) {
                ref.add(GoldenRunner.tensorName(i), SHAPES.get(i));
            }
            ref.add("extra", 70);
            try (ParameterStore sa = mixed(SHAPES, caller, name.length()); ParameterStore sb = ref.build(cpu);
                    Optimizer oa = build(name, hyper, lookahead, sa); Optimizer ob = build(name, hyper, lookahead, sb)) {
                for (int i = 0; i < n; i++) {
                    float[] w = gaussian(r, length(SHAPES.get(i)), 1f);
                    setParameters(sa, caller, GoldenRunner.tensorName(i), w);
                    sb.setParameters(GoldenRunner.tensorName(i), w);
                }
                for (int step = 1; step <= 3; step++) {
                    for (int i = 0; i < n; i++) {
                        float[] g = gaussian(r, length(SHAPES.get(i)), step == 2 ? 1e-4f : 0.1f);
                        setGradients(sa, caller, GoldenRunner.tensorName(i), g);
                        sb.setGradients(GoldenRunner.tensorName(i), g);
                    }
                    oa.step();
                    ob.step();
                    String diff = difference(sa, caller, oa, ob, n);
                    assertNull(diff, "step " + step);
                }
            }
        }
    }

    private static Optimizer build(String name, Map<String, Object> hyper, boolean lookahead, ParameterStore s) {
        OptimizerBuilder<?> b = OptimizerSpec.builder(name, hyper, null, null);
        // A second group over an external tensor and a store-owned one.
        b.group("second", g -> g.lr(0.003), "t1", "t3");
        if (lookahead) {
            b.lookahead(2, 0.6);
        }
        return b.build(s);
    }

    private static int length(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return (int) n;
    }

    private static float[] gaussian(Random r, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * scale;
        }
        return v;
    }

    /** A non-finite gradient in caller memory is found by the finite check: SKIP leaves everything as it was. */
    @Test
    void nonFiniteCallerGradientSkipsTheStep() {
        try (CallerTensors caller = new CallerTensors(device)) {
            List<long[]> shapes = List.of(new long[] {4097}, new long[] {10});
            try (ParameterStore s = mixed(shapes, caller, 1);
                    Optimizer o = Optimizers.adamW().nonFinite(NonFinitePolicy.SKIP).build(s)) {
                float[] w = gaussian(new Random(3), 4097, 1f);
                setParameters(s, caller, "t0", w);
                float[] g = gaussian(new Random(4), 4097, 0.1f);
                g[4095] = Float.NaN;
                setGradients(s, caller, "t0", g);
                o.step();
                assertEquals(0, o.stepCount());
                assertArrayEquals(w, caller.parameters("t0"));
                g[4095] = 0.5f;
                setGradients(s, caller, "t0", g);
                o.step();
                assertEquals(1, o.stepCount());
                assertTrue(caller.parameters("t0")[0] != w[0], "the finite step moved the caller's parameters");
            }
        }
    }

    /**
     * A checkpoint of an optimizer over external tensors holds their state like any other tensor's: it resumes on
     * a fresh store whose external tensors live in other memory, bit for bit with an uninterrupted run, and loads
     * into a store whose tensors are all store-owned.
     */
    @Test
    void checkpointsSaveAndLoadExternalTensors(@TempDir Path dir) {
        List<long[]> shapes = List.of(new long[] {300}, new long[] {40}, new long[] {4097});
        Random r = new Random(11);
        List<float[]> init = new ArrayList<>();
        List<List<float[]>> grads = new ArrayList<>();
        for (long[] shape : shapes) {
            init.add(gaussian(r, length(shape), 1f));
        }
        for (int s = 0; s < 6; s++) {
            List<float[]> step = new ArrayList<>();
            for (long[] shape : shapes) {
                step.add(gaussian(r, length(shape), 0.1f));
            }
            grads.add(step);
        }
        Path file = dir.resolve("external.safetensors");
        List<float[]> saved = new ArrayList<>();
        try (CallerTensors caller = new CallerTensors(device); CallerTensors other = new CallerTensors(device)) {
            ParameterStore.Builder plain = ParameterStore.builder();
            for (int i = 0; i < shapes.size(); i++) {
                plain.add(GoldenRunner.tensorName(i), shapes.get(i));
            }
            plain.add("extra", 70);
            try (ParameterStore sa = mixed(shapes, caller, 2); Optimizer oa = Optimizers.lamb().build(sa);
                    ParameterStore sb = plain.build(cpu); Optimizer ob = Optimizers.lamb().build(sb)) {
                for (int i = 0; i < shapes.size(); i++) {
                    setParameters(sa, caller, GoldenRunner.tensorName(i), init.get(i));
                    sb.setParameters(GoldenRunner.tensorName(i), init.get(i));
                }
                for (int s = 0; s < 6; s++) {
                    for (int i = 0; i < shapes.size(); i++) {
                        setGradients(sa, caller, GoldenRunner.tensorName(i), grads.get(s).get(i));
                        sb.setGradients(GoldenRunner.tensorName(i), grads.get(s).get(i));
                    }
                    oa.step();
                    ob.step();
                    if (s == 2) {
                        oa.saveState(file);
                        // Parameters are not in a checkpoint: the caller saves them with its model.
                        for (int i = 0; i < shapes.size(); i++) {
                            saved.add(parameters(sa, caller, GoldenRunner.tensorName(i)));
                        }
                    }
                }
                // Resume from step 3 on a fresh mixed store, with the external tensors in other memory.
                try (ParameterStore sc = mixed(shapes, other, 3); Optimizer oc = Optimizers.lamb().build(sc)) {
                    oc.loadState(file);
                    assertEquals(3, oc.stepCount());
                    for (int i = 0; i < shapes.size(); i++) {
                        setParameters(sc, other, GoldenRunner.tensorName(i), saved.get(i));
                    }
                    for (int s = 3; s < 6; s++) {
                        for (int i = 0; i < shapes.size(); i++) {
                            setGradients(sc, other, GoldenRunner.tensorName(i), grads.get(s).get(i));
                        }
                        oc.step();
                    }
                    assertNull(difference(sc, other, oc, ob, shapes.size()));
                }
            }
            // The mixed store's checkpoint also loads into a store of its own buffers only.
            try (ParameterStore sd = plain.build(device); Optimizer od = Optimizers.lamb().build(sd)) {
                od.loadState(file);
                assertEquals(3, od.stepCount());
            }
        }
        assertTrue(Files.exists(file));
    }

    /** The CPU store works on the caller's arrays themselves: no copy in, no copy out. */
    @Test
    void cpuStoreUpdatesTheCallersArraysInPlace() {
        float[] w = {1f, 2f, 3f};
        float[] g = {0.5f, -0.5f, 0.25f};
        try (Device d = Device.cpu();
                ParameterStore s = ParameterStore.builder().addExternal("w", w, g, 3).add("b", 2).build(d);
                Optimizer o = Optimizers.sgd().lr(0.1).build(s);
                ParameterStore ref = ParameterStore.builder().add("w", 3).add("b", 2).build(d);
                Optimizer oref = Optimizers.sgd().lr(0.1).build(ref)) {
            assertTrue(s.tensor("w").external());
            assertTrue(!s.tensor("b").external());
            assertArrayEquals(new float[] {1f, 2f, 3f}, s.parameters("w"), "the store reads the caller's values");
            ref.setParameters("w", new float[] {1f, 2f, 3f});
            ref.setGradients("w", g.clone());
            o.step();
            oref.step();
            assertArrayEquals(ref.parameters("w"), w, "the step wrote the caller's array");
            g[0] = 1f;
            ref.setGradients("w", g.clone());
            o.step();
            oref.step();
            assertArrayEquals(ref.parameters("w"), w, "the step read the gradient the caller wrote in place");
            s.zeroGradients();
            assertArrayEquals(new float[3], g, "zeroGradients clears the caller's gradient array");
            s.setParameters("w", new float[] {7f, 8f, 9f});
            assertArrayEquals(new float[] {7f, 8f, 9f}, w, "setParameters writes the caller's array");
        }
    }
}

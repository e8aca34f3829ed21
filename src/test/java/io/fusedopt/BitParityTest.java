package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertNull;

import io.fusedopt.golden.GoldenCase;
import io.fusedopt.golden.GoldenRunner;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/**
 * The device under test agrees with the CPU backend bit for bit: parameters, every state slot and the per-tensor
 * state, after every step, for every golden case and for random arenas of 1, 3, 4097 and 1,000,003 elements in
 * several tensors and groups, for every rule and with Lookahead. Under the default run the device is the CPU
 * itself, which still checks that two runs agree; under the CUDA stand-in run it checks the kernels.
 */
@Tag("device")
class BitParityTest {
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

    @TestFactory
    Stream<DynamicTest> everyGoldenCase() throws Exception {
        return TestDevices.goldenFiles().stream().map(p -> DynamicTest.dynamicTest(p.getFileName().toString(), () -> {
            GoldenCase c = GoldenCase.read(p);
            assertNull(GoldenRunner.compareBits(c, device, cpu));
        }));
    }

    /** Every rule with settings that reach its branches (weight decay, amsgrad, rectification, switches). */
    static final List<Object[]> BRANCHES = List.of(
            new Object[] {"sgd", Map.of("lr", 0.05, "momentum", 0.9, "weight_decay", 0.01, "nesterov", true)},
            new Object[] {"sgd", Map.of("lr", 0.05, "weight_decay", 0.01)},
            new Object[] {"sgdw", Map.of("lr", 0.05, "momentum", 0.8, "dampening", 0.1, "weight_decay", 0.05)},
            new Object[] {"adam", Map.of("lr", 0.01, "weight_decay", 0.01, "amsgrad", true)},
            new Object[] {"adamw", Map.of("lr", 0.01, "weight_decay", 0.1)},
            new Object[] {"adagrad", Map.of("lr", 0.1, "lr_decay", 0.01, "weight_decay", 0.01, "initial_accumulator_value", 0.1)},
            new Object[] {"radam", Map.of("lr", 0.01, "betas", List.of(0.9, 0.99), "weight_decay", 0.01)},
            new Object[] {"nadam", Map.of("lr", 0.01, "weight_decay", 0.01)},
            new Object[] {"adabelief", Map.of("lr", 0.01, "betas", List.of(0.9, 0.9), "amsgrad", true, "eps", 1e-12)},
            new Object[] {"adabelief", Map.of("lr", 0.01, "rectify", false, "weight_decouple", false, "weight_decay", 0.01)},
            new Object[] {"adabound", Map.of("lr", 0.01, "final_lr", 0.05, "gamma", 0.1, "amsbound", true)},
            new Object[] {"yogi", Map.of("lr", 0.02, "weight_decay", 0.01, "initial_accumulator", 0.1)},
            new Object[] {"lamb", Map.of("lr", 0.02, "weight_decay", 0.01)},
            new Object[] {"swats", Map.of("lr", 0.01, "eps", 1e-3, "weight_decay", 0.01)},
            new Object[] {"lion", Map.of("lr", 0.01, "weight_decay", 0.1)},
            new Object[] {"adan", Map.of("lr", 0.01, "weight_decay", 0.02, "eps_root", 1e-6)},
            new Object[] {"lars", Map.of("lr", 0.5, "weight_decay", 0.01, "nesterov", true, "eps", 1e-9)},
            new Object[] {"lars", Map.of("lr", 0.5, "momentum", 0.0, "trust_ratio", false)},
            new Object[] {"schedule_free_adamw", Map.of("lr", 0.01, "warmup_steps", 3.0, "weight_decay", 0.05)},
            new Object[] {"schedule_free_adamw", Map.of("lr", 0.01, "weight_lr_power", 0.0)});

    /**
     * {@link #BRANCHES}, then every named configuration of every registered algorithm that list does not name, with
     * weight decay where the algorithm has it: a new algorithm is compared without being added here.
     */
    static final List<Object[]> RULES = withRegistry();

    private static List<Object[]> withRegistry() {
        List<Object[]> out = new java.util.ArrayList<>(BRANCHES);
        java.util.Set<String> named = new java.util.HashSet<>();
        BRANCHES.forEach(b -> named.add((String) b[0]));
        for (io.fusedopt.rule.Algorithm a : io.fusedopt.rule.Algorithms.all()) {
            if (named.contains(a.id())) {
                continue;
            }
            for (io.fusedopt.rule.Algorithm.Variant v : a.variants()) {
                Map<String, Object> h = new java.util.LinkedHashMap<>(v.settings());
                h.put("lr", 0.01);
                if (a.param("weight_decay") != null) {
                    h.put("weight_decay", 0.05);
                }
                out.add(new Object[] {a.id(), h});
            }
        }
        return List.copyOf(out);
    }

    /**
     * {@link #RULES} without the float32-only rules (Adafactor, Muon), which refuse the 16-bit regimes: the rules the
     * mixed-precision tests run in every regime.
     */
    static final List<Object[]> LOW_PRECISION_RULES = RULES.stream()
            .filter(r -> !io.fusedopt.rule.Algorithms.named((String) r[0]).create(Map.of()).float32Only()).toList();

    static final long[] SIZES = {1, 3, 4097, 1_000_003};

    @TestFactory
    Stream<DynamicTest> randomArenas() {
        return RULES.stream().flatMap(r -> Stream.of(false, true).map(la -> DynamicTest.dynamicTest(
                r[0] + " " + r[1] + (la ? " + lookahead" : ""), () -> {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> hyper = (Map<String, Object>) r[1];
                    compareRandom((String) r[0], hyper, la);
                })));
    }

    /** NaN, infinities, signed zeros and subnormals in the gradients take the same path on both backends. */
    @TestFactory
    Stream<DynamicTest> nonFiniteAndSpecialGradients() {
        float[] special = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, Float.MIN_VALUE,
            -Float.MIN_VALUE, Float.MIN_NORMAL, 1e30f, -1e-30f, 3f};
        return RULES.stream().map(r -> DynamicTest.dynamicTest(r[0] + " " + r[1], () -> {
            @SuppressWarnings("unchecked")
            Map<String, Object> hyper = (Map<String, Object>) r[1];
            try (ParameterStore sa = ParameterStore.builder().add("s", special.length).add("t", 70).build(device);
                    ParameterStore sb = ParameterStore.builder().add("s", special.length).add("t", 70).build(cpu);
                    Optimizer oa = OptimizerSpec.builder((String) r[0], hyper, null, null).build(sa);
                    Optimizer ob = OptimizerSpec.builder((String) r[0], hyper, null, null).build(sb)) {
                float[] w = new float[special.length];
                for (int i = 0; i < w.length; i++) {
                    w[i] = special[(i + 3) % special.length];
                }
                float[] t = new float[70];
                for (int i = 0; i < t.length; i++) {
                    t[i] = special[i % special.length] * (i % 2 == 0 ? 1f : -0.5f);
                }
                for (ParameterStore s : new ParameterStore[] {sa, sb}) {
                    s.setParameters("s", w);
                    s.setParameters("t", t);
                }
                for (int step = 0; step < 3; step++) {
                    for (ParameterStore s : new ParameterStore[] {sa, sb}) {
                        s.setGradients("s", special);
                        s.setGradients("t", t);
                    }
                    oa.step();
                    ob.step();
                    assertNull(GoldenRunner.firstDifference(oa, ob), "step " + (step + 1));
                }
            }
        }));
    }

    private static ParameterStore store(Device d) {
        ParameterStore.Builder b = ParameterStore.builder();
        for (int i = 0; i < SIZES.length; i++) {
            b.add("t" + i, SIZES[i]);
        }
        return b.build(d);
    }

    private static void compareRandom(String name, Map<String, Object> hyper, boolean lookahead) {
        Random r = new Random(name.hashCode() * 31L + hyper.hashCode());
        try (ParameterStore sa = store(device); ParameterStore sb = store(cpu);
                Optimizer oa = build(name, hyper, lookahead, sa); Optimizer ob = build(name, hyper, lookahead, sb)) {
            for (int i = 0; i < SIZES.length; i++) {
                float[] w = gaussian(r, (int) SIZES[i], 1f);
                sa.setParameters("t" + i, w);
                sb.setParameters("t" + i, w);
            }
            for (int step = 1; step <= 4; step++) {
                for (int i = 0; i < SIZES.length; i++) {
                    float[] g = gaussian(r, (int) SIZES[i], step == 3 ? 1e-4f : 0.1f);
                    if (i == 1) {
                        java.util.Arrays.fill(g, 0f);
                    }
                    sa.setGradients("t" + i, g);
                    sb.setGradients("t" + i, g);
                }
                oa.step();
                ob.step();
                String diff = GoldenRunner.firstDifference(oa, ob);
                assertNull(diff, () -> "step " + oa.stepCount() + ": " + GoldenRunner.firstDifference(oa, ob));
            }
        }
    }

    private static Optimizer build(String name, Map<String, Object> hyper, boolean lookahead, ParameterStore s) {
        OptimizerBuilder<?> b = OptimizerSpec.builder(name, hyper, null, null);
        b.group("second", g -> g.lr(0.003), "t2");
        if (lookahead) {
            b.lookahead(2, 0.6);
        }
        return b.build(s);
    }

    private static float[] gaussian(Random r, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * scale;
        }
        return v;
    }
}

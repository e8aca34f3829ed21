package io.fusedopt;

import static org.junit.jupiter.api.Assertions.assertNull;

import io.fusedopt.core.Dtype;
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
 * The device under test agrees with the CPU backend bit for bit in every storage regime, for every rule, with and
 * without Lookahead: parameters (the model copy), every state slot, the master weights and the per-tensor state,
 * after every step, over odd tensor sizes that hit the 8-element vector path, the tail and a second chunk. Under the
 * stand-in run this checks the kernels; under the default run both sides are the CPU.
 */
@Tag("device")
class MixedPrecisionParityTest {
    private static Device device;
    private static Device cpu;

    /** A storage regime as the optimizer's settings give it. */
    record Regime(String name, Dtype param, Dtype state, boolean master, boolean stochastic) {
    }

    static final List<Regime> REGIMES = List.of(
            new Regime("bf16", Dtype.BFLOAT16, Dtype.BFLOAT16, false, false),
            new Regime("fp16", Dtype.FLOAT16, Dtype.FLOAT16, false, false),
            new Regime("bf16_master", Dtype.BFLOAT16, Dtype.FLOAT32, true, false),
            new Regime("fp16_master", Dtype.FLOAT16, Dtype.FLOAT32, true, false),
            new Regime("bf16_master_bf16s", Dtype.BFLOAT16, Dtype.BFLOAT16, true, false),
            new Regime("bf16_sr", Dtype.BFLOAT16, Dtype.BFLOAT16, false, true));

    static final long[] SIZES = {1, 3, 13, 4097, 40_009};

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
    Stream<DynamicTest> everyRuleInEveryRegime() {
        return BitParityTest.LOW_PRECISION_RULES.stream().flatMap(r -> REGIMES.stream().map(g -> DynamicTest.dynamicTest(
                r[0] + " " + g.name() + " " + r[1], () -> {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> hyper = (Map<String, Object>) r[1];
                    // Lookahead in alternate regimes keeps the stand-in run short while every regime's Lookahead
                    // entries run for some rule (the rule list is longer than the regime list).
                    boolean lookahead = (BitParityTest.LOW_PRECISION_RULES.indexOf(r) + REGIMES.indexOf(g)) % 2 == 0;
                    compare((String) r[0], hyper, g, lookahead);
                })));
    }

    private static ParameterStore store(Device d, Dtype dtype) {
        ParameterStore.Builder b = ParameterStore.builder().dtype(dtype);
        for (int i = 0; i < SIZES.length; i++) {
            b.add("t" + i, SIZES[i]);
        }
        return b.build(d);
    }

    private static Optimizer build(String name, Map<String, Object> hyper, Regime g, boolean lookahead,
            ParameterStore s) {
        OptimizerBuilder<?> b = OptimizerSpec.builder(name, hyper, null, null);
        b.group("second", x -> x.lr(0.003), "t2");
        if (lookahead) {
            b.lookahead(2, 0.6);
        }
        if (g.master()) {
            b.masterWeights(true).stateDtype(g.state());
        }
        if (g.stochastic()) {
            b.stochasticRounding(0x5EEDL);
        }
        return b.build(s);
    }

    private static void compare(String name, Map<String, Object> hyper, Regime g, boolean lookahead) {
        Random r = new Random(name.hashCode() * 31L + hyper.hashCode() + g.name().hashCode());
        try (ParameterStore sa = store(device, g.param()); ParameterStore sb = store(cpu, g.param())) {
            for (int i = 0; i < SIZES.length; i++) {
                float[] w = gaussian(r, (int) SIZES[i], 1f);
                sa.setParameters("t" + i, w);
                sb.setParameters("t" + i, w);
            }
            try (Optimizer oa = build(name, hyper, g, lookahead, sa); Optimizer ob = build(name, hyper, g, lookahead, sb)) {
                for (int step = 1; step <= 3; step++) {
                    for (int i = 0; i < SIZES.length; i++) {
                        float[] gr = gaussian(r, (int) SIZES[i], step == 2 ? 1e-3f : 0.1f);
                        if (i == 1) {
                            java.util.Arrays.fill(gr, 0f);
                        }
                        sa.setGradients("t" + i, gr);
                        sb.setGradients("t" + i, gr);
                    }
                    oa.step();
                    ob.step();
                    String diff = GoldenRunner.firstDifference(oa, ob);
                    assertNull(diff, () -> "step " + oa.stepCount() + ": " + GoldenRunner.firstDifference(oa, ob));
                }
            }
        }
    }

    private static float[] gaussian(Random r, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * scale;
        }
        return v;
    }
}

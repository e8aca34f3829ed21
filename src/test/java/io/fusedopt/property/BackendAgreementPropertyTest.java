package io.fusedopt.property;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.NonFinitePolicy;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerBuilder;
import io.fusedopt.ParameterStore;
import io.fusedopt.TestDevices;
import io.fusedopt.core.Tensor;
import io.fusedopt.golden.GoldenRunner;
import io.fusedopt.property.RandomOptimizers.Case;
import java.util.List;
import java.util.SplittableRandom;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tag;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Random valid configurations (every rule, hyperparameters in range, 1-4 tensors of 1-5000 elements, 1-3 groups,
 * every schedule kind, with and without Lookahead, every non-finite policy) step to the same bits on the device under
 * test as on the CPU, and finite inputs of moderate size give finite parameters and state. In the default run the
 * device under test is the CPU too, which still checks that a step is deterministic.
 */
@Tag("device")
class BackendAgreementPropertyTest {
    private static Device dut;
    private static Device cpu;

    @BeforeContainer
    static void open() {
        dut = TestDevices.device();
        cpu = Device.cpu();
    }

    @AfterContainer
    static void close() {
        dut.close();
        cpu.close();
    }

    @Provide
    Arbitrary<Case> cases() {
        return Combinators.combine(
                Arbitraries.of(RandomOptimizers.RULES),
                Arbitraries.integers().between(1, 5000).list().ofMinSize(1).ofMaxSize(4),
                Arbitraries.integers().between(1, 3),
                Arbitraries.integers().between(0, RandomOptimizers.SCHEDULE_KINDS - 1),
                Arbitraries.of(false, true),
                Arbitraries.of(NonFinitePolicy.class),
                Arbitraries.integers().between(1, 6),
                Arbitraries.longs()).as(Case::new);
    }

    @Property(tries = 60)
    void backendsAgreeBitForBitAndStayFinite(@ForAll("cases") Case c) {
        try (ParameterStore sa = store(c, dut); Optimizer a = optimizer(c, sa);
                ParameterStore sb = store(c, cpu); Optimizer b = optimizer(c, sb)) {
            SplittableRandom grads = new SplittableRandom(c.seed() ^ 0x5DEECE66DL);
            for (int step = 1; step <= c.steps(); step++) {
                for (Tensor t : sa.tensors()) {
                    float[] g = new float[(int) t.length()];
                    for (int i = 0; i < g.length; i++) {
                        g[i] = grads.nextInt(10) == 0 ? 0f : (float) RandomOptimizers.uniform(grads, -2, 2);
                    }
                    sa.setGradients(t.name(), g);
                    sb.setGradients(t.name(), g);
                }
                a.step();
                b.step();
                String diff = GoldenRunner.firstDifference(a, b);
                assertNull(diff, () -> "step " + c + ": " + GoldenRunner.firstDifference(a, b));
            }
            assertEquals(c.steps(), a.stepCount());
            assertEquals(0, a.skippedSteps());
            for (Tensor t : sa.tensors()) {
                assertFinite(sa.parameters(t.name()), t.name() + " parameters");
                for (String slot : a.slotNames()) {
                    assertFinite(a.state(t.name(), slot), t.name() + "." + slot);
                }
            }
            for (double v : a.tensorState()) {
                assertTrue(Double.isFinite(v), "per-tensor state " + v);
            }
        }
    }

    private static void assertFinite(float[] v, String what) {
        for (int i = 0; i < v.length; i++) {
            int at = i;
            assertTrue(Float.isFinite(v[i]), () -> what + "[" + at + "] = " + v[at]);
        }
    }

    private static ParameterStore store(Case c, Device device) {
        List<long[]> shapes = RandomOptimizers.shapes(c.sizes());
        ParameterStore.Builder b = ParameterStore.builder();
        for (int i = 0; i < shapes.size(); i++) {
            b.add("w" + i, shapes.get(i));
        }
        ParameterStore s = b.build(device);
        SplittableRandom r = new SplittableRandom(c.seed());
        for (Tensor t : s.tensors()) {
            float[] w = new float[(int) t.length()];
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) RandomOptimizers.uniform(r, -1, 1);
            }
            s.setParameters(t.name(), w);
        }
        return s;
    }

    /** The same configuration for both devices: everything comes from the case's fields. */
    private static Optimizer optimizer(Case c, ParameterStore store) {
        SplittableRandom r = new SplittableRandom(c.seed() * 31 + 7);
        OptimizerBuilder<?> b = RandomOptimizers.builder(c.rule(), r);
        b.schedule(RandomOptimizers.schedule(c.scheduleKind(), r)).nonFinite(c.policy());
        if (c.lookahead()) {
            b.lookahead(1 + r.nextInt(4), RandomOptimizers.uniform(r, 0.1, 1));
        }
        int tensors = c.sizes().size();
        for (int g = 1; g < c.groups(); g++) {
            List<String> members = new java.util.ArrayList<>();
            for (int i = 0; i < tensors; i++) {
                if (i % c.groups() == g) {
                    members.add("w" + i);
                }
            }
            RandomOptimizers.group(b, "g" + g, RandomOptimizers.logUniform(r, 1e-4, 0.1),
                    r.nextBoolean() ? 0 : RandomOptimizers.logUniform(r, 1e-5, 0.1), members.toArray(String[]::new));
        }
        return b.build(store);
    }
}

package io.fusedopt.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.StepPlan;
import io.fusedopt.core.LaunchConfig;
import io.fusedopt.core.Tensor;
import io.fusedopt.rule.Algorithms;
import io.fusedopt.rule.Rule;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CPU step gives the same bits whatever the number of threads and however the chunks are split among them:
 * many small tensors and multi-chunk ones, every pass kind (finite check, Lookahead, norm, update with sums, finish).
 */
class SplitIndependenceTest {
    private static final ArenaLayout LAYOUT = layout();

    private static ArenaLayout layout() {
        long[] l = new long[1_200];
        for (int i = 0; i < l.length; i++) {
            l[i] = 1 + (i * 37) % 150;
        }
        l[7] = 2L * LaunchConfig.CHUNK + 5;
        l[500] = LaunchConfig.CHUNK;
        l[1_100] = 12L * LaunchConfig.CHUNK - 1;
        return Layouts.of(l);
    }

    /** Parameters, gradients, slots and slow weights after three steps on {@code threads} threads. */
    private static List<int[]> threeSteps(Rule rule, int threads) {
        List<CpuBuffer> slots = new ArrayList<>();
        for (int s = 0; s < rule.slots().size(); s++) {
            slots.add(new CpuBuffer(LAYOUT, rule.slots().get(s)));
        }
        CpuBuffer params = new CpuBuffer(LAYOUT, "parameters");
        CpuBuffer grads = new CpuBuffer(LAYOUT, "gradients");
        CpuBuffer slow = new CpuBuffer(LAYOUT, "slow weights");
        int x = 12345;
        for (Tensor t : LAYOUT.tensors()) {
            float[] w = new float[(int) t.length()];
            float[] g = new float[w.length];
            for (int i = 0; i < w.length; i++) {
                x = x * 1103515245 + 12345;
                w[i] = ((x >>> 8) * 0x1p-24f - 0.5f) * 0.2f;
                g[i] = ((x >>> 3 & 0xffff) * 0x1p-16f - 0.5f) * 1e-2f;
            }
            params.write(t, 0, w, 0, w.length);
            grads.write(t, 0, g, 0, g.length);
            for (int s = 0; s < slots.size(); s++) {
                slots.get(s).fill(t, rule.slotInit(s, 0));
            }
        }
        CpuStepProgram program = new CpuStepProgram(rule, LAYOUT, params, grads, slots, slow, threads);
        List<StepPlan> plans = List.of(StepPlan.of(rule, true, true, false), StepPlan.of(rule, true, false, true),
                StepPlan.of(rule, true, false, false));
        for (int step = 1; step <= plans.size(); step++) {
            double lr = rule.baseLr(0);
            float[] sc = new float[rule.scalarCount()];
            rule.scalars(0, step, lr, sc, 0);
            double[] fs = new double[rule.finishScalarCount()];
            rule.finishScalars(0, step, lr, fs, 0);
            program.run(plans.get(step - 1), sc, fs, 0.5f);
        }
        List<CpuBuffer> all = new ArrayList<>(List.of(params, grads, slow));
        all.addAll(slots);
        List<int[]> out = new ArrayList<>();
        for (CpuBuffer b : all) {
            for (Tensor t : LAYOUT.tensors()) {
                float[] v = new float[(int) t.length()];
                b.read(t, 0, v, 0, v.length);
                int[] bits = new int[v.length];
                for (int i = 0; i < v.length; i++) {
                    bits[i] = Float.floatToRawIntBits(v[i]);
                }
                out.add(bits);
            }
        }
        double[] ts = program.tensorState();
        int[] tsBits = new int[2 * ts.length];
        for (int i = 0; i < ts.length; i++) {
            long v = Double.doubleToRawLongBits(ts[i]);
            tsBits[2 * i] = (int) v;
            tsBits[2 * i + 1] = (int) (v >>> 32);
        }
        out.add(tsBits);
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"adamw", "adam", "lamb", "swats", "sgd", "adagrad"})
    void sameBitsOnOneTwoThreeAndEightThreads(String id) {
        Rule rule = Algorithms.named(id).create(Map.of());
        assertTrue(WorkSplit.of(LAYOUT, 2).runs() > 2, "the layout must split among threads");
        List<int[]> one = threeSteps(rule, 1);
        for (int threads : new int[] {2, 3, 8}) {
            List<int[]> many = threeSteps(rule, threads);
            for (int i = 0; i < one.size(); i++) {
                assertArrayEquals(one.get(i), many.get(i), id + " on " + threads + " threads: array " + i);
            }
        }
    }
}

package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fusedopt.Device;
import io.fusedopt.NonFinitePolicy;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerBuilder;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.core.Tensor;
import io.fusedopt.golden.GoldenCase;
import io.fusedopt.golden.GoldenFormatException;
import io.fusedopt.schedule.Schedules;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

/** Optimizer configurations, deterministic training runs and state snapshots shared by the checkpoint tests. */
public final class Fixtures {
    private Fixtures() {
    }

    /** Gradients of tensor {@code tensor} at step {@code step} (from 1). */
    public interface Grads {
        float[] at(int step, int tensor, int length);
    }

    /**
     * One configuration: tensors named {@code t0, t1, ...} with {@code shapes} and {@code initial} values, an
     * optimizer factory, gradients, and {@code n}: the run saves after n steps and continues for n more.
     */
    public record Config(String name, List<long[]> shapes, List<float[]> initial,
            Function<ParameterStore, Optimizer> factory, Grads grads, int n) {
        @Override
        public String toString() {
            return name;
        }
    }

    /** Synthetic tensors: [3, 5], [17], [2, 2, 3], filled from {@code seed}. */
    static List<long[]> shapes() {
        return List.of(new long[] {3, 5}, new long[] {17}, new long[] {2, 2, 3});
    }

    static List<float[]> initial(List<long[]> shapes, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<float[]> out = new ArrayList<>();
        for (long[] s : shapes) {
            float[] v = new float[(int) count(s)];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextDouble() * 2 - 1);
            }
            out.add(v);
        }
        return out;
    }

    /** Moderate random gradients with a few exact zeros, a pure function of (seed, step, tensor). */
    static Grads randomGrads(long seed) {
        return (step, tensor, length) -> {
            SplittableRandom r = new SplittableRandom(seed * 1_000_003L + step * 7919L + tensor);
            float[] g = new float[length];
            for (int i = 0; i < length; i++) {
                g[i] = r.nextInt(10) == 0 ? 0f : (float) ((r.nextDouble() * 2 - 1) * 0.8);
            }
            return g;
        };
    }

    static long count(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    private static Config synthetic(String name, int n, Function<ParameterStore, Optimizer> factory) {
        List<long[]> shapes = shapes();
        long seed = name.hashCode();
        return new Config(name, shapes, initial(shapes, seed), factory, randomGrads(seed), n);
    }

    /** A configuration replaying a golden case's tensors, gradients and optimizer, saving after n steps. */
    static Config golden(String file, int n) {
        GoldenCase c = goldenCase(file);
        Grads grads = (step, tensor, length) -> c.steps().get(step - 1).grads().get(tensor).clone();
        return new Config(file, c.shapes(), c.initial(),
                store -> io.fusedopt.golden.GoldenRunner.optimizer(c, store), grads, n);
    }

    /** Parses a golden case of the test resources. */
    public static GoldenCase goldenCase(String file) {
        try {
            URL url = Fixtures.class.getResource("/golden/" + file);
            if (url == null) {
                throw new IllegalStateException("golden case " + file + " missing from the test resources");
            }
            return GoldenCase.read(Path.of(url.toURI()));
        } catch (URISyntaxException | GoldenFormatException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every rule, with groups and schedules where they make the checkpoint carry more. */
    public static List<Config> everyRule() {
        List<Config> all = new ArrayList<>();
        all.add(synthetic("sgd", 6, s -> Optimizers.sgd().lr(0.05).weightDecay(1e-3)
                .group("no_decay", g -> g.weightDecay(0), "t1").build(s)));
        all.add(synthetic("sgd_momentum_nesterov", 6, s -> Optimizers.sgd().lr(0.03).momentum(0.9).nesterov(true)
                .weightDecay(1e-4).schedule(Schedules.stepLr(3, 0.5))
                .group("slow", g -> g.lr(0.01), "t2").build(s)));
        all.add(synthetic("sgdw", 6, s -> Optimizers.sgdW().lr(0.02).momentum(0.8).dampening(0.1).weightDecay(0.01)
                .schedule(Schedules.cosineAnnealing(10, 1e-4)).build(s)));
        all.add(synthetic("adam", 6, s -> Optimizers.adam().lr(1e-2).weightDecay(1e-3)
                .schedule(Schedules.linearWarmup(0.1, 1.0, 5))
                .group("no_decay", g -> g.weightDecay(0), "t1", "t2").build(s)));
        all.add(synthetic("adamw_amsgrad", 6, s -> Optimizers.adamW().lr(1e-2).amsgrad(true)
                .schedule(Schedules.sgdr(3, 2, 1e-4).perBatch(2)).build(s)));
        all.add(synthetic("adagrad", 6, s -> Optimizers.adagrad().lr(0.05).lrDecay(0.01).initialAccumulatorValue(0.1)
                .build(s)));
        all.add(synthetic("radam", 6, s -> Optimizers.radam().lr(1e-2).weightDecay(1e-3).build(s)));
        all.add(synthetic("nadam", 6, s -> Optimizers.nadam().lr(2e-3).weightDecay(1e-3).build(s)));
        all.add(synthetic("adabelief_amsgrad_rectify", 6, s -> Optimizers.adaBelief().lr(1e-2).amsgrad(true)
                .rectify(true).weightDecay(1e-3).build(s)));
        all.add(synthetic("adabound", 6, s -> Optimizers.adaBound().lr(1e-2).finalLr(0.1).gamma(1e-2)
                .schedule(Schedules.exponentialLr(0.95)).build(s)));
        all.add(synthetic("amsbound", 6, s -> Optimizers.amsBound().lr(1e-2).finalLr(0.05).gamma(1e-2).build(s)));
        all.add(synthetic("yogi", 6, s -> Optimizers.yogi().lr(1e-2).weightDecay(1e-3).build(s)));
        all.add(synthetic("lamb", 6, s -> Optimizers.lamb().lr(1e-2).weightDecay(0.01)
                .group("no_decay", g -> g.weightDecay(0), "t1").build(s)));
        // The previous gradient is a state slot: a resumed step 7 must see step 6's gradient, not zeros.
        all.add(synthetic("adan", 6, s -> Optimizers.named("adan").lr(1e-2).weightDecay(0.02)
                .schedule(Schedules.stepLr(3, 0.5)).build(s)));
        // The trust ratio is recomputed every step; the checkpoint carries it as the per-tensor state.
        all.add(synthetic("lars_groups", 6, s -> Optimizers.named("lars").lr(0.5).set("nesterov", true)
                .weightDecay(1e-3).group("no_trust", g -> g.set("trust_ratio", false).weightDecay(0), "t1")
                .build(s)));
        // The averaging weight depends on every earlier rate: a resumed run must recompute it from the step count.
        all.add(synthetic("schedule_free_adamw", 6, s -> Optimizers.named("schedule_free_adamw").lr(1e-2)
                .set("warmup_steps", 4.0).weightDecay(0.01).schedule(Schedules.cosineAnnealing(12, 1e-3))
                .group("fast", g -> g.lr(2e-2).set("warmup_steps", 0.0), "t2").build(s)));
        // Saved after the switch of tensor 1 (step 7) and before that of tensor 0 (step 22).
        all.add(golden("swats_switch_zero_grad.json", 12));
        // Saved after the switch of tensor 0 (step 4) and before that of tensor 1 (step 10).
        all.add(golden("swats_l2.json", 7));
        // Factored second moments (row and column statistics) and the momentum slot: saved mid-run.
        all.add(golden("adafactor_factored_param_scale.json", 5));
        all.add(golden("adafactor_momentum_decay.json", 6));
        // Muon: the momentum of the matrices and the AdamW moments of the rest, saved mid-run.
        all.add(golden("muon_nesterov.json", 5));
        all.add(golden("muon_plain_consistent_rms.json", 4));
        // k = 3: syncs at steps 3 (before the save), 6 and 9 (after it).
        all.add(synthetic("lookahead_adam_k3", 5, s -> Optimizers.adam().lr(2e-2).lookahead(3, 0.5).build(s)));
        // A NaN gradient at step 2 is skipped, so the checkpoint carries a skipped count of 1.
        Config skip = synthetic("adam_skip_nonfinite", 6, s -> Optimizers.adam().lr(1e-2)
                .nonFinite(NonFinitePolicy.SKIP).build(s));
        Grads base = skip.grads();
        all.add(new Config(skip.name(), skip.shapes(), skip.initial(), skip.factory(), (step, tensor, length) -> {
            float[] g = base.at(step, tensor, length);
            if (step == 2 && tensor == 1) {
                g[3] = Float.NaN;
            }
            return g;
        }, 6));
        // Every other registered algorithm, each configuration with a second group: a new algorithm is
        // checkpointed and resumed without being added here.
        java.util.Set<String> covered = new java.util.HashSet<>();
        try (Device cpu = Device.cpu()) {
            for (Config c : all) {
                try (ParameterStore s = store(c, cpu); Optimizer o = c.factory().apply(s)) {
                    covered.add(o.rule().id());
                }
            }
        }
        for (io.fusedopt.rule.Algorithm a : io.fusedopt.rule.Algorithms.all()) {
            if (covered.contains(a.id())) {
                continue;
            }
            for (io.fusedopt.rule.Algorithm.Variant v : a.variants()) {
                all.add(synthetic(v.name().replace('-', '_'), 6, s -> {
                    io.fusedopt.OptimizerBuilder<?> b = Optimizers.of(a);
                    v.settings().forEach(b::set);
                    double lr = a.values(v.settings(), "").number("lr");
                    return b.group("half", g -> g.lr(lr / 2), "t1").build(s);
                }));
            }
        }
        return all;
    }

    /** A store for {@code c} on {@code device}, with its initial parameters. */
    public static ParameterStore store(Config c, Device device) {
        ParameterStore.Builder b = ParameterStore.builder();
        for (int i = 0; i < c.shapes().size(); i++) {
            b.add("t" + i, c.shapes().get(i));
        }
        ParameterStore s = b.build(device);
        for (int i = 0; i < c.shapes().size(); i++) {
            s.setParameters("t" + i, c.initial().get(i));
        }
        return s;
    }

    /** Runs steps {@code from..to} (inclusive, from 1) of {@code c}'s gradients. */
    public static void run(Config c, ParameterStore store, Optimizer opt, int from, int to) {
        for (int step = from; step <= to; step++) {
            for (int i = 0; i < c.shapes().size(); i++) {
                Tensor t = store.tensor("t" + i);
                store.setGradients(t.name(), c.grads().at(step, i, (int) t.length()));
            }
            opt.step();
        }
    }

    /** A bitwise copy of everything an optimizer keeps, to show that a failed load changed nothing. */
    public record Snapshot(Map<String, int[]> state, long[] tensorState, long steps, long skipped, long lrBits) {
        /** Takes a snapshot. */
        public static Snapshot of(Optimizer opt) {
            Map<String, int[]> state = new LinkedHashMap<>();
            for (Tensor t : opt.store().tensors()) {
                for (String slot : opt.slotNames()) {
                    float[] v = opt.state(t.name(), slot);
                    int[] bits = new int[v.length];
                    for (int i = 0; i < v.length; i++) {
                        bits[i] = Float.floatToRawIntBits(v[i]);
                    }
                    state.put(t.name() + "." + slot, bits);
                }
            }
            double[] ts = opt.tensorState();
            long[] tsBits = new long[ts.length];
            for (int i = 0; i < ts.length; i++) {
                tsBits[i] = Double.doubleToRawLongBits(ts[i]);
            }
            return new Snapshot(state, tsBits, opt.stepCount(), opt.skippedSteps(),
                    Double.doubleToRawLongBits(opt.learningRate()));
        }

        /** Asserts every bit equal. */
        public void assertSame(Snapshot other) {
            assertEquals(state.keySet(), other.state.keySet());
            for (String k : state.keySet()) {
                assertArrayEquals(state.get(k), other.state.get(k), k);
            }
            assertArrayEquals(tensorState, other.tensorState, "tensor state");
            assertEquals(steps, other.steps, "step count");
            assertEquals(skipped, other.skipped, "skipped count");
            assertEquals(lrBits, other.lrBits, "learning rate");
        }
    }

    /** A plain Adam configuration with a group and a schedule, for tests of the file rather than of the rules. */
    public static Config adamWithGroup() {
        return synthetic("adam_group", 4, s -> Optimizers.adam().lr(1e-2).weightDecay(1e-3)
                .schedule(Schedules.stepLr(2, 0.5))
                .group("no_decay", g -> g.weightDecay(0), "t1").build(s));
    }

    /** {@code c} with its optimizer factory replaced (same tensors, initial values, gradients and n). */
    public static Config withFactory(Config c, Function<ParameterStore, Optimizer> factory) {
        return new Config(c.name(), c.shapes(), c.initial(), factory, c.grads(), c.n());
    }

    /** A builder of {@link #adamWithGroup()}'s optimizer, for variants. */
    public static OptimizerBuilder<?> adamBuilder() {
        return Optimizers.adam().lr(1e-2).weightDecay(1e-3).schedule(Schedules.stepLr(2, 0.5));
    }
}

package io.fusedopt.golden;

import io.fusedopt.core.Tensor;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.OptimizerSpec;
import io.fusedopt.ParameterStore;
import io.fusedopt.schedule.Schedule;
import io.fusedopt.schedule.Schedules;
import java.util.List;

/**
 * Replays golden cases on a device. An element passes when {@code |actual - expected| <= abs + rel |expected|};
 * the evaluation weights of a case that lists them ({@code info.eval_params}) are checked the same way;
 * a case's score is its worst {@code |actual - expected| / (abs + rel |expected|)}, so it passes at or below 1.
 * The rate of every step is checked against {@code steps[i].lr} with the schedule tolerance of FORMAT.md.
 */
public final class GoldenRunner {
    /** The schedule cases' tolerance, also used to check an optimizer case's rates. */
    public static final double LR_REL = 1e-6;
    /** The schedule cases' absolute tolerance. */
    public static final double LR_ABS = 1e-12;

    private GoldenRunner() {
    }

    /** The outcome of one case: its worst error as a multiple of its tolerance, and where that was. */
    public record Result(String name, double worst, String where) {
        /** Whether every element and rate was within tolerance. */
        public boolean passed() {
            return worst <= 1.0;
        }
    }

    /** Tensor names used for a case's tensors: {@code t0}, {@code t1} ... */
    public static String tensorName(int i) {
        return "t" + i;
    }

    /** Builds the case's store on {@code device}, with the initial values. */
    public static ParameterStore store(GoldenCase c, Device device) {
        ParameterStore.Builder b = ParameterStore.builder().dtype(c.storage().param());
        for (int i = 0; i < c.shapes().size(); i++) {
            b.add(tensorName(i), c.shapes().get(i));
        }
        ParameterStore store = b.build(device);
        try {
            for (int i = 0; i < c.shapes().size(); i++) {
                store.setParameters(tensorName(i), c.initial().get(i));
            }
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
        return store;
    }

    /** Builds the case's optimizer (with its schedule and Lookahead) on {@code store}. */
    public static Optimizer optimizer(GoldenCase c, ParameterStore store) {
        var b = OptimizerSpec.builder(c.optimizer(), c.hyperparams(), c.schedule(), c.lookahead());
        GoldenCase.Storage st = c.storage();
        if (st.master()) {
            b.masterWeights(true);
        }
        if (st.state() != st.param() || st.master()) {
            b.stateDtype(st.state());
        }
        return b.build(store);
    }

    private static final class Worst {
        double ratio;
        String where = "";

        void offer(double actual, double expected, double abs, double rel, String at) {
            double r = Math.abs(actual - expected) / (abs + rel * Math.abs(expected));
            if (Double.isNaN(actual) || Double.isNaN(expected)) {
                r = Double.isNaN(actual) && Double.isNaN(expected) ? 0 : Double.POSITIVE_INFINITY;
            }
            if (r > ratio || (Double.isInfinite(r) && ratio == 0)) {
                ratio = r;
                where = at + " (actual " + actual + ", expected " + expected + ")";
            }
        }

        /** A 16-bit output: its distance in representable steps against {@code ulps} (FORMAT.md, format 2). */
        void offerUlps(float actual, float expected, io.fusedopt.core.Dtype dtype, int ulps, String at) {
            long d = Math.abs(key(dtype.narrow(actual)) - key(dtype.narrow(expected)));
            boolean nan = Float.isNaN(actual) || Float.isNaN(expected);
            double r = nan ? (Float.isNaN(actual) && Float.isNaN(expected) ? 0 : Double.POSITIVE_INFINITY)
                    : d == 0 ? 0 : ulps <= 0 ? Double.POSITIVE_INFINITY : (double) d / ulps;
            if (r > ratio || (Double.isInfinite(r) && ratio == 0)) {
                ratio = r;
                where = at + " (actual " + actual + ", expected " + expected + ", " + d + " ulps)";
            }
        }

        private static long key(short bits) {
            int b = bits & 0xFFFF;
            return b < 0x8000 ? b : -(b - 0x8000);
        }
    }

    /**
     * Refuses a case that needs a feature the library lacks: running it with the field ignored would test something
     * else.
     *
     * @throws IllegalStateException naming the file and every unsupported field
     */
    static void refuseUnrunnable(GoldenCase c) {
        if (!c.runnable()) {
            throw new IllegalStateException(c.file() + ": cannot run: " + String.join("; ", c.unsupported()));
        }
    }

    /**
     * Runs a case on {@code device}: a schedule case evaluates its schedule; an optimizer case steps through every
     * step and checks every element of every tensor, and the rate, after each.
     */
    public static Result run(GoldenCase c, Device device) {
        refuseUnrunnable(c);
        Worst worst = new Worst();
        double base = ((Number) c.hyperparams().get("lr")).doubleValue();
        if (c.scheduleOnly()) {
            Schedule s = Schedules.fromSpec(c.schedule());
            for (int i = 0; i < c.steps().size(); i++) {
                worst.offer(s.lr(i, base), c.steps().get(i).lr(), c.abs(), c.rel(), "steps[" + i + "].lr");
            }
            return new Result(c.name(), worst.ratio, worst.where);
        }
        try (ParameterStore store = store(c, device); Optimizer opt = optimizer(c, store)) {
            for (int s = 0; s < c.steps().size(); s++) {
                GoldenCase.Step step = c.steps().get(s);
                for (int i = 0; i < c.shapes().size(); i++) {
                    store.setGradients(tensorName(i), step.grads().get(i));
                }
                opt.step();
                worst.offer(opt.learningRate(), step.lr(), LR_ABS, LR_REL, "steps[" + s + "].lr");
                io.fusedopt.core.Dtype dtype = c.storage().param();
                for (int i = 0; i < c.shapes().size(); i++) {
                    float[] actual = store.parameters(tensorName(i));
                    float[] expected = step.expected().get(i);
                    for (int k = 0; k < actual.length; k++) {
                        String at = "steps[" + s + "].expected[" + i + "][" + k + "]";
                        if (dtype.isHalf()) {
                            worst.offerUlps(actual[k], expected[k], dtype, Math.max(0, c.ulps()), at);
                        } else {
                            worst.offer(actual[k], expected[k], c.abs(), c.rel(), at);
                        }
                    }
                }
                // The float32 master weights, where the case keeps them.
                for (int i = 0; i < step.expectedMaster().size(); i++) {
                    float[] actual = opt.state(tensorName(i), "master");
                    float[] expected = step.expectedMaster().get(i);
                    for (int k = 0; k < actual.length; k++) {
                        worst.offer(actual[k], expected[k], c.abs(), c.rel(),
                                "steps[" + s + "].expected_master[" + i + "][" + k + "]");
                    }
                }
                // The weights to evaluate at (Schedule-Free AdamW's x), where the case lists them.
                for (int i = 0; i < step.evalParams().size(); i++) {
                    float[] actual = opt.evalParameters(tensorName(i));
                    float[] expected = step.evalParams().get(i);
                    for (int k = 0; k < actual.length; k++) {
                        worst.offer(actual[k], expected[k], c.abs(), c.rel(),
                                "info.eval_params[" + s + "][" + i + "][" + k + "]");
                    }
                }
            }
        }
        return new Result(c.name(), worst.ratio, worst.where);
    }

    /**
     * Runs an optimizer case on two devices side by side and counts, after every step, the elements of the
     * parameters and of every state slot whose bits differ, and the per-tensor state values that differ. All NaNs
     * count as one value.
     *
     * @return a description of the first difference, or null when every bit agreed
     */
    public static String compareBits(GoldenCase c, Device a, Device b) {
        refuseUnrunnable(c);
        if (c.scheduleOnly()) {
            return null;
        }
        try (ParameterStore sa = store(c, a); Optimizer oa = optimizer(c, sa);
                ParameterStore sb = store(c, b); Optimizer ob = optimizer(c, sb)) {
            for (int s = 0; s < c.steps().size(); s++) {
                for (int i = 0; i < c.shapes().size(); i++) {
                    sa.setGradients(tensorName(i), c.steps().get(s).grads().get(i));
                    sb.setGradients(tensorName(i), c.steps().get(s).grads().get(i));
                }
                oa.step();
                ob.step();
                String diff = firstDifference(oa, ob);
                if (diff != null) {
                    return "step " + (s + 1) + ": " + diff;
                }
            }
        }
        return null;
    }

    /** The first element whose bits differ between two optimizers' parameters, state or tensor state; null if none. */
    public static String firstDifference(Optimizer oa, Optimizer ob) {
        List<String> tensors = oa.store().tensors().stream().map(t -> t.name()).toList();
        for (String t : tensors) {
            String d = differ(oa.store().parameters(t), ob.store().parameters(t), t + " parameters");
            if (d != null) {
                return d;
            }
            for (String slot : oa.slotNames()) {
                d = differ(oa.state(t, slot), ob.state(t, slot), t + "." + slot);
                if (d != null) {
                    return d;
                }
            }
        }
        double[] ta = oa.tensorState(), tb = ob.tensorState();
        for (int i = 0; i < ta.length; i++) {
            if (Double.doubleToLongBits(ta[i]) != Double.doubleToLongBits(tb[i])) {
                return "tensor state [" + i + "]: " + ta[i] + " vs " + tb[i];
            }
        }
        return null;
    }

    private static String differ(float[] x, float[] y, String what) {
        int count = 0;
        int first = -1;
        for (int k = 0; k < x.length; k++) {
            // floatToIntBits folds every NaN into one: GPUs produce a canonical NaN where Java keeps payloads.
            if (Float.floatToIntBits(x[k]) != Float.floatToIntBits(y[k])) {
                if (first < 0) {
                    first = k;
                }
                count++;
            }
        }
        return count == 0 ? null : count + " element(s) of " + what + " differ, first [" + first + "]: "
                + x[first] + " vs " + y[first];
    }
}

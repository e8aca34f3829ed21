package io.fusedopt;

import io.fusedopt.core.Tensor;
import io.fusedopt.schedule.Schedule;
import io.fusedopt.schedule.Schedules;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds optimizers from, and describes them as, the plain maps of the golden case format
 * ({@code optimizer}, {@code hyperparams}, {@code schedule}, {@code lookahead}); used by {@code verify}, checkpoints
 * and tests.
 */
public final class OptimizerSpec {
    private static final Map<String, Set<String>> KEYS = Map.ofEntries(
            Map.entry("sgd", Set.of("lr", "momentum", "dampening", "nesterov", "weight_decay")),
            Map.entry("sgdw", Set.of("lr", "momentum", "dampening", "nesterov", "weight_decay")),
            Map.entry("adam", Set.of("lr", "betas", "eps", "weight_decay", "amsgrad")),
            Map.entry("adamw", Set.of("lr", "betas", "eps", "weight_decay", "amsgrad")),
            Map.entry("adagrad", Set.of("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")),
            Map.entry("radam", Set.of("lr", "betas", "eps", "weight_decay")),
            Map.entry("nadam", Set.of("lr", "betas", "eps", "weight_decay", "momentum_decay")),
            Map.entry("adabelief", Set.of("lr", "betas", "eps", "weight_decay", "amsgrad", "weight_decouple",
                    "fixed_decay", "rectify", "degenerated_to_sgd")),
            Map.entry("adabound", Set.of("lr", "betas", "eps", "weight_decay", "final_lr", "gamma", "amsbound")),
            Map.entry("yogi", Set.of("lr", "betas", "eps", "weight_decay", "initial_accumulator")),
            Map.entry("lamb", Set.of("lr", "betas", "eps", "weight_decay")),
            Map.entry("swats", Set.of("lr", "betas", "eps", "weight_decay")));

    private OptimizerSpec() {
    }

    /**
     * A builder for {@code optimizer} with {@code hyperparams}, an optional schedule object and an optional
     * Lookahead object ({@code k}, {@code alpha}, {@code inner}); for {@code "lookahead"} the inner optimizer is
     * named by {@code lookahead.inner}.
     *
     * @throws IllegalArgumentException naming the key and value for an unknown optimizer or key, a missing
     *     value, or a value of the wrong type
     */
    public static OptimizerBuilder<?> builder(String optimizer, Map<String, Object> hyperparams,
            Map<String, Object> schedule, Map<String, Object> lookahead) {
        String id = optimizer;
        if ("lookahead".equals(optimizer)) {
            if (lookahead == null) {
                throw new IllegalArgumentException("optimizer 'lookahead' needs a 'lookahead' object with k, alpha and inner");
            }
            id = text(lookahead, "lookahead.inner");
        } else if (lookahead != null) {
            throw new IllegalArgumentException("'lookahead' is set but optimizer is '" + optimizer + "', not 'lookahead'");
        }
        Set<String> allowed = KEYS.get(id);
        if (allowed == null) {
            throw new IllegalArgumentException("unknown optimizer '" + id + "'; known: " + Optimizers.NAMES);
        }
        for (String key : hyperparams.keySet()) {
            if (!allowed.contains(key)) {
                throw new IllegalArgumentException("hyperparams." + key + " is not a hyperparameter of " + id
                        + "; expected " + new java.util.TreeSet<>(allowed));
            }
        }
        OptimizerBuilder<?> b;
        if ("adabound".equals(id) && flag(hyperparams, "amsbound", false)) {
            b = Optimizers.amsBound();
        } else {
            b = Optimizers.named(id);
        }
        applyHyper(b, hyperparams);
        if (schedule != null) {
            b.schedule(Schedules.fromSpec(schedule));
        }
        if (lookahead != null) {
            b.lookahead((int) whole(lookahead, "lookahead.k"), number(lookahead, "lookahead.alpha"));
        }
        return b;
    }

    private static void applyHyper(OptimizerBuilder<?> b, Map<String, Object> h) {
        if (h.containsKey("lr")) {
            b.lr(number(h, "lr"));
        }
        if (h.containsKey("weight_decay")) {
            b.weightDecay(number(h, "weight_decay"));
        }
        if (b instanceof Optimizers.AdaptiveBuilder<?> a) {
            if (h.containsKey("betas")) {
                Object v = h.get("betas");
                if (!(v instanceof List<?> l) || l.size() != 2 || !(l.get(0) instanceof Number)
                        || !(l.get(1) instanceof Number)) {
                    throw new IllegalArgumentException("hyperparams.betas must be a list of two numbers, got " + v);
                }
                a.betas(((Number) l.get(0)).doubleValue(), ((Number) l.get(1)).doubleValue());
            }
            if (h.containsKey("eps")) {
                a.eps(number(h, "eps"));
            }
        }
        if (b instanceof Optimizers.SgdBuilder s) {
            if (h.containsKey("momentum")) {
                s.momentum(number(h, "momentum"));
            }
            if (h.containsKey("dampening")) {
                s.dampening(number(h, "dampening"));
            }
            s.nesterov(flag(h, "nesterov", false));
        } else if (b instanceof Optimizers.AdamBuilder a) {
            a.amsgrad(flag(h, "amsgrad", false));
        } else if (b instanceof Optimizers.AdagradBuilder a) {
            if (h.containsKey("lr_decay")) {
                a.lrDecay(number(h, "lr_decay"));
            }
            if (h.containsKey("initial_accumulator_value")) {
                a.initialAccumulatorValue(number(h, "initial_accumulator_value"));
            }
            if (h.containsKey("eps")) {
                a.eps(number(h, "eps"));
            }
        } else if (b instanceof Optimizers.NAdamBuilder n) {
            if (h.containsKey("momentum_decay")) {
                n.momentumDecay(number(h, "momentum_decay"));
            }
        } else if (b instanceof Optimizers.AdaBeliefBuilder a) {
            a.amsgrad(flag(h, "amsgrad", false))
                    .weightDecouple(flag(h, "weight_decouple", true))
                    .fixedDecay(flag(h, "fixed_decay", false))
                    .rectify(flag(h, "rectify", true))
                    .degeneratedToSgd(flag(h, "degenerated_to_sgd", true));
        } else if (b instanceof Optimizers.AdaBoundBuilder a) {
            if (h.containsKey("final_lr")) {
                a.finalLr(number(h, "final_lr"));
            }
            if (h.containsKey("gamma")) {
                a.gamma(number(h, "gamma"));
            }
        } else if (b instanceof Optimizers.YogiBuilder y) {
            if (h.containsKey("initial_accumulator")) {
                y.initialAccumulator(number(h, "initial_accumulator"));
            }
        }
    }

    /**
     * Describes an optimizer: {@code optimizer} (or {@code "lookahead"}), {@code hyperparams} of the default
     * group, {@code groups} (name, hyperparameters and tensors of each group), {@code schedule} and
     * {@code lookahead}.
     */
    public static Map<String, Object> describe(Optimizer opt) {
        Map<String, Object> m = new LinkedHashMap<>();
        String id = opt.rule().id();
        m.put("optimizer", opt.lookaheadK() > 0 ? "lookahead" : id);
        Map<String, Object> hyper = new LinkedHashMap<>(opt.rule().hyperparams(0));
        m.put("hyperparams", hyper);
        List<Map<String, Object>> groups = new java.util.ArrayList<>();
        for (int g = 0; g < opt.groupNames().size(); g++) {
            Map<String, Object> gm = new LinkedHashMap<>();
            gm.put("name", opt.groupNames().get(g));
            gm.put("hyperparams", opt.rule().hyperparams(g));
            List<String> tensors = new java.util.ArrayList<>();
            for (Tensor t : opt.store().tensors()) {
                if (opt.layout().group(t.index()) == g) {
                    tensors.add(t.name());
                }
            }
            gm.put("tensors", tensors);
            groups.add(gm);
        }
        m.put("groups", groups);
        Schedule s = opt.schedule();
        m.put("schedule", s.toSpec());
        if (opt.lookaheadK() > 0) {
            Map<String, Object> la = new LinkedHashMap<>();
            la.put("k", (long) opt.lookaheadK());
            la.put("alpha", opt.lookaheadAlpha());
            la.put("inner", id);
            m.put("lookahead", la);
        } else {
            m.put("lookahead", null);
        }
        m.put("non_finite", opt.nonFinitePolicy().name());
        return m;
    }

    static double number(Map<String, Object> m, String path) {
        Object v = m.get(path.substring(path.lastIndexOf('.') + 1));
        if (!(v instanceof Number)) {
            throw new IllegalArgumentException((path.contains(".") ? path : "hyperparams." + path)
                    + " must be a number, got " + (v == null ? "nothing" : v));
        }
        return ((Number) v).doubleValue();
    }

    private static long whole(Map<String, Object> m, String path) {
        double d = number(m, path);
        if (d != Math.rint(d) || Math.abs(d) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(path + " must be a whole number, got " + m.get(path.substring(path.lastIndexOf('.') + 1)));
        }
        return (long) d;
    }

    private static String text(Map<String, Object> m, String path) {
        Object v = m.get(path.substring(path.lastIndexOf('.') + 1));
        if (!(v instanceof String)) {
            throw new IllegalArgumentException(path + " must be a string, got " + (v == null ? "nothing" : v));
        }
        return (String) v;
    }

    private static boolean flag(Map<String, Object> m, String key, boolean dflt) {
        if (!m.containsKey(key)) {
            return dflt;
        }
        Object v = m.get(key);
        if (!(v instanceof Boolean)) {
            throw new IllegalArgumentException("hyperparams." + key + " must be true or false, got " + v);
        }
        return (Boolean) v;
    }
}

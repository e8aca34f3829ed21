package io.fusedopt;

import io.fusedopt.core.Tensor;
import io.fusedopt.schedule.Schedule;
import io.fusedopt.schedule.Schedules;
import io.fusedopt.rule.Algorithm;
import io.fusedopt.rule.HyperParam;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds optimizers from, and describes them as, the plain maps of the golden case format
 * ({@code optimizer}, {@code hyperparams}, {@code schedule}, {@code lookahead}); used by {@code verify}, checkpoints
 * and tests.
 */
public final class OptimizerSpec {
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
        OptimizerBuilder<?> b = Optimizers.named(id);
        Algorithm algorithm = b.algorithm();
        for (Map.Entry<String, Object> e : hyperparams.entrySet()) {
            HyperParam p = algorithm.param(e.getKey());
            if (p == null) {
                List<String> keys = new ArrayList<>();
                algorithm.params().forEach(x -> keys.add(x.key()));
                java.util.Collections.sort(keys);
                throw new IllegalArgumentException("hyperparams." + e.getKey() + " is not a hyperparameter of " + id
                        + "; expected " + keys);
            }
            try {
                b.set(e.getKey(), e.getValue());
            } catch (IllegalArgumentException x) {
                throw new IllegalArgumentException("hyperparams." + x.getMessage(), x);
            }
        }
        if (schedule != null) {
            b.schedule(Schedules.fromSpec(schedule));
        }
        if (lookahead != null) {
            b.lookahead((int) whole(lookahead, "lookahead.k"), number(lookahead, "lookahead.alpha"));
        }
        return b;
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
}

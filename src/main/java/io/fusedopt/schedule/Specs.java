package io.fusedopt.schedule;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Writes and reads the {@code schedule} objects of the golden FORMAT.md. Every error names the
 * key and the value that was read, because a spec usually comes from a file a person wrote.
 */
final class Specs {
    private Specs() {
    }

    static final String TYPE = "type";
    static final String STEP_UNIT = "step_unit";
    static final String STEPS_PER_EPOCH = "steps_per_epoch";
    static final String UNIT_STEP = "step";
    static final String LINEAR_WARMUP_COSINE = "linear_warmup_cosine";

    /** The parameter keys of each type, in the order {@link Schedule#toSpec} writes them. */
    private static final Map<String, List<String>> PARAMETERS = Map.ofEntries(
            Map.entry(Constant.TYPE, List.of()),
            Map.entry(StepLr.TYPE, List.of("step_size", "gamma")),
            Map.entry(MultiStepLr.TYPE, List.of("milestones", "gamma")),
            Map.entry(ExponentialLr.TYPE, List.of("gamma")),
            Map.entry(CosineAnnealingLr.TYPE, List.of("T_max", "eta_min")),
            Map.entry(CosineWarmRestarts.TYPE, List.of("T_0", "T_mult", "eta_min")),
            Map.entry(LinearWarmup.TYPE, List.of("start_factor", "end_factor", "total_iters")),
            Map.entry(Sequential.TYPE, List.of("first", "milestone", "then")),
            Map.entry(LINEAR_WARMUP_COSINE, List.of("start_factor", "end_factor", "total_iters",
                    "milestone", "T_max", "eta_min")),
            Map.entry(OneCycleLr.TYPE, List.of("max_lr", "total_steps", "pct_start", "anneal_strategy",
                    "div_factor", "final_div_factor", "three_phase", "cycle_momentum")),
            Map.entry(PolynomialLr.TYPE, List.of("total_iters", "power")));

    /** Spec key of each Java argument name, to point a factory's complaint at the right key. */
    private static final Map<String, String> KEY_OF_ARGUMENT = Map.ofEntries(
            Map.entry("stepSize", "step_size"), Map.entry("gamma", "gamma"),
            Map.entry("milestones", "milestones"), Map.entry("tMax", "T_max"),
            Map.entry("etaMin", "eta_min"), Map.entry("t0", "T_0"), Map.entry("tMult", "T_mult"),
            Map.entry("startFactor", "start_factor"), Map.entry("endFactor", "end_factor"),
            Map.entry("totalIters", "total_iters"), Map.entry("milestone", "milestone"),
            Map.entry("first", "first"), Map.entry("then", "then"), Map.entry("maxLr", "max_lr"),
            Map.entry("totalSteps", "total_steps"), Map.entry("pctStart", "pct_start"),
            Map.entry("divFactor", "div_factor"), Map.entry("finalDivFactor", "final_div_factor"),
            Map.entry("power", "power"), Map.entry("stepsPerEpoch", STEPS_PER_EPOCH),
            Map.entry("schedule", TYPE));

    /** An unmodifiable spec {@code {type, k1: v1, …, step_unit: "step"}}. */
    static Map<String, Object> spec(String type, Object... keysAndValues) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put(TYPE, type);
        for (int i = 0; i < keysAndValues.length; i += 2) {
            m.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        m.put(STEP_UNIT, UNIT_STEP);
        return Collections.unmodifiableMap(m);
    }

    /** {@code inner} with its step unit replaced by {@code unit} and {@code stepsPerEpoch}. */
    static Map<String, Object> withUnit(Map<String, Object> inner, String unit, long stepsPerEpoch) {
        Map<String, Object> m = new LinkedHashMap<>(inner);
        m.remove(STEP_UNIT);
        m.remove(STEPS_PER_EPOCH);
        m.put(STEP_UNIT, unit);
        m.put(STEPS_PER_EPOCH, stepsPerEpoch);
        return Collections.unmodifiableMap(m);
    }

    /** See {@link Schedules#fromSpec}. */
    static Schedule parse(Map<String, ?> spec) {
        if (spec == null) {
            throw new IllegalArgumentException("schedule spec must be non-null, got null");
        }
        Object typeValue = spec.get(TYPE);
        if (!(typeValue instanceof String type)) {
            throw new IllegalArgumentException(typeValue == null
                    ? "schedule spec is missing key \"type\"; got keys " + spec.keySet()
                    : "schedule key \"type\" must be a string, got " + render(typeValue));
        }
        List<String> parameters = PARAMETERS.get(type);
        if (parameters == null) {
            throw new IllegalArgumentException("schedule key \"type\" has unknown value " + render(type)
                    + "; known types: " + new TreeSet<>(PARAMETERS.keySet()));
        }
        Set<String> allowed = new LinkedHashSet<>();
        allowed.add(TYPE);
        allowed.addAll(parameters);
        allowed.add(STEP_UNIT);
        allowed.add(STEPS_PER_EPOCH);
        for (Map.Entry<String, ?> e : spec.entrySet()) {
            if (!allowed.contains(e.getKey())) {
                throw new IllegalArgumentException("schedule key " + render(e.getKey()) + " (value "
                        + render(e.getValue()) + ") is not a key of type " + render(type)
                        + "; allowed keys: " + allowed);
            }
        }
        Reader r = new Reader(spec, type);
        Schedule base;
        try {
            base = build(type, r);
        } catch (Check.InvalidArgument e) {
            throw r.invalid(KEY_OF_ARGUMENT.getOrDefault(e.argument(), e.argument()), e);
        }
        String unit = r.optionalString(STEP_UNIT, UNIT_STEP);
        switch (unit) {
            case UNIT_STEP -> {
                if (spec.containsKey(STEPS_PER_EPOCH)) {
                    throw new IllegalArgumentException("schedule key \"steps_per_epoch\" (value "
                            + render(spec.get(STEPS_PER_EPOCH)) + ") is only valid with step_unit \""
                            + PerBatch.UNIT + "\" or \"" + PerEpoch.UNIT + "\", got step_unit \"step\"");
                }
                return base;
            }
            case PerBatch.UNIT, PerEpoch.UNIT -> {
                long n = r.integer(STEPS_PER_EPOCH);
                try {
                    return unit.equals(PerBatch.UNIT) ? Schedules.perBatch(base, n)
                            : Schedules.perEpoch(base, n);
                } catch (Check.InvalidArgument e) {
                    throw r.invalid(KEY_OF_ARGUMENT.getOrDefault(e.argument(), e.argument()), e);
                }
            }
            default -> throw new IllegalArgumentException("schedule key \"step_unit\" has unknown value "
                    + render(unit) + "; expected \"step\", \"" + PerBatch.UNIT + "\" or \""
                    + PerEpoch.UNIT + "\"");
        }
    }

    private static Schedule build(String type, Reader r) {
        return switch (type) {
            case Constant.TYPE -> Schedules.constant();
            case StepLr.TYPE -> Schedules.stepLr(r.integer("step_size"), r.real("gamma"));
            case MultiStepLr.TYPE -> Schedules.multiStepLr(r.integers("milestones"), r.real("gamma"));
            case ExponentialLr.TYPE -> Schedules.exponentialLr(r.real("gamma"));
            case CosineAnnealingLr.TYPE ->
                    Schedules.cosineAnnealing(r.integer("T_max"), r.real("eta_min"));
            case CosineWarmRestarts.TYPE ->
                    Schedules.sgdr(r.integer("T_0"), r.integer("T_mult"), r.real("eta_min"));
            case LinearWarmup.TYPE -> Schedules.linearWarmup(r.real("start_factor"),
                    r.real("end_factor"), r.integer("total_iters"));
            case Sequential.TYPE ->
                    Schedules.sequential(r.nested("first"), r.integer("milestone"), r.nested("then"));
            case LINEAR_WARMUP_COSINE -> Schedules.linearWarmupCosine(r.real("start_factor"),
                    r.real("end_factor"), r.integer("total_iters"), r.integer("milestone"),
                    r.integer("T_max"), r.real("eta_min"));
            case OneCycleLr.TYPE -> {
                r.require("anneal_strategy", "cos", "only cosine annealing is implemented");
                r.require("three_phase", false, "only the two-phase cycle is implemented");
                r.require("cycle_momentum", false,
                        "a schedule yields only the learning rate; momentum is not cycled");
                yield Schedules.oneCycle(r.real("max_lr"), r.integer("total_steps"),
                        r.real("pct_start"), r.real("div_factor"), r.real("final_div_factor"));
            }
            case PolynomialLr.TYPE -> Schedules.polynomial(r.integer("total_iters"), r.real("power"));
            default -> throw new IllegalStateException("type listed but not built: " + type);
        };
    }

    static String render(Object value) {
        if (value instanceof String s) {
            return "\"" + s + "\"";
        }
        return String.valueOf(value);
    }

    /** Typed access to the keys of one spec, with errors that name the key and its value. */
    private record Reader(Map<String, ?> spec, String type) {
        private Object get(String key) {
            if (!spec.containsKey(key) || spec.get(key) == null) {
                throw new IllegalArgumentException("schedule spec of type " + render(type)
                        + " is missing key " + render(key) + (spec.containsKey(key) ? " (value null)" : ""));
            }
            return spec.get(key);
        }

        IllegalArgumentException invalid(String key, RuntimeException cause) {
            return new IllegalArgumentException("schedule key " + render(key) + " = "
                    + render(spec.get(key)) + " is invalid for type " + render(type) + ": "
                    + cause.getMessage(), cause);
        }

        private IllegalArgumentException wrongType(String key, String expected) {
            Object v = spec.get(key);
            return new IllegalArgumentException("schedule key " + render(key) + " must be " + expected
                    + ", got " + render(v) + " (" + v.getClass().getSimpleName() + ")");
        }

        double real(String key) {
            if (get(key) instanceof Number n) {
                return n.doubleValue();
            }
            throw wrongType(key, "a number");
        }

        long integer(String key) {
            Long v = asLong(get(key));
            if (v == null) {
                throw wrongType(key, "an integer in the long range");
            }
            return v;
        }

        long[] integers(String key) {
            if (!(get(key) instanceof List<?> list)) {
                throw wrongType(key, "a list of integers");
            }
            long[] out = new long[list.size()];
            for (int i = 0; i < out.length; i++) {
                Long v = asLong(list.get(i));
                if (v == null) {
                    throw new IllegalArgumentException("schedule key " + render(key)
                            + " must be a list of integers, got " + list + " (element " + i + " is "
                            + render(list.get(i)) + ")");
                }
                out[i] = v;
            }
            return out;
        }

        String optionalString(String key, String fallback) {
            if (!spec.containsKey(key)) {
                return fallback;
            }
            if (get(key) instanceof String s) {
                return s;
            }
            throw wrongType(key, "a string");
        }

        /** An optional key that, when present, must hold exactly {@code expected}. */
        void require(String key, Object expected, String why) {
            if (spec.containsKey(key) && !expected.equals(spec.get(key))) {
                throw new IllegalArgumentException("schedule key " + render(key) + " = "
                        + render(spec.get(key)) + " is not supported, only " + render(expected) + ": " + why);
            }
        }

        Schedule nested(String key) {
            if (!(get(key) instanceof Map<?, ?> m)) {
                throw wrongType(key, "a schedule object");
            }
            Map<String, Object> copy = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                copy.put(String.valueOf(e.getKey()), e.getValue());
            }
            try {
                return parse(copy);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("in schedule key " + render(key) + ": "
                        + e.getMessage(), e);
            }
        }

        /** The value as a long if it is an integer in range (also 15.0 written as a float), else null. */
        private static Long asLong(Object v) {
            if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
                return ((Number) v).longValue();
            }
            if (v instanceof BigInteger b) {
                return b.bitLength() < 64 ? b.longValue() : null;
            }
            if (v instanceof Double || v instanceof Float || v instanceof BigDecimal) {
                try {
                    return new BigDecimal(v.toString()).longValueExact();
                } catch (ArithmeticException | NumberFormatException notIntegral) {
                    return null;
                }
            }
            return null;
        }
    }
}

package io.fusedopt.rule;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The validated hyperparameters of one parameter group of one {@link Algorithm}, in the algorithm's key order.
 * Immutable. Rules read them once, in their constructor, into their own typed record.
 */
public final class HyperValues {
    private final Algorithm algorithm;
    private final Map<String, Object> values;

    HyperValues(Algorithm algorithm, Map<String, Object> values) {
        this.algorithm = algorithm;
        this.values = Collections.unmodifiableMap(values);
    }

    /** The algorithm these values belong to. */
    public Algorithm algorithm() {
        return algorithm;
    }

    /**
     * The number under {@code key}.
     *
     * @throws IllegalArgumentException when the algorithm has no such number
     */
    public double number(String key) {
        Object v = get(key);
        if (!(v instanceof Double d)) {
            throw new IllegalArgumentException(key + " of " + algorithm.id() + " is not a number");
        }
        return d;
    }

    /**
     * Component {@code i} of the list of numbers under {@code key}.
     *
     * @throws IllegalArgumentException when the algorithm has no such list
     */
    public double number(String key, int i) {
        Object v = get(key);
        if (!(v instanceof List<?> l)) {
            throw new IllegalArgumentException(key + " of " + algorithm.id() + " is not a list of numbers");
        }
        return (Double) l.get(i);
    }

    /**
     * The flag under {@code key}.
     *
     * @throws IllegalArgumentException when the algorithm has no such flag
     */
    public boolean flag(String key) {
        Object v = get(key);
        if (!(v instanceof Boolean b)) {
            throw new IllegalArgumentException(key + " of " + algorithm.id() + " is not a flag");
        }
        return b;
    }

    /**
     * The value under {@code key} ({@link Double}, {@code List<Double>} or {@link Boolean}).
     *
     * @throws IllegalArgumentException when the algorithm has no such key
     */
    public Object get(String key) {
        Object v = values.get(key);
        if (v == null) {
            throw new IllegalArgumentException(algorithm.id() + " has no hyperparameter '" + key + "'");
        }
        return v;
    }

    /** Every value keyed as in golden cases and checkpoints, in the algorithm's fixed key order; a copy. */
    public Map<String, Object> toMap() {
        return new LinkedHashMap<>(values);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HyperValues h && h.algorithm == algorithm && h.values.equals(values);
    }

    @Override
    public int hashCode() {
        return values.hashCode();
    }

    @Override
    public String toString() {
        return algorithm.id() + values;
    }
}

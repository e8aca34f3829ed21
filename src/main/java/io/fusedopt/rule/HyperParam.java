package io.fusedopt.rule;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * One hyperparameter of an {@link Algorithm}: its key in golden cases and checkpoints ({@code "betas"}), the names
 * its components go by in builders and messages ({@code beta1}, {@code beta2}), its kind, its default and the range
 * every component must lie in. A <em>structural</em> hyperparameter decides the state slots or the kernels
 * ({@code amsgrad}, {@code nesterov}) and must be the same in every parameter group.
 *
 * <p>Ranges are checked on the value the kernels will see as well as on the double: a value whose float is infinite
 * or whose float is 0 where the range excludes 0 (an {@code eps} of 1e-50) is rejected.
 */
public final class HyperParam {
    /** What a hyperparameter holds. */
    public enum Kind {
        /** One number ({@link Double}). */
        NUMBER,
        /** A fixed number of numbers ({@code List<Double>}), such as {@code betas}. */
        NUMBERS,
        /** {@code true} or {@code false} ({@link Boolean}). */
        FLAG
    }

    /** The range every numeric component must lie in. */
    public enum Range {
        /** Finite and {@code >= 0}. */
        NON_NEGATIVE("finite and >= 0"),
        /** Finite and {@code > 0}. */
        POSITIVE("finite and > 0"),
        /** In {@code [0, 1)}. */
        UNIT("in [0, 1)"),
        /** In {@code [0, 1]}. */
        CLOSED_UNIT("in [0, 1]"),
        /** Any finite value. */
        FINITE("finite"),
        /** A whole number {@code >= 0} (a count of steps). */
        COUNT("a whole number >= 0");

        private final String words;

        Range(String words) {
            this.words = words;
        }

        boolean contains(double v) {
            switch (this) {
                case NON_NEGATIVE: return Double.isFinite(v) && v >= 0;
                case POSITIVE: return Double.isFinite(v) && v > 0;
                case UNIT: return v >= 0 && v < 1;
                case CLOSED_UNIT: return v >= 0 && v <= 1;
                case COUNT: return Double.isFinite(v) && v >= 0 && v == Math.rint(v);
                default: return Double.isFinite(v);
            }
        }

        /** The range in words, as messages print it ({@code "in [0, 1)"}). */
        public String words() {
            return words;
        }
    }

    private final String key;
    private final List<String> names;
    private final Kind kind;
    private final Object defaultValue;
    private final Range range;
    private final boolean structural;
    private final Object nullMeans;

    private HyperParam(String key, List<String> names, Kind kind, Object defaultValue, Range range,
            boolean structural) {
        this(key, names, kind, defaultValue, range, structural, null);
    }

    private HyperParam(String key, List<String> names, Kind kind, Object defaultValue, Range range,
            boolean structural, Object nullMeans) {
        this.key = key;
        this.names = List.copyOf(names);
        this.kind = kind;
        this.defaultValue = defaultValue;
        this.range = range;
        this.structural = structural;
        this.nullMeans = nullMeans;
    }

    /** A number; {@code name} is the builder's name for it ({@code weightDecay} for key {@code weight_decay}). */
    public static HyperParam number(String key, String name, double defaultValue, Range range) {
        return new HyperParam(key, List.of(name), Kind.NUMBER, defaultValue, range, false);
    }

    /** A list of numbers, one name per component, each in {@code range}. */
    public static HyperParam numbers(String key, List<String> names, List<Double> defaults, Range range) {
        if (names.size() != defaults.size() || names.isEmpty()) {
            throw new IllegalArgumentException("hyperparameter " + key + " needs one name per default value");
        }
        return new HyperParam(key, names, Kind.NUMBERS, List.copyOf(defaults), range, false);
    }

    /** A flag; {@code structural} when it decides the slots or kernels. */
    public static HyperParam flag(String key, String name, boolean defaultValue, boolean structural) {
        return new HyperParam(key, List.of(name), Kind.FLAG, defaultValue, null, structural);
    }

    /** A copy with another default value (same kind). */
    public HyperParam withDefault(Object value) {
        return new HyperParam(key, names, kind, normalize(value), range, structural, nullMeans);
    }

    /** A copy that is structural: it must be the same in every group. */
    public HyperParam asStructural() {
        return new HyperParam(key, names, kind, defaultValue, range, true, nullMeans);
    }

    /**
     * A copy that reads {@code null} (a golden case's or optax's "none") as {@code value}, so that
     * {@code warmup_steps: null} is the same setting as {@code warmup_steps: 0}.
     */
    public HyperParam withNullAs(Object value) {
        HyperParam p = new HyperParam(key, names, kind, defaultValue, range, structural, null);
        return new HyperParam(key, names, kind, defaultValue, range, structural, p.normalize(value));
    }

    /** The key in golden cases and checkpoints. */
    public String key() {
        return key;
    }

    /** The builder's names of the components. */
    public List<String> names() {
        return names;
    }

    /** The kind. */
    public Kind kind() {
        return kind;
    }

    /** The default value: a {@link Double}, an unmodifiable {@code List<Double>} or a {@link Boolean}. */
    public Object defaultValue() {
        return defaultValue;
    }

    /** The range of the numeric components; null for a flag. */
    public Range range() {
        return range;
    }

    /** Whether the value must agree across parameter groups. */
    public boolean structural() {
        return structural;
    }

    /**
     * Converts {@code value} to this parameter's representation: a {@link Number} for a number, a list (or array)
     * of the right number of numbers, a {@link Boolean} for a flag; {@code null} where {@link #withNullAs} allows it.
     *
     * @throws IllegalArgumentException naming the key when the value has the wrong shape or type
     */
    public Object normalize(Object value) {
        if (value == null && nullMeans != null) {
            return nullMeans;
        }
        switch (kind) {
            case NUMBER:
                if (value instanceof Number n) {
                    return n.doubleValue();
                }
                throw new IllegalArgumentException(key + " must be a number, got " + describe(value));
            case FLAG:
                if (value instanceof Boolean b) {
                    return b;
                }
                throw new IllegalArgumentException(key + " must be true or false, got " + describe(value));
            default:
                List<?> list = value instanceof double[] a ? boxed(a) : value instanceof List<?> l ? l : null;
                if (list == null || list.size() != names.size()) {
                    throw new IllegalArgumentException(key + " must be a list of " + names.size() + " numbers, got "
                            + describe(value));
                }
                List<Double> out = new ArrayList<>();
                for (Object o : list) {
                    if (!(o instanceof Number n)) {
                        throw new IllegalArgumentException(key + " must be a list of " + names.size()
                                + " numbers, got " + describe(value));
                    }
                    out.add(n.doubleValue());
                }
                return Collections.unmodifiableList(out);
        }
    }

    /**
     * Checks a normalized value's range, as a double and as the float the kernels read.
     *
     * @throws IllegalArgumentException {@code "<name> must be <range>, got <value>"}
     */
    void check(Object value) {
        if (kind == Kind.FLAG) {
            return;
        }
        List<?> parts = kind == Kind.NUMBER ? List.of(value) : (List<?>) value;
        for (int i = 0; i < parts.size(); i++) {
            double v = (Double) parts.get(i);
            if (!range.contains(v)) {
                throw new IllegalArgumentException(names.get(i) + " must be " + range.words() + ", got " + v);
            }
            float f = (float) v;
            if (Float.isInfinite(f) || (f == 0f && v != 0 && !range.contains(0))) {
                throw new IllegalArgumentException(names.get(i) + " must be " + range.words()
                        + " also as a float (the kernels compute in float32), got " + v + ", which is " + f
                        + " as a float");
            }
        }
    }

    private static List<Double> boxed(double[] a) {
        List<Double> l = new ArrayList<>();
        for (double d : a) {
            l.add(d);
        }
        return l;
    }

    private static String describe(Object v) {
        return v == null ? "nothing" : v instanceof double[] a ? java.util.Arrays.toString(a) : String.valueOf(v);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HyperParam p && p.key.equals(key) && p.kind == kind && p.names.equals(names)
                && Objects.equals(p.defaultValue, defaultValue) && p.range == range && p.structural == structural
                && Objects.equals(p.nullMeans, nullMeans);
    }

    @Override
    public int hashCode() {
        return key.hashCode();
    }

    @Override
    public String toString() {
        return key;
    }
}

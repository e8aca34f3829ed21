package io.fusedopt.rule;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Everything fusedopt knows about one optimizer algorithm, in one place: its id and aliases, its hyperparameters
 * with defaults and ranges, how to build its {@link Rule}, its named configurations (the first is the one
 * {@code bench} and the demo use), where its kernels live, and the words the documentation shows. Every list of
 * algorithms in the library, the command line and the tests derives from {@link Algorithms#all()}.
 */
public final class Algorithm {
    /** Builds the rule of one optimizer from the validated values of each group. */
    @FunctionalInterface
    public interface Factory {
        /**
         * Creates the rule.
         *
         * @param algorithm the algorithm the values belong to
         * @param groups the values of each group, the default group first
         * @param names the group names, in the same order
         * @return the rule
         * @throws IllegalArgumentException for combinations the rule rejects, naming the group and values
         */
        Rule create(Algorithm algorithm, List<HyperValues> groups, List<String> names);
    }

    /**
     * A named configuration: settings applied over the defaults ({@code sgd} is SGD with momentum 0.9).
     *
     * @param name the configuration's name in {@code bench}
     * @param settings values by key, over the defaults
     * @param bytesPerParameter the memory traffic of one step per parameter, as the algorithm's author counts it
     *     (reads and writes of float32 buffers); a test holds it against what the step's passes move
     */
    public record Variant(String name, Map<String, Object> settings, int bytesPerParameter) {
        /** Copies the settings, keeping their order. */
        public Variant {
            settings = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(settings));
        }
    }

    /**
     * How the demo shows the algorithm.
     *
     * @param label the name in the table and the chart legends
     * @param lr the base learning rate on the digits MLP
     * @param byDefault whether a plain {@code demo} run includes it
     */
    public record Demo(String label, double lr, boolean byDefault) {
    }

    private final String id;
    private final String title;
    private final String reference;
    private final String module;
    private final List<HyperParam> params;
    private final Map<String, Map<String, Object>> aliases;
    private final List<Variant> variants;
    private final Demo demo;
    private final Factory factory;

    private Algorithm(Builder b) {
        this.id = b.id;
        this.title = b.title;
        this.reference = b.reference;
        this.module = b.module;
        this.params = List.copyOf(b.params);
        this.aliases = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(b.aliases));
        if (b.variants.isEmpty()) {
            throw new IllegalArgumentException(b.id + " needs at least one named configuration");
        }
        this.variants = List.copyOf(b.variants);
        this.demo = b.demo;
        this.factory = Objects.requireNonNull(b.factory, "factory");
        Set<String> keys = new LinkedHashSet<>();
        for (HyperParam p : params) {
            if (!keys.add(p.key())) {
                throw new IllegalArgumentException(id + " declares hyperparameter " + p.key() + " twice");
            }
        }
        if (!keys.contains("lr")) {
            throw new IllegalArgumentException(id + " needs an lr hyperparameter: schedules scale it");
        }
    }

    /** Starts the description of algorithm {@code id}, whose kernels live in {@code cuda/<module>.cu}. */
    public static Builder builder(String id, String module) {
        return new Builder(id, module);
    }

    /** The id, as golden cases and checkpoints name it ({@code adamw}). */
    public String id() {
        return id;
    }

    /** The algorithm's name and variants in words, for the documentation ({@code "Adam with AMSGrad"}). */
    public String title() {
        return title;
    }

    /** The paper or reference implementation it follows. */
    public String reference() {
        return reference;
    }

    /** The kernel module: the entries live in {@code cuda/<module>.cu}. */
    public String module() {
        return module;
    }

    /** The hyperparameters, in the fixed order of golden cases and checkpoints. */
    public List<HyperParam> params() {
        return params;
    }

    /** The hyperparameter with key {@code key}, or null. */
    public HyperParam param(String key) {
        for (HyperParam p : params) {
            if (p.key().equals(key)) {
                return p;
            }
        }
        return null;
    }

    /** Other names that select this algorithm, each with the settings it implies ({@code amsbound}). */
    public Map<String, Map<String, Object>> aliases() {
        return aliases;
    }

    /** The named configurations; the first is the algorithm's own. */
    public List<Variant> variants() {
        return variants;
    }

    /** How the demo shows it, or null when the demo does not. */
    public Demo demo() {
        return demo;
    }

    /**
     * Validates one group's settings over the defaults.
     *
     * @param settings values by key ({@link HyperParam#normalize} forms); may be empty
     * @param group the group name for messages, empty for the default group
     * @return the values in key order
     * @throws IllegalArgumentException naming the group, the parameter and the value: an unknown key, a value of
     *     the wrong type, or one out of range
     */
    public HyperValues values(Map<String, Object> settings, String group) {
        String prefix = group == null || group.isEmpty() ? "" : "group '" + group + "': ";
        for (String key : settings.keySet()) {
            if (param(key) == null) {
                throw new IllegalArgumentException(prefix + key + " is not a hyperparameter of " + id
                        + "; expected one of " + keys());
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        for (HyperParam p : params) {
            Object v = settings.containsKey(p.key()) ? settings.get(p.key()) : p.defaultValue();
            try {
                v = p.normalize(v);
                p.check(v);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(prefix + e.getMessage(), e);
            }
            out.put(p.key(), v);
        }
        return new HyperValues(this, out);
    }

    /**
     * Builds the rule: checks that structural hyperparameters agree across groups, then calls the factory.
     *
     * @throws IllegalArgumentException naming the group and value where they disagree, or what the rule rejects
     */
    public Rule create(List<HyperValues> groups, List<String> names) {
        if (groups.isEmpty() || groups.size() != names.size()) {
            throw new IllegalArgumentException("a rule needs at least one group and one name per group, got "
                    + groups.size() + " groups and " + names.size() + " names");
        }
        for (int g = 0; g < groups.size(); g++) {
            if (groups.get(g).algorithm() != this) {
                throw new IllegalArgumentException("group '" + names.get(g) + "' holds values of "
                        + groups.get(g).algorithm().id() + ", not " + id);
            }
            for (HyperParam p : params) {
                Object mine = groups.get(g).get(p.key()), first = groups.get(0).get(p.key());
                if (p.structural() && !mine.equals(first)) {
                    throw new IllegalArgumentException("group '" + names.get(g) + "' changes " + p.key() + "=" + mine
                            + " to differ from the default group's " + p.key() + "=" + first
                            + "; it decides the state slots and kernels, so it must be the same in every group");
                }
            }
        }
        return factory.create(this, groups, names);
    }

    /** A one-group rule with the default values and {@code settings}, as the named configurations use. */
    public Rule create(Map<String, Object> settings) {
        return create(List.of(values(settings, "")), List.of("default"));
    }

    /** The kernel families of every configuration ({@link Rule#kernelFamily()}), in first-seen order. */
    public List<String> kernelFamilies() {
        Set<String> out = new LinkedHashSet<>();
        for (Variant v : variants) {
            out.add(create(v.settings()).kernelFamily());
        }
        return new ArrayList<>(out);
    }

    private List<String> keys() {
        List<String> k = new ArrayList<>();
        for (HyperParam p : params) {
            k.add(p.key());
        }
        return k;
    }

    @Override
    public String toString() {
        return id;
    }

    /** Collects an {@link Algorithm}'s description. */
    public static final class Builder {
        private final String id;
        private final String module;
        private String title;
        private String reference = "";
        private final List<HyperParam> params = new ArrayList<>();
        private final Map<String, Map<String, Object>> aliases = new LinkedHashMap<>();
        private final List<Variant> variants = new ArrayList<>();
        private Demo demo;
        private Factory factory;

        private Builder(String id, String module) {
            if (!id.equals(id.toLowerCase(Locale.ROOT)) || id.isEmpty()) {
                throw new IllegalArgumentException("an algorithm id is lower case and non-empty, got '" + id + "'");
            }
            this.id = id;
            this.module = module;
            this.title = id;
        }

        /** Sets the title shown in the documentation. */
        public Builder title(String value) {
            this.title = value;
            return this;
        }

        /** Sets the reference (paper or implementation). */
        public Builder reference(String value) {
            this.reference = value;
            return this;
        }

        /** Adds hyperparameters, in order. */
        public Builder params(HyperParam... p) {
            params.addAll(List.of(p));
            return this;
        }

        /** Adds an alias with the settings it implies. */
        public Builder alias(String name, Map<String, Object> settings) {
            aliases.put(name, settings);
            return this;
        }

        /** Adds a named configuration moving {@code bytes} per parameter per step; the first is the algorithm's own. */
        public Builder variant(String name, Map<String, Object> settings, int bytes) {
            variants.add(new Variant(name, settings, bytes));
            return this;
        }

        /** Shows the algorithm in the demo. */
        public Builder demo(String label, double lr, boolean byDefault) {
            this.demo = new Demo(label, lr, byDefault);
            return this;
        }

        /** Sets how the rule is built. */
        public Builder factory(Factory value) {
            this.factory = value;
            return this;
        }

        /** The description. */
        public Algorithm build() {
            return new Algorithm(this);
        }
    }
}

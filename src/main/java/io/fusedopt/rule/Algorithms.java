package io.fusedopt.rule;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The registry: every algorithm fusedopt implements, in the order the documentation, {@code bench} and the demo
 * list them. Adding an algorithm is one line here plus its rule class and its kernels; everything that lists
 * algorithms (the builders by name, checkpoint and golden-case descriptions, the command line, the kernel table,
 * the tests) reads this list.
 */
public final class Algorithms {
    private static final List<Algorithm> ALL = List.of(
            Sgd.SGD, Sgd.SGDW, Adam.ADAM, Adam.ADAMW, Adagrad.ALGORITHM, RAdam.ALGORITHM, NAdam.ALGORITHM,
            AdaBelief.ALGORITHM, AdaBound.ALGORITHM, Yogi.ALGORITHM, Lamb.ALGORITHM, Swats.ALGORITHM, Lion.ALGORITHM,
            Adan.ALGORITHM, Lars.ALGORITHM, ScheduleFreeAdamW.ALGORITHM, Adafactor.ALGORITHM, Muon.ALGORITHM);

    private static final Map<String, Algorithm> BY_NAME = index();

    private Algorithms() {
    }

    private static Map<String, Algorithm> index() {
        Map<String, Algorithm> m = new LinkedHashMap<>();
        for (Algorithm a : ALL) {
            put(m, a.id(), a);
            for (String alias : a.aliases().keySet()) {
                put(m, alias, a);
            }
        }
        return m;
    }

    private static void put(Map<String, Algorithm> m, String name, Algorithm a) {
        if (m.putIfAbsent(name, a) != null) {
            throw new IllegalStateException("two algorithms are named '" + name + "'");
        }
    }

    /** Every algorithm, in documentation order. */
    public static List<Algorithm> all() {
        return ALL;
    }

    /** The ids of every algorithm, in order. */
    public static List<String> ids() {
        List<String> out = new ArrayList<>();
        for (Algorithm a : ALL) {
            out.add(a.id());
        }
        return out;
    }

    /** Every name {@link #named} accepts: the ids, then the aliases. */
    public static List<String> names() {
        return List.copyOf(BY_NAME.keySet());
    }

    /**
     * The algorithm with id or alias {@code name} (case-insensitive).
     *
     * @throws IllegalArgumentException naming the value and the known names, for anything else
     */
    public static Algorithm named(String name) {
        Algorithm a = name == null ? null : BY_NAME.get(name.trim().toLowerCase(Locale.ROOT));
        if (a == null) {
            throw new IllegalArgumentException("unknown optimizer '" + name + "'; known: " + String.join(", ", names()));
        }
        return a;
    }

    /** The settings an alias implies ({@code amsbound} → {@code amsbound=true}); empty for an id. */
    public static Map<String, Object> aliasSettings(String name) {
        Algorithm a = named(name);
        Map<String, Object> s = a.aliases().get(name.trim().toLowerCase(Locale.ROOT));
        return s == null ? Map.of() : s;
    }
}

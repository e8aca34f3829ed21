package io.fusedopt.bench;

import io.fusedopt.OptimizerBuilder;
import io.fusedopt.Optimizers;
import io.fusedopt.rule.Algorithm;
import io.fusedopt.rule.Algorithms;
import java.util.ArrayList;
import java.util.List;

/**
 * The optimizer configurations {@code bench} knows, by name: every named configuration of every registered
 * algorithm ({@link Algorithm#variants()}), in registry order. An algorithm's first configuration carries its own
 * id; {@code sgd} and {@code sgdw} mean momentum 0.9, because SGD with momentum is the configuration worth
 * benchmarking, and plain SGD is {@code sgd-plain}.
 */
public final class BenchOptimizers {
    /** Every configuration, in the order {@code --optimizer all} runs them. */
    public static final List<String> NAMES = names();

    private BenchOptimizers() {
    }

    private static List<String> names() {
        List<String> out = new ArrayList<>();
        for (Algorithm a : Algorithms.all()) {
            for (Algorithm.Variant v : a.variants()) {
                out.add(v.name());
            }
        }
        return List.copyOf(out);
    }

    /**
     * The builder of configuration {@code name}.
     *
     * @throws IllegalArgumentException for a name not in {@link #NAMES}
     */
    public static OptimizerBuilder<?> builder(String name) {
        for (Algorithm a : Algorithms.all()) {
            for (Algorithm.Variant v : a.variants()) {
                if (v.name().equals(name)) {
                    OptimizerBuilder<?> b = Optimizers.of(a);
                    v.settings().forEach(b::set);
                    return b;
                }
            }
        }
        throw new IllegalArgumentException("unknown optimizer '" + name + "'; known: all, " + String.join(", ", NAMES));
    }

    /**
     * The configurations that {@code --optimizer spec} selects: all of them for {@code all}, else the one named.
     *
     * @throws IllegalArgumentException for an unknown name
     */
    public static List<String> select(String spec) {
        if ("all".equals(spec)) {
            return NAMES;
        }
        builder(spec);
        return List.of(spec);
    }
}

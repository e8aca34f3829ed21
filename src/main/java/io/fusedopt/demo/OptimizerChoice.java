package io.fusedopt.demo;

import io.fusedopt.OptimizerBuilder;
import io.fusedopt.Optimizers;
import io.fusedopt.rule.Algorithm;
import io.fusedopt.rule.Algorithms;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The optimizers the demo can compare, each with the base learning rate it uses on the digits MLP: one choice per
 * registered algorithm that describes its demo ({@link Algorithm#demo()}), in registry order, plus Lookahead around
 * Adam.
 *
 * <p>The Adam family keeps its textbook rate (Yogi its reference 0.01): with the default epochs and seed, half and
 * double that rate end within a point of it, at 96–98% test accuracy under both schedules. SGD's 0.05 was picked
 * from 0.02, 0.05 and 0.1 (all train well; 0.05 has the steadiest accuracy), and LAMB's 0.002 from 0.001 to 0.01
 * (at 0.01 its constant-rate loss climbs again after a few epochs, because the trust ratio scales every step
 * by the weight norm). Each algorithm runs its first named configuration (SGD: momentum 0.9).
 */
public final class OptimizerChoice {
    private static final List<OptimizerChoice> ALL = choices();

    /** Adam. */
    public static final OptimizerChoice ADAM = named("adam");
    /** Lookahead (k 5, α 0.5) around Adam. */
    public static final OptimizerChoice LOOKAHEAD = named("lookahead");

    private final String id;
    private final String label;
    private final double lr;
    private final Algorithm algorithm;
    private final boolean byDefault;

    private OptimizerChoice(String id, String label, double lr, Algorithm algorithm, boolean byDefault) {
        this.id = id;
        this.label = label;
        this.lr = lr;
        this.algorithm = algorithm;
        this.byDefault = byDefault;
    }

    private static List<OptimizerChoice> choices() {
        List<OptimizerChoice> out = new ArrayList<>();
        for (Algorithm a : Algorithms.all()) {
            Algorithm.Demo d = a.demo();
            if (d == null) {
                // Without a demo description the algorithm still runs, at its default rate.
                out.add(new OptimizerChoice(a.id(), a.id(), a.values(java.util.Map.of(), "").number("lr"), a, false));
            } else {
                out.add(new OptimizerChoice(a.id(), d.label(), d.lr(), a, d.byDefault()));
            }
        }
        out.add(new OptimizerChoice("lookahead", "Lookahead(Adam)", 1e-3, null, true));
        return List.copyOf(out);
    }

    /** The command-line name, e.g. {@code adamw}. */
    public String id() {
        return id;
    }

    /** The name shown in the table and the chart legends, e.g. {@code AdamW}. */
    public String label() {
        return label;
    }

    /** The base learning rate (before any schedule). */
    public double lr() {
        return lr;
    }

    /**
     * A builder for this optimizer at its base rate, without a schedule. Where the algorithm decays weights by
     * default (AdamW), the biases go in a {@code no_decay} group: decay on biases only pulls them to zero without
     * regularising anything, and exempting them is the usual practice that shows parameter groups at work.
     */
    public OptimizerBuilder<?> builder() {
        if (algorithm == null) {
            return Optimizers.adam().lr(lr).lookahead(5, 0.5);
        }
        OptimizerBuilder<?> b = Optimizers.of(algorithm);
        algorithm.variants().get(0).settings().forEach(b::set);
        b.lr(lr);
        if (algorithm.param("weight_decay") != null
                && algorithm.values(algorithm.variants().get(0).settings(), "").number("weight_decay") > 0) {
            b.group("no_decay", g -> g.weightDecay(0), Mlp.biasNames().toArray(new String[0]));
        }
        return b;
    }

    /** Whether this is an adaptive (Adam-family) method, which the demo expects to reach 95%; SGD is not. */
    public boolean adaptive() {
        return algorithm == null || algorithm.param("betas") != null;
    }

    /** Every choice, in table order. */
    public static List<OptimizerChoice> values() {
        return ALL;
    }

    /** The choices a plain {@code demo} run compares. */
    public static List<OptimizerChoice> defaults() {
        List<OptimizerChoice> out = new ArrayList<>();
        for (OptimizerChoice c : ALL) {
            if (c.byDefault) {
                out.add(c);
            }
        }
        return out;
    }

    /** The command-line names of all choices, in table order. */
    public static List<String> ids() {
        List<String> ids = new ArrayList<>();
        for (OptimizerChoice c : ALL) {
            ids.add(c.id);
        }
        return ids;
    }

    /**
     * The choice with command-line name {@code id} (case-insensitive, surrounding blanks ignored).
     *
     * @throws IllegalArgumentException naming the value and the known names, for anything else
     */
    public static OptimizerChoice named(String id) {
        String key = id == null ? "" : id.trim().toLowerCase(Locale.ROOT);
        for (OptimizerChoice c : ALL) {
            if (c.id.equals(key)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown optimizer '" + id + "'; known: " + String.join(", ", ids()));
    }

    /**
     * A stable position that picks the optimizer's colour: the default choices first, in table order, so that the
     * ten of a plain run get ten distinct colours, then the others.
     */
    public int ordinal() {
        List<OptimizerChoice> order = new ArrayList<>(defaults());
        for (OptimizerChoice c : ALL) {
            if (!c.byDefault) {
                order.add(c);
            }
        }
        return order.indexOf(this);
    }

    @Override
    public String toString() {
        return id;
    }
}

package io.fusedopt.demo;

import io.fusedopt.OptimizerBuilder;
import io.fusedopt.Optimizers;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The optimizers the demo compares, each with the base learning rate it uses on the digits MLP.
 *
 * <p>The Adam family keeps its textbook rate (Yogi its reference 0.01): with the default epochs and seed, half and
 * double that rate end within a point of it, at 96–98% test accuracy under both schedules. SGD's 0.05 was picked
 * from 0.02, 0.05 and 0.1 (all train well; 0.05 has the steadiest accuracy), and LAMB's 0.002 from 0.001 to 0.01
 * (at 0.01 its constant-rate loss climbs again after a few epochs, because the trust ratio scales every step
 * by the weight norm).
 */
public enum OptimizerChoice {
    /** SGD with momentum 0.9 (heavy ball, L2 decay off). */
    SGD("sgd", "SGD+momentum", 0.05),
    /** Adam. */
    ADAM("adam", "Adam", 1e-3),
    /** AdamW with decoupled weight decay 0.01, biases exempt. */
    ADAMW("adamw", "AdamW", 1e-3),
    /** AdaBelief (rectified, decoupled decay off). */
    ADABELIEF("adabelief", "AdaBelief", 1e-3),
    /** AdaBound, bounds converging to SGD at rate 0.1. */
    ADABOUND("adabound", "AdaBound", 1e-3),
    /** Yogi. */
    YOGI("yogi", "Yogi", 1e-2),
    /** RAdam. */
    RADAM("radam", "RAdam", 1e-3),
    /** LAMB, whose per-tensor trust ratio scales the step by the weight norm. */
    LAMB("lamb", "LAMB", 2e-3),
    /** SWATS, which switches each tensor from Adam to SGD. */
    SWATS("swats", "SWATS", 1e-3),
    /** Lookahead (k 5, α 0.5) around Adam. */
    LOOKAHEAD("lookahead", "Lookahead(Adam)", 1e-3);

    private final String id;
    private final String label;
    private final double lr;

    OptimizerChoice(String id, String label, double lr) {
        this.id = id;
        this.label = label;
        this.lr = lr;
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
     * A builder for this optimizer at its base rate, without a schedule; for AdamW with the biases in a
     * {@code no_decay} group.
     */
    public OptimizerBuilder<?> builder() {
        switch (this) {
            case SGD:
                return Optimizers.sgd().momentum(0.9).lr(lr);
            case ADAM:
                return Optimizers.adam().lr(lr);
            case ADAMW:
                // Decay on biases only pulls them to zero without regularising anything; exempting them is
                // the usual practice, and shows parameter groups at work.
                return Optimizers.adamW().lr(lr).weightDecay(1e-2)
                        .group("no_decay", g -> g.weightDecay(0), Mlp.biasNames().toArray(new String[0]));
            case ADABELIEF:
                return Optimizers.adaBelief().lr(lr);
            case ADABOUND:
                return Optimizers.adaBound().lr(lr).finalLr(0.1);
            case YOGI:
                return Optimizers.yogi().lr(lr);
            case RADAM:
                return Optimizers.radam().lr(lr);
            case LAMB:
                return Optimizers.lamb().lr(lr);
            case SWATS:
                return Optimizers.swats().lr(lr);
            case LOOKAHEAD:
                return Optimizers.adam().lr(lr).lookahead(5, 0.5);
            default:
                throw new AssertionError(this);
        }
    }

    /** Whether this is one of the adaptive (Adam-family) methods, which the demo expects to reach 95%. */
    public boolean adaptive() {
        return this != SGD;
    }

    /** The command-line names of all choices, in table order. */
    public static List<String> ids() {
        List<String> ids = new ArrayList<>();
        for (OptimizerChoice c : values()) {
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
        for (OptimizerChoice c : values()) {
            if (c.id.equals(key)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown optimizer '" + id + "'; known: " + String.join(", ", ids()));
    }
}

package io.fusedopt.bench;

import io.fusedopt.OptimizerBuilder;
import io.fusedopt.Optimizers;
import java.util.List;

/**
 * The optimizer configurations {@code bench} knows, by name. Every name of {@link Optimizers#NAMES} is accepted
 * with the library's defaults, except that {@code sgd} and {@code sgdw} mean momentum 0.9: SGD with momentum is
 * the configuration worth benchmarking, and plain SGD has its own name.
 *
 * <ul>
 *   <li>{@code sgd}, {@code sgdw}: momentum 0.9 (one state slot);</li>
 *   <li>{@code sgd-plain}: torch.optim.SGD's default, no momentum (no state);</li>
 *   <li>{@code adamw-amsgrad}: AdamW with the AMSGrad maximum (three slots);</li>
 *   <li>{@code amsbound}: AdaBound with the AMSGrad maximum;</li>
 *   <li>the other names: {@link Optimizers#named(String)}.</li>
 * </ul>
 */
public final class BenchOptimizers {
    /** Every configuration, in the order {@code --optimizer all} runs them. */
    public static final List<String> NAMES = List.of("sgd", "sgd-plain", "sgdw", "adam", "adamw", "adamw-amsgrad",
            "adagrad", "radam", "nadam", "adabelief", "adabound", "amsbound", "yogi", "lamb", "swats");

    /** SGD's momentum in the {@code sgd} and {@code sgdw} configurations. */
    public static final double SGD_MOMENTUM = 0.9;

    private BenchOptimizers() {
    }

    /**
     * The builder of configuration {@code name}.
     *
     * @throws IllegalArgumentException for a name not in {@link #NAMES}
     */
    public static OptimizerBuilder<?> builder(String name) {
        switch (name == null ? "" : name) {
            case "sgd":
                return Optimizers.sgd().momentum(SGD_MOMENTUM);
            case "sgdw":
                return Optimizers.sgdW().momentum(SGD_MOMENTUM);
            case "sgd-plain":
                return Optimizers.sgd();
            case "adamw-amsgrad":
                return Optimizers.adamW().amsgrad(true);
            default:
                if (!NAMES.contains(name)) {
                    throw new IllegalArgumentException("unknown optimizer '" + name + "'; known: all, "
                            + String.join(", ", NAMES));
                }
                return Optimizers.named(name);
        }
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

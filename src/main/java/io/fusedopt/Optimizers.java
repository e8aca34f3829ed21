package io.fusedopt;

import io.fusedopt.rule.AdaBelief;
import io.fusedopt.rule.AdaBound;
import io.fusedopt.rule.Adagrad;
import io.fusedopt.rule.Adam;
import io.fusedopt.rule.Algorithm;
import io.fusedopt.rule.Algorithms;
import io.fusedopt.rule.Lamb;
import io.fusedopt.rule.NAdam;
import io.fusedopt.rule.RAdam;
import io.fusedopt.rule.Sgd;
import io.fusedopt.rule.Swats;
import io.fusedopt.rule.Yogi;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Factories for every optimizer, each returning a builder with PyTorch's (or the reference implementation's)
 * defaults. Every algorithm of the registry ({@link Algorithms#all()}) is reachable by name through
 * {@link #named(String)} or {@link #of(Algorithm)}, whose builder sets hyperparameters by key
 * ({@code .set("betas", List.of(0.95, 0.98))}); the algorithms below also have typed builders.
 *
 * <pre>{@code
 * Optimizer opt = Optimizers.adamW().lr(1e-3).weightDecay(0.01)
 *         .schedule(Schedules.sgdr(10, 2, 1e-5).perBatch(stepsPerEpoch))
 *         .group("no_decay", g -> g.weightDecay(0), "fc1.bias")
 *         .build(store);
 * }</pre>
 */
public final class Optimizers {
    private Optimizers() {
    }

    /** The optimizer names accepted by {@link #named(String)}: every algorithm's id, then the aliases. */
    public static final List<String> NAMES = Algorithms.names();

    /** SGD with L2 weight decay (torch.optim.SGD); lr 1e-3, no momentum by default. */
    public static SgdBuilder sgd() {
        return new SgdBuilder(Sgd.SGD);
    }

    /** SGD with decoupled weight decay (SGDW). */
    public static SgdBuilder sgdW() {
        return new SgdBuilder(Sgd.SGDW);
    }

    /** Adam with L2 weight decay; lr 1e-3, betas (0.9, 0.999), eps 1e-8. */
    public static AdamBuilder adam() {
        return new AdamBuilder(Adam.ADAM);
    }

    /** AdamW (decoupled weight decay); lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-2. */
    public static AdamBuilder adamW() {
        return new AdamBuilder(Adam.ADAMW);
    }

    /** AdaGrad; lr 1e-2, eps 1e-10. */
    public static AdagradBuilder adagrad() {
        return new AdagradBuilder();
    }

    /** RAdam; lr 1e-3. */
    public static RAdamBuilder radam() {
        return new RAdamBuilder();
    }

    /** NAdam; lr 2e-3, momentum decay 4e-3. */
    public static NAdamBuilder nadam() {
        return new NAdamBuilder();
    }

    /** AdaBelief as adabelief-pytorch 0.2: eps 1e-16, decoupled decay, rectify, degenerated to SGD. */
    public static AdaBeliefBuilder adaBelief() {
        return new AdaBeliefBuilder();
    }

    /** AdaBound; lr 1e-3, final lr 0.1, gamma 1e-3. */
    public static AdaBoundBuilder adaBound() {
        return new AdaBoundBuilder(false);
    }

    /** AMSBound (AdaBound with the AMSGrad maximum). */
    public static AdaBoundBuilder amsBound() {
        return new AdaBoundBuilder(true);
    }

    /** Yogi as torch_optimizer: lr 1e-2, eps 1e-3, initial accumulator 1e-6. */
    public static YogiBuilder yogi() {
        return new YogiBuilder();
    }

    /** LAMB; lr 1e-3, eps 1e-6. */
    public static LambBuilder lamb() {
        return new LambBuilder();
    }

    /** SWATS; lr 1e-3, eps 1e-9 (both the Adam term and the switch threshold, as in the paper). */
    public static SwatsBuilder swats() {
        return new SwatsBuilder();
    }

    /** A builder for {@code algorithm} with its defaults; hyperparameters are set by key. Rejects null. */
    public static Builder of(Algorithm algorithm) {
        return new Builder(Objects.requireNonNull(algorithm, "algorithm"), Map.of());
    }

    /** The typed builders, for the algorithms that have one; every other algorithm gets a {@link Builder}. */
    private static final Map<Algorithm, java.util.function.Supplier<OptimizerBuilder<?>>> TYPED = Map.ofEntries(
            Map.entry(Sgd.SGD, Optimizers::sgd), Map.entry(Sgd.SGDW, Optimizers::sgdW),
            Map.entry(Adam.ADAM, Optimizers::adam), Map.entry(Adam.ADAMW, Optimizers::adamW),
            Map.entry(Adagrad.ALGORITHM, Optimizers::adagrad), Map.entry(RAdam.ALGORITHM, Optimizers::radam),
            Map.entry(NAdam.ALGORITHM, Optimizers::nadam), Map.entry(AdaBelief.ALGORITHM, Optimizers::adaBelief),
            Map.entry(AdaBound.ALGORITHM, Optimizers::adaBound), Map.entry(Yogi.ALGORITHM, Optimizers::yogi),
            Map.entry(Lamb.ALGORITHM, Optimizers::lamb), Map.entry(Swats.ALGORITHM, Optimizers::swats));

    /**
     * The builder for an optimizer name ({@link #NAMES}: an algorithm id or an alias such as {@code amsbound},
     * case-insensitive), with the settings an alias implies.
     *
     * @throws IllegalArgumentException for an unknown name, listing the known ones
     */
    public static OptimizerBuilder<?> named(String name) {
        Algorithm a = Algorithms.named(name);
        java.util.function.Supplier<OptimizerBuilder<?>> typed = TYPED.get(a);
        OptimizerBuilder<?> b = typed != null ? typed.get() : of(a);
        Algorithms.aliasSettings(name).forEach(b::set);
        return b;
    }

    /** The builder of any algorithm, setting hyperparameters by key ({@link OptimizerBuilder#set}). */
    public static final class Builder extends OptimizerBuilder<Builder> {
        Builder(Algorithm algorithm, Map<String, Object> presets) {
            super(algorithm, presets);
        }
    }

    /** The shared setters of the Adam family: β1, β2 and ε. */
    public abstract static class AdaptiveBuilder<B extends AdaptiveBuilder<B>> extends OptimizerBuilder<B> {
        AdaptiveBuilder(Algorithm algorithm, Map<String, Object> presets) {
            super(algorithm, presets);
        }

        /** Sets β1 and β2, each in [0, 1). */
        public B betas(double b1, double b2) {
            return set("betas", List.of(b1, b2));
        }

        /** Sets ε ({@code > 0}). */
        public B eps(double value) {
            return set("eps", value);
        }

    }

    /** Builder of RAdam. */
    public static final class RAdamBuilder extends AdaptiveBuilder<RAdamBuilder> {
        RAdamBuilder() {
            super(RAdam.ALGORITHM, Map.of());
        }
    }

    /** Builder of LAMB. */
    public static final class LambBuilder extends AdaptiveBuilder<LambBuilder> {
        LambBuilder() {
            super(Lamb.ALGORITHM, Map.of());
        }
    }

    /** Builder of SWATS. */
    public static final class SwatsBuilder extends AdaptiveBuilder<SwatsBuilder> {
        SwatsBuilder() {
            super(Swats.ALGORITHM, Map.of());
        }
    }

    /** Builder of SGD and SGDW. */
    public static final class SgdBuilder extends OptimizerBuilder<SgdBuilder> {
        SgdBuilder(Algorithm algorithm) {
            super(algorithm, Map.of());
        }

        /** Sets the momentum μ in [0, 1). */
        public SgdBuilder momentum(double value) {
            return set("momentum", value);
        }

        /** Sets the dampening τ in [0, 1]. */
        public SgdBuilder dampening(double value) {
            return set("dampening", value);
        }

        /** Uses Nesterov momentum (needs momentum > 0 and dampening 0). */
        public SgdBuilder nesterov(boolean value) {
            return set("nesterov", value);
        }
    }

    /** Builder of Adam and AdamW. */
    public static final class AdamBuilder extends AdaptiveBuilder<AdamBuilder> {
        AdamBuilder(Algorithm algorithm) {
            super(algorithm, Map.of());
        }

        /** Uses the AMSGrad maximum of the second moment. */
        public AdamBuilder amsgrad(boolean value) {
            return set("amsgrad", value);
        }
    }

    /** Builder of AdaGrad. */
    public static final class AdagradBuilder extends OptimizerBuilder<AdagradBuilder> {
        AdagradBuilder() {
            super(Adagrad.ALGORITHM, Map.of());
        }

        /** Sets the learning-rate decay ({@code >= 0}): η / (1 + (t-1) lrDecay). */
        public AdagradBuilder lrDecay(double value) {
            return set("lr_decay", value);
        }

        /** Sets the accumulator's starting value ({@code >= 0}). */
        public AdagradBuilder initialAccumulatorValue(double value) {
            return set("initial_accumulator_value", value);
        }

        /** Sets ε ({@code > 0}). */
        public AdagradBuilder eps(double value) {
            return set("eps", value);
        }
    }

    /** Builder of NAdam. */
    public static final class NAdamBuilder extends AdaptiveBuilder<NAdamBuilder> {
        NAdamBuilder() {
            super(NAdam.ALGORITHM, Map.of());
        }

        /** Sets the momentum decay ψ ({@code >= 0}). */
        public NAdamBuilder momentumDecay(double value) {
            return set("momentum_decay", value);
        }
    }

    /** Builder of AdaBelief. */
    public static final class AdaBeliefBuilder extends AdaptiveBuilder<AdaBeliefBuilder> {
        AdaBeliefBuilder() {
            super(AdaBelief.ALGORITHM, Map.of());
        }

        /** Uses the AMSGrad maximum of s. */
        public AdaBeliefBuilder amsgrad(boolean value) {
            return set("amsgrad", value);
        }

        /** Decouples weight decay from the gradient (default true). */
        public AdaBeliefBuilder weightDecouple(boolean value) {
            return set("weight_decouple", value);
        }

        /** With decoupled decay, decays by λ instead of ηλ. */
        public AdaBeliefBuilder fixedDecay(boolean value) {
            return set("fixed_decay", value);
        }

        /** Rectifies the step as RAdam does (default true). */
        public AdaBeliefBuilder rectify(boolean value) {
            return set("rectify", value);
        }

        /** Takes an SGD step while the rectification is undefined (default true). */
        public AdaBeliefBuilder degeneratedToSgd(boolean value) {
            return set("degenerated_to_sgd", value);
        }
    }

    /** Builder of AdaBound and AMSBound. */
    public static final class AdaBoundBuilder extends AdaptiveBuilder<AdaBoundBuilder> {
        AdaBoundBuilder(boolean amsbound) {
            super(AdaBound.ALGORITHM, Map.of("amsbound", amsbound));
        }

        /** Sets the final (SGD) learning rate the bounds converge to ({@code >= 0}). */
        public AdaBoundBuilder finalLr(double value) {
            return set("final_lr", value);
        }

        /** Sets the convergence speed γ of the bounds ({@code > 0}). */
        public AdaBoundBuilder gamma(double value) {
            return set("gamma", value);
        }
    }

    /** Builder of Yogi. */
    public static final class YogiBuilder extends AdaptiveBuilder<YogiBuilder> {
        YogiBuilder() {
            super(Yogi.ALGORITHM, Map.of());
        }

        /** Sets the starting value of both moments ({@code >= 0}). */
        public YogiBuilder initialAccumulator(double value) {
            return set("initial_accumulator", value);
        }
    }
}

package io.fusedopt;

import io.fusedopt.rule.AdaBelief;
import io.fusedopt.rule.AdaBound;
import io.fusedopt.rule.Adagrad;
import io.fusedopt.rule.Adam;
import io.fusedopt.rule.Hyper;
import io.fusedopt.rule.Lamb;
import io.fusedopt.rule.NAdam;
import io.fusedopt.rule.RAdam;
import io.fusedopt.rule.Rule;
import io.fusedopt.rule.Sgd;
import io.fusedopt.rule.Swats;
import io.fusedopt.rule.Yogi;
import java.util.List;

/**
 * Factories for every optimizer, each returning a builder with PyTorch's (or the reference implementation's)
 * defaults.
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

    /** The optimizer identifiers accepted by {@link #named(String)}. */
    public static final List<String> NAMES = List.of("sgd", "sgdw", "adam", "adamw", "adagrad", "radam", "nadam",
            "adabelief", "adabound", "yogi", "lamb", "swats");

    /** SGD with L2 weight decay (torch.optim.SGD); lr 1e-3, no momentum by default. */
    public static SgdBuilder sgd() {
        return new SgdBuilder(false);
    }

    /** SGD with decoupled weight decay (SGDW). */
    public static SgdBuilder sgdW() {
        return new SgdBuilder(true);
    }

    /** Adam with L2 weight decay; lr 1e-3, betas (0.9, 0.999), eps 1e-8. */
    public static AdamBuilder adam() {
        return new AdamBuilder(false);
    }

    /** AdamW (decoupled weight decay); lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-2. */
    public static AdamBuilder adamW() {
        return new AdamBuilder(true).weightDecay(1e-2);
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

    /**
     * The builder for an optimizer identifier ({@link #NAMES}, plus {@code amsbound}).
     *
     * @throws IllegalArgumentException for an unknown name
     */
    public static OptimizerBuilder<?> named(String name) {
        switch (name == null ? "" : name) {
            case "sgd": return sgd();
            case "sgdw": return sgdW();
            case "adam": return adam();
            case "adamw": return adamW();
            case "adagrad": return adagrad();
            case "radam": return radam();
            case "nadam": return nadam();
            case "adabelief": return adaBelief();
            case "adabound": return adaBound();
            case "amsbound": return amsBound();
            case "yogi": return yogi();
            case "lamb": return lamb();
            case "swats": return swats();
            default:
                throw new IllegalArgumentException("unknown optimizer '" + name + "'; known: " + NAMES);
        }
    }

    /** Builder of {@link #adam()} / {@link #adamW()} and the shared setters of the Adam family. */
    public abstract static class AdaptiveBuilder<B extends AdaptiveBuilder<B>> extends OptimizerBuilder<B> {
        AdaptiveBuilder() {
        }

        /** Sets β1 and β2, each in [0, 1). */
        @SuppressWarnings("unchecked")
        public B betas(double b1, double b2) {
            this.beta1 = b1;
            this.beta2 = b2;
            return (B) this;
        }

        /** Sets ε ({@code > 0}). */
        @SuppressWarnings("unchecked")
        public B eps(double value) {
            this.eps = value;
            return (B) this;
        }
    }

    /** Builder of SGD and SGDW. */
    public static final class SgdBuilder extends OptimizerBuilder<SgdBuilder> {
        private final boolean decoupled;
        private boolean nesterov;

        SgdBuilder(boolean decoupled) {
            this.decoupled = decoupled;
        }

        /** Sets the momentum μ in [0, 1). */
        public SgdBuilder momentum(double value) {
            this.momentum = value;
            return this;
        }

        /** Sets the dampening τ in [0, 1]. */
        public SgdBuilder dampening(double value) {
            this.dampening = value;
            return this;
        }

        /** Uses Nesterov momentum (needs momentum > 0 and dampening 0). */
        public SgdBuilder nesterov(boolean value) {
            this.nesterov = value;
            return this;
        }

        @Override
        public String id() {
            return decoupled ? "sgdw" : "sgd";
        }

        @Override
        Rule rule(List<Hyper> hypers, List<String> names) {
            return new Sgd(decoupled, nesterov, hypers, names);
        }

        @Override
        String structure() {
            return "nesterov=" + nesterov;
        }
    }

    /** Builder of Adam and AdamW. */
    public static final class AdamBuilder extends AdaptiveBuilder<AdamBuilder> {
        private final boolean decoupled;
        private boolean amsgrad;

        AdamBuilder(boolean decoupled) {
            this.decoupled = decoupled;
        }

        /** Uses the AMSGrad maximum of the second moment. */
        public AdamBuilder amsgrad(boolean value) {
            this.amsgrad = value;
            return this;
        }

        @Override
        public String id() {
            return decoupled ? "adamw" : "adam";
        }

        @Override
        Rule rule(List<Hyper> hypers, List<String> names) {
            return new Adam(decoupled, amsgrad, hypers, names);
        }

        @Override
        String structure() {
            return "amsgrad=" + amsgrad;
        }
    }

    /** Builder of AdaGrad. */
    public static final class AdagradBuilder extends OptimizerBuilder<AdagradBuilder> {
        AdagradBuilder() {
            this.lr = 1e-2;
            this.eps = 1e-10;
        }

        /** Sets the learning-rate decay ({@code >= 0}): η / (1 + (t-1) lrDecay). */
        public AdagradBuilder lrDecay(double value) {
            this.lrDecay = value;
            return this;
        }

        /** Sets the accumulator's starting value ({@code >= 0}). */
        public AdagradBuilder initialAccumulatorValue(double value) {
            this.initialAccumulator = value;
            return this;
        }

        /** Sets ε ({@code > 0}). */
        public AdagradBuilder eps(double value) {
            this.eps = value;
            return this;
        }

        @Override
        public String id() {
            return "adagrad";
        }

        @Override
        Rule rule(List<Hyper> hypers, List<String> names) {
            return new Adagrad(hypers, names);
        }

    }

    /** Builder of RAdam. */
    public static final class RAdamBuilder extends AdaptiveBuilder<RAdamBuilder> {
        RAdamBuilder() {
        }

        @Override
        public String id() {
            return "radam";
        }

        @Override
        Rule rule(List<Hyper> hypers, List<String> names) {
            return new RAdam(hypers, names);
        }

    }

    /** Builder of NAdam. */
    public static final class NAdamBuilder extends AdaptiveBuilder<NAdamBuilder> {
        NAdamBuilder() {
            this.lr = 2e-3;
        }

        /** Sets the momentum decay ψ ({@code >= 0}). */
        public NAdamBuilder momentumDecay(double value) {
            this.momentumDecay = value;
            return this;
        }

        @Override
        public String id() {
            return "nadam";
        }

        @Override
        Rule rule(List<Hyper> hypers, List<String> names) {
            return new NAdam(hypers, names);
        }

    }

    /** Builder of AdaBelief. */
    public static final class AdaBeliefBuilder extends AdaptiveBuilder<AdaBeliefBuilder> {
        private boolean amsgrad;
        private boolean weightDecouple = true;
        private boolean fixedDecay;
        private boolean rectify = true;
        private boolean degeneratedToSgd = true;

        AdaBeliefBuilder() {
            this.eps = 1e-16;
        }

        /** Uses the AMSGrad maximum of s. */
        public AdaBeliefBuilder amsgrad(boolean value) {
            this.amsgrad = value;
            return this;
        }

        /** Decouples weight decay from the gradient (default true). */
        public AdaBeliefBuilder weightDecouple(boolean value) {
            this.weightDecouple = value;
            return this;
        }

        /** With decoupled decay, decays by λ instead of ηλ. */
        public AdaBeliefBuilder fixedDecay(boolean value) {
            this.fixedDecay = value;
            return this;
        }

        /** Rectifies the step as RAdam does (default true). */
        public AdaBeliefBuilder rectify(boolean value) {
            this.rectify = value;
            return this;
        }

        /** Takes an SGD step while the rectification is undefined (default true). */
        public AdaBeliefBuilder degeneratedToSgd(boolean value) {
            this.degeneratedToSgd = value;
            return this;
        }

        @Override
        public String id() {
            return "adabelief";
        }

        @Override
        Rule rule(List<Hyper> hypers, List<String> names) {
            return new AdaBelief(amsgrad, weightDecouple, fixedDecay, rectify, degeneratedToSgd, hypers, names);
        }

        @Override
        String structure() {
            return "amsgrad=" + amsgrad + ", weightDecouple=" + weightDecouple + ", fixedDecay=" + fixedDecay
                    + ", rectify=" + rectify + ", degeneratedToSgd=" + degeneratedToSgd;
        }
    }

    /** Builder of AdaBound and AMSBound. */
    public static final class AdaBoundBuilder extends AdaptiveBuilder<AdaBoundBuilder> {
        private final boolean amsbound;

        AdaBoundBuilder(boolean amsbound) {
            this.amsbound = amsbound;
        }

        /** Sets the final (SGD) learning rate the bounds converge to ({@code >= 0}). */
        public AdaBoundBuilder finalLr(double value) {
            this.finalLr = value;
            return this;
        }

        /** Sets the convergence speed γ of the bounds ({@code > 0}). */
        public AdaBoundBuilder gamma(double value) {
            this.gamma = value;
            return this;
        }

        @Override
        public String id() {
            return amsbound ? "amsbound" : "adabound";
        }

        @Override
        Rule rule(List<Hyper> hypers, List<String> names) {
            return new AdaBound(amsbound, hypers, names);
        }

    }

    /** Builder of Yogi. */
    public static final class YogiBuilder extends AdaptiveBuilder<YogiBuilder> {
        YogiBuilder() {
            this.lr = 1e-2;
            this.eps = 1e-3;
            this.initialAccumulator = 1e-6;
        }

        /** Sets the starting value of both moments ({@code >= 0}). */
        public YogiBuilder initialAccumulator(double value) {
            this.initialAccumulator = value;
            return this;
        }

        @Override
        public String id() {
            return "yogi";
        }

        @Override
        Rule rule(List<Hyper> hypers, List<String> names) {
            return new Yogi(hypers, names);
        }

    }

    /** Builder of LAMB. */
    public static final class LambBuilder extends AdaptiveBuilder<LambBuilder> {
        LambBuilder() {
            this.eps = 1e-6;
        }

        @Override
        public String id() {
            return "lamb";
        }

        @Override
        Rule rule(List<Hyper> hypers, List<String> names) {
            return new Lamb(hypers, names);
        }

    }

    /** Builder of SWATS. */
    public static final class SwatsBuilder extends AdaptiveBuilder<SwatsBuilder> {
        SwatsBuilder() {
            this.eps = 1e-9;
        }

        @Override
        public String id() {
            return "swats";
        }

        @Override
        Rule rule(List<Hyper> hypers, List<String> names) {
            return new Swats(hypers, names);
        }

    }
}

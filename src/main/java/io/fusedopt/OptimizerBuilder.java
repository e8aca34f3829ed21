package io.fusedopt;

import io.fusedopt.core.Tensor;
import io.fusedopt.rule.Check;
import io.fusedopt.rule.Hyper;
import io.fusedopt.rule.Rule;
import io.fusedopt.schedule.Schedule;
import io.fusedopt.schedule.Schedules;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The settings every optimizer shares: learning rate, weight decay, schedule, non-finite policy, Lookahead, and
 * parameter groups. Values are checked in {@link #build}, which names the field and the value it rejects.
 *
 * @param <B> the concrete builder, so that chained calls keep their type
 */
public abstract class OptimizerBuilder<B extends OptimizerBuilder<B>> implements Cloneable {
    /** Numeric hyperparameters of the default group (see {@link Hyper}). */
    protected double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay, momentum, dampening, lrDecay,
            initialAccumulator, momentumDecay = 4e-3, finalLr = 0.1, gamma = 1e-3;
    private Schedule schedule = Schedules.constant();
    private NonFinitePolicy policy = NonFinitePolicy.PROPAGATE;
    private int lookaheadK;
    private double lookaheadAlpha = 0.5;
    private boolean lookaheadSet;
    private List<GroupSpec> groups = new ArrayList<>();

    private record GroupSpec(String name, Consumer<Object> overrides, List<String> tensors) {
    }

    OptimizerBuilder() {
    }

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /** Sets the base learning rate (finite, {@code >= 0}); schedules scale it. */
    public B lr(double value) {
        this.lr = value;
        return self();
    }

    /** Sets the weight decay (finite, {@code >= 0}): L2 or decoupled as the algorithm defines. */
    public B weightDecay(double value) {
        this.weightDecay = value;
        return self();
    }

    /** Sets the learning-rate schedule (default constant); rejects null. */
    public B schedule(Schedule value) {
        this.schedule = Objects.requireNonNull(value, "schedule must not be null");
        return self();
    }

    /** Sets what a non-finite gradient does (default {@link NonFinitePolicy#PROPAGATE}); rejects null. */
    public B nonFinite(NonFinitePolicy value) {
        this.policy = Objects.requireNonNull(value, "nonFinite policy must not be null");
        return self();
    }

    /**
     * Wraps the algorithm in Lookahead (Zhang et al. 2019): slow weights start at the parameters of the first
     * step, and after every {@code k}-th step {@code w = slow + α (w - slow); slow = w}. Requires {@code k >= 1}
     * and {@code α} in (0, 1], checked in {@link #build}.
     */
    public B lookahead(int k, double alpha) {
        this.lookaheadK = k;
        this.lookaheadAlpha = alpha;
        this.lookaheadSet = true;
        return self();
    }

    /**
     * Puts the named tensors in a parameter group whose hyperparameters start as this builder's and are then
     * changed by {@code overrides} (for example {@code g -> g.weightDecay(0)}). Tensors in no group form the
     * default group, index 0. Settings that change the state slots (amsgrad, momentum being zero) must agree with
     * the default group; schedule, policy and Lookahead are the optimizer's and cannot be overridden.
     */
    public B group(String name, Consumer<B> overrides, String... tensors) {
        @SuppressWarnings("unchecked")
        Consumer<Object> c = (Consumer<Object>) (Consumer<?>) Objects.requireNonNull(overrides, "overrides");
        groups.add(new GroupSpec(name, c, List.of(tensors)));
        return self();
    }

    /** The optimizer's identifier, e.g. {@code adamw}. */
    public abstract String id();

    /** Builds the rule for these groups; the rule validates each group. */
    abstract Rule rule(List<Hyper> hypers, List<String> names);

    /**
     * The settings that decide the state slots and kernels; must be equal in every group. Empty for algorithms
     * whose every setting is numeric and may differ per group.
     */
    String structure() {
        return "";
    }

    Hyper hyper() {
        return new Hyper(lr, beta1, beta2, eps, weightDecay, momentum, dampening, lrDecay, initialAccumulator,
                momentumDecay, finalLr, gamma);
    }

    @SuppressWarnings("unchecked")
    private B copy() {
        try {
            B b = (B) super.clone();
            ((OptimizerBuilder<B>) b).groups = new ArrayList<>();
            return b;
        } catch (CloneNotSupportedException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Validates every setting and builds the optimizer on {@code store}, allocating its state on the store's device.
     *
     * @throws IllegalArgumentException naming the field and value for an invalid setting, an unknown tensor, a
     *     tensor in two groups, a duplicate or empty group name, or a group that changes the state slots
     */
    public Optimizer build(ParameterStore store) {
        Objects.requireNonNull(store, "store must not be null");
        if (lookaheadSet) {
            Check.atLeast("lookahead k", lookaheadK, 1);
            Check.halfOpenUnit("lookahead alpha", lookaheadAlpha);
        }
        List<Hyper> hypers = new ArrayList<>();
        List<String> names = new ArrayList<>();
        hypers.add(hyper());
        names.add("default");
        int[] tensorGroup = new int[store.tensors().size()];
        Map<String, String> assigned = new HashMap<>();
        for (GroupSpec g : groups) {
            if (g.name() == null || g.name().isEmpty()) {
                throw new IllegalArgumentException("group name must be non-empty");
            }
            if (names.contains(g.name())) {
                throw new IllegalArgumentException("duplicate group name '" + g.name() + "'");
            }
            B copy = copy();
            g.overrides().accept(copy);
            if (!copy.structure().equals(structure())) {
                throw new IllegalArgumentException("group '" + g.name() + "' changes " + copy.structure()
                        + " to differ from the default group's " + structure()
                        + "; these decide the state slots and must be the same in every group");
            }
            hypers.add(copy.hyper());
            names.add(g.name());
            for (String t : g.tensors()) {
                Tensor tensor = store.tensor(t);
                String before = assigned.putIfAbsent(t, g.name());
                if (before != null) {
                    throw new IllegalArgumentException("tensor '" + t + "' is in groups '" + before + "' and '"
                            + g.name() + "'");
                }
                tensorGroup[tensor.index()] = names.size() - 1;
            }
        }
        Rule rule = rule(hypers, names);
        return new Optimizer(store, rule, schedule, policy, lookaheadSet ? lookaheadK : 0, lookaheadAlpha, names,
                tensorGroup);
    }

    @Override
    public String toString() {
        return id() + hyper() + Arrays.toString(groups.toArray());
    }
}

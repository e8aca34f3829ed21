package io.fusedopt;

import io.fusedopt.core.Tensor;
import io.fusedopt.rule.Algorithm;
import io.fusedopt.rule.Check;
import io.fusedopt.rule.HyperParam;
import io.fusedopt.rule.HyperValues;
import io.fusedopt.rule.Rule;
import io.fusedopt.schedule.Schedule;
import io.fusedopt.schedule.Schedules;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The settings of one optimizer: its algorithm's hyperparameters (defaults from the algorithm's
 * {@link Algorithm#params()}), the schedule, the non-finite policy, Lookahead, and parameter groups. Values are
 * checked in {@link #build}, which names the group, the field and the value it rejects.
 *
 * @param <B> the concrete builder, so that chained calls keep their type
 */
public abstract class OptimizerBuilder<B extends OptimizerBuilder<B>> implements Cloneable {
    private final Algorithm algorithm;
    private LinkedHashMap<String, Object> settings = new LinkedHashMap<>();
    private Schedule schedule = Schedules.constant();
    private NonFinitePolicy policy = NonFinitePolicy.PROPAGATE;
    private int lookaheadK;
    private double lookaheadAlpha = 0.5;
    private boolean lookaheadSet;
    private List<GroupSpec> groups = new ArrayList<>();
    private io.fusedopt.core.Dtype stateDtype;
    private boolean masterWeights;
    private boolean stochasticRounding;
    private long roundingSeed;

    private record GroupSpec(String name, Consumer<Object> overrides, List<String> tensors) {
    }

    OptimizerBuilder(Algorithm algorithm, Map<String, Object> presets) {
        this.algorithm = Objects.requireNonNull(algorithm, "algorithm");
        settings.putAll(presets);
    }

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /** The algorithm this builder configures. */
    public final Algorithm algorithm() {
        return algorithm;
    }

    /** The optimizer's identifier, e.g. {@code adamw}. */
    public final String id() {
        return algorithm.id();
    }

    /**
     * Sets the hyperparameter {@code key} (as golden cases and checkpoints name it: {@code "betas"},
     * {@code "weight_decay"}): a number, a list or array of numbers, or a flag. Its range is checked in
     * {@link #build}.
     *
     * @throws IllegalArgumentException when the algorithm has no such hyperparameter or the value has the wrong
     *     type or length
     */
    public B set(String key, Object value) {
        HyperParam p = algorithm.param(key);
        if (p == null) {
            throw new IllegalArgumentException(key + " is not a hyperparameter of " + algorithm.id()
                    + "; its hyperparameters are " + keys());
        }
        settings.put(key, p.normalize(value));
        return self();
    }

    /** Sets the base learning rate (finite, {@code >= 0}); schedules scale it. */
    public B lr(double value) {
        return set("lr", value);
    }

    /**
     * Sets the weight decay (finite, {@code >= 0}): L2 or decoupled as the algorithm defines.
     *
     * @throws IllegalArgumentException when the algorithm has no {@code weight_decay}
     */
    public B weightDecay(double value) {
        return set("weight_decay", value);
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
     * the default group; schedule, policy, Lookahead and groups are the optimizer's: {@link #build} rejects an
     * override that sets them.
     *
     * @throws NullPointerException when {@code overrides} or {@code tensors} is null
     */
    public B group(String name, Consumer<B> overrides, String... tensors) {
        @SuppressWarnings("unchecked")
        Consumer<Object> c = (Consumer<Object>) (Consumer<?>) Objects.requireNonNull(overrides, "overrides");
        Objects.requireNonNull(tensors, "tensors");
        groups.add(new GroupSpec(name, c, java.util.Arrays.asList(tensors.clone())));
        return self();
    }

    private List<String> keys() {
        List<String> k = new ArrayList<>();
        for (HyperParam p : algorithm.params()) {
            k.add(p.key());
        }
        return k;
    }

    @SuppressWarnings("unchecked")
    private B copy() {
        try {
            OptimizerBuilder<B> b = (OptimizerBuilder<B>) super.clone();
            b.settings = new LinkedHashMap<>(settings);
            b.groups = new ArrayList<>();
            return (B) b;
        } catch (CloneNotSupportedException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Stores the state slots in {@code dtype}. Without master weights the states must share the parameters' dtype
     * (the default); with master weights they are float32 (the default) or bfloat16.
     *
     * @throws NullPointerException for null; the combination is checked by {@link #build}
     */
    public B stateDtype(io.fusedopt.core.Dtype dtype) {
        this.stateDtype = Objects.requireNonNull(dtype, "state dtype must not be null");
        return self();
    }

    /**
     * Keeps float32 master weights for a store of bfloat16 or float16 parameters: each step reads the 16-bit
     * gradients, updates the masters (initialised from the store's parameters when the optimizer is built) and
     * writes the rounded masters into the store's parameters in the same pass. Rejected by {@link #build} for a
     * float32 store.
     */
    public B masterWeights(boolean enabled) {
        this.masterWeights = enabled;
        return self();
    }

    /**
     * Rounds the bfloat16 parameters stochastically instead of to nearest even (low-precision regime only): the
     * random bits come from {@code seed}, the step number and the element's arena index (see
     * {@code io.fusedopt.core.DtypeStochastic}), so the result is reproducible. Rejected by {@link #build} with
     * master weights or parameters that are not bfloat16.
     */
    public B stochasticRounding(long seed) {
        this.stochasticRounding = true;
        this.roundingSeed = seed;
        return self();
    }

    /** What a group override must leave alone, in words, or null when it left everything alone. */
    private String changedOutsideGroup(OptimizerBuilder<?> copy) {
        if (copy.schedule != schedule) {
            return "the schedule";
        }
        if (copy.policy != policy) {
            return "the non-finite policy";
        }
        if (copy.lookaheadSet != lookaheadSet || copy.lookaheadK != lookaheadK
                || Double.compare(copy.lookaheadAlpha, lookaheadAlpha) != 0) {
            return "Lookahead";
        }
        if (!copy.groups.isEmpty()) {
            return "nested groups";
        }
        if (copy.stateDtype != stateDtype || copy.masterWeights != masterWeights
                || copy.stochasticRounding != stochasticRounding || copy.roundingSeed != roundingSeed) {
            return "the storage types (state dtype, master weights, stochastic rounding)";
        }
        return null;
    }

    /**
     * Validates every setting and builds the optimizer on {@code store}, allocating its state on the store's device.
     *
     * @throws IllegalArgumentException naming the field and value for an invalid setting, an unknown or null
     *     tensor, a tensor in two groups, a duplicate or empty group name, a group that changes the state slots,
     *     or a group override that sets the schedule, policy, Lookahead or groups
     */
    public Optimizer build(ParameterStore store) {
        Objects.requireNonNull(store, "store must not be null");
        if (lookaheadSet) {
            Check.atLeast("lookahead k", lookaheadK, 1);
            Check.halfOpenUnit("lookahead alpha", lookaheadAlpha);
        }
        List<HyperValues> values = new ArrayList<>();
        List<String> names = new ArrayList<>();
        values.add(algorithm.values(settings, ""));
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
            String changed = changedOutsideGroup(copy);
            if (changed != null) {
                throw new IllegalArgumentException("group '" + g.name() + "' sets " + changed
                        + ", which belongs to the whole optimizer and cannot be overridden per group");
            }
            values.add(algorithm.values(((OptimizerBuilder<?>) copy).settings, g.name()));
            names.add(g.name());
            for (String t : g.tensors()) {
                if (t == null) {
                    throw new IllegalArgumentException("group '" + g.name() + "' lists a null tensor name");
                }
                Tensor tensor = store.tensor(t);
                String before = assigned.putIfAbsent(t, g.name());
                if (before != null) {
                    throw new IllegalArgumentException("tensor '" + t + "' is in groups '" + before + "' and '"
                            + g.name() + "'");
                }
                tensorGroup[tensor.index()] = names.size() - 1;
            }
        }
        Rule rule = algorithm.create(values, names);
        return new Optimizer(store, rule, schedule, policy, lookaheadSet ? lookaheadK : 0, lookaheadAlpha, names,
                tensorGroup, storage(store));
    }

    /** The storage settings checked against the store's dtype. */
    private Optimizer.Storage storage(ParameterStore store) {
        io.fusedopt.core.Dtype param = store.dtype();
        if (masterWeights && !param.isHalf()) {
            throw new IllegalArgumentException("masterWeights(true) needs a bfloat16 or float16 store; this store"
                    + " holds " + param.label() + ", which needs no master copy");
        }
        io.fusedopt.core.Dtype state = stateDtype != null ? stateDtype
                : masterWeights ? io.fusedopt.core.Dtype.FLOAT32 : param;
        if (!masterWeights && state != param) {
            throw new IllegalArgumentException("stateDtype " + state.label() + " differs from the parameters' "
                    + param.label() + ": without master weights the states share the parameters' dtype");
        }
        if (masterWeights && state == io.fusedopt.core.Dtype.BFLOAT16 && param != io.fusedopt.core.Dtype.BFLOAT16) {
            throw new IllegalArgumentException("stateDtype bfloat16 with master weights needs a bfloat16 store, not "
                    + param.label() + "; a float16 model keeps float32 states");
        }
        if (masterWeights && state == io.fusedopt.core.Dtype.FLOAT16) {
            throw new IllegalArgumentException("stateDtype float16 with master weights: the states are float32"
                    + " or bfloat16 (float16's range cannot hold a second moment)");
        }
        if (stochasticRounding && (masterWeights || param != io.fusedopt.core.Dtype.BFLOAT16)) {
            throw new IllegalArgumentException("stochasticRounding needs bfloat16 parameters without master"
                    + " weights; this store holds " + param.label() + (masterWeights ? " with master weights" : ""));
        }
        return new Optimizer.Storage(state, masterWeights, stochasticRounding, roundingSeed);
    }

    @Override
    public String toString() {
        return id() + settings + (groups.isEmpty() ? "" : " groups " + groups.size());
    }
}

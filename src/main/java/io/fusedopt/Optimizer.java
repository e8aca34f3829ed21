package io.fusedopt;

import io.fusedopt.core.CudaException;
import io.fusedopt.core.Tensor;
import io.fusedopt.backend.ArenaBuffer;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.Backend;
import io.fusedopt.backend.StepCounters;
import io.fusedopt.backend.StepOptions;
import io.fusedopt.backend.StepProgram;
import io.fusedopt.rule.Rule;
import io.fusedopt.schedule.Schedule;
import jcuda.driver.CUstream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An optimizer bound to a {@link ParameterStore}: its state buffers, its parameter groups, its schedule, and the
 * step count. Built by the factories of {@link Optimizers}.
 *
 * <p>{@link #step()} computes the per-step scalars of every group on the host, in double, and issues the passes of
 * the step on the store's device. One optimizer steps from one thread at a time; a concurrent call is rejected.
 * After a device failure inside a step, the optimizer refuses further steps: its buffers may be half-updated.
 */
public final class Optimizer implements AutoCloseable {
    private final ParameterStore store;
    private final Rule rule;
    private final Schedule schedule;
    private final NonFinitePolicy policy;
    private final int lookaheadK;
    private final double lookaheadAlpha;
    private final List<String> groupNames;
    private final ArenaLayout layout;
    private final List<String> slotNames;
    private final List<ArenaBuffer> slots;
    /** Per slot, its layout: the parameters' own, or the per-tensor views of a shaped slot. */
    private final List<ArenaLayout> slotLayouts;
    private final ArenaBuffer slow;
    private final StepProgram program;
    private final AtomicBoolean stepping = new AtomicBoolean();
    private final StepOptions options;
    // Learning-rate control (setLearningRate, setLrScale): the base rate each group's schedule scales, and a factor
    // on every scheduled rate. Rates is rebuilt from a copy on every change, so a step sees one consistent setting
    // and a rule that caches by the Rates it was given (Schedule-Free AdamW) recomputes.
    private final double[] baseLr;
    private double lrScale = 1.0;
    private volatile Rule.Rates rates;
    /** The learning-rate setting of the last step issued (null before the first), for {@link #learningRate}. */
    private volatile Rule.Rates stepRates;
    private String failure;
    private volatile boolean closed;

    /**
     * The storage of an optimizer's buffers: the dtype of its state slots, whether it keeps float32 master weights
     * (then named slot {@code master}, after {@code slow}), and stochastic rounding of bfloat16 parameters.
     *
     * @param stateDtype the dtype of every state slot
     * @param master whether float32 master weights are kept
     * @param stochastic whether the parameters are rounded stochastically
     * @param seed the stochastic rounding seed
     */
    record Storage(io.fusedopt.core.Dtype stateDtype, boolean master, boolean stochastic, long seed) {
    }

    private final ArenaBuffer master;
    private final Storage storage;

    Optimizer(ParameterStore store, Rule rule, Schedule schedule, NonFinitePolicy policy, int lookaheadK,
            double lookaheadAlpha, List<String> groupNames, int[] tensorGroup) {
        this(store, rule, schedule, policy, lookaheadK, lookaheadAlpha, groupNames, tensorGroup,
                new Storage(store.dtype(), false, false, 0L));
    }

    Optimizer(ParameterStore store, Rule rule, Schedule schedule, NonFinitePolicy policy, int lookaheadK,
            double lookaheadAlpha, List<String> groupNames, int[] tensorGroup, Storage storage) {
        this(store, rule, schedule, policy, lookaheadK, lookaheadAlpha, groupNames, tensorGroup, storage, 0,
                OptimizerBuilder.LossScaling.NONE);
    }

    Optimizer(ParameterStore store, Rule rule, Schedule schedule, NonFinitePolicy policy, int lookaheadK,
            double lookaheadAlpha, List<String> groupNames, int[] tensorGroup, Storage storage, double maxNorm,
            OptimizerBuilder.LossScaling scaling) {
        if ((maxNorm > 0 || scaling.initScale() > 0) && rule.perTensorPasses()) {
            // Their statistics and Newton-Schulz passes read the gradients outside the chunk walker, which is
            // where the clipping and unscaling coefficient is applied.
            throw new IllegalArgumentException(rule.id() + " does not take " + (maxNorm > 0 ? "clipGradNorm("
                    + maxNorm + ")" : "lossScaling(initScale=" + scaling.initScale() + ")") + ": its per-tensor"
                    + " passes read the raw gradients; clip or unscale them before step()");
        }
        if (rule.perTensorPasses()) {
            for (Tensor t : store.tensors()) {
                if (t.external()) {
                    // The same passes address parameters and gradients by arena position, not through the
                    // caller's addresses that the chunk walker follows.
                    throw new IllegalArgumentException(rule.id() + " does not take external tensors: tensor '"
                            + t.name() + "' is the caller's memory; register it in the store instead");
                }
            }
        }
        this.storage = storage;
        this.store = store;
        this.rule = rule;
        this.schedule = schedule;
        this.policy = policy;
        this.lookaheadK = lookaheadK;
        this.lookaheadAlpha = lookaheadAlpha;
        this.groupNames = List.copyOf(groupNames);
        this.layout = new ArenaLayout(store.tensors(), tensorGroup, groupNames.size(), store.arenaElements());
        List<String> names = new ArrayList<>(rule.slots());
        if (lookaheadK > 0) {
            names.add("slow");
        }
        if (storage.master()) {
            names.add("master");
        }
        this.slotNames = Collections.unmodifiableList(names);
        Backend backend = store.device().backend();
        List<ArenaBuffer> made = new ArrayList<>();
        List<ArenaLayout> layouts = new ArrayList<>();
        try {
            for (int s = 0; s < rule.slots().size(); s++) {
                ArenaLayout sl = io.fusedopt.backend.ShapedSlots.layout(rule, s, layout);
                layouts.add(sl);
                ArenaBuffer b = backend.allocate(sl, "state slot " + rule.slots().get(s), storage.stateDtype());
                made.add(b);
                for (var t : sl.tensors()) {
                    b.fill(t, rule.slotInit(s, layout.group(t.index())));
                }
            }
            ArenaBuffer masterBuffer = null;
            if (storage.master()) {
                masterBuffer = backend.allocate(layout, "master weights", io.fusedopt.core.Dtype.FLOAT32);
                made.add(masterBuffer);
                float[] buf = new float[io.fusedopt.core.LaunchConfig.CHUNK];
                for (var t : store.tensors()) {
                    for (long at = 0; at < t.length(); at += buf.length) {
                        int n = (int) Math.min(buf.length, t.length() - at);
                        store.parameterBuffer().read(t, at, buf, 0, n);
                        masterBuffer.write(t, at, buf, 0, n);
                    }
                }
            }
            this.master = masterBuffer;
            io.fusedopt.core.Dtype weightDtype = storage.master() ? io.fusedopt.core.Dtype.FLOAT32 : store.dtype();
            ArenaBuffer slowBuffer = null;
            if (lookaheadK > 0) {
                slowBuffer = backend.allocate(layout, "lookahead slow weights", weightDtype);
                made.add(slowBuffer);
                // The first step copies the parameters in; until then the slow weights read as zeros everywhere.
                for (var t : store.tensors()) {
                    slowBuffer.fill(t, 0f);
                }
            }
            this.slow = slowBuffer;
            this.slots = List.copyOf(made.subList(0, rule.slots().size()));
            this.options = new StepOptions(policy != NonFinitePolicy.PROPAGATE, maxNorm, scaling.initScale(),
                    scaling.growthFactor(), scaling.backoffFactor(), scaling.growthInterval(), lookaheadK,
                    (float) lookaheadAlpha, policy == NonFinitePolicy.THROW);
            this.slotLayouts = List.copyOf(layouts);
            io.fusedopt.backend.Precision precision = new io.fusedopt.backend.Precision(
                    storage.master() ? store.parameterBuffer() : null, storage.stochastic(), storage.seed());
            StepProgram p = backend.program(rule, layout, storage.master() ? master : store.parameterBuffer(),
                    store.gradientBuffer(), slots, slow, precision);
            try {
                p.configure(options);
            } catch (RuntimeException e) {
                p.close();
                throw e;
            }
            this.program = p;
        } catch (RuntimeException e) {
            for (ArenaBuffer b : made) {
                b.close();
            }
            throw e;
        }
        this.baseLr = new double[groupNames.size()];
        for (int g = 0; g < baseLr.length; g++) {
            baseLr[g] = rule.baseLr(g);
        }
        this.rates = rates(baseLr, lrScale);
    }

    private Rule.Rates rates(double[] base, double scale) {
        double[] b = base.clone();
        return (g, t) -> rule.rate(g, t, schedule.lr(t - 1, b[g]) * scale);
    }

    /**
     * Applies one step to every tensor of every group, using the gradients in the store.
     *
     * @throws NonFiniteGradientException under {@link NonFinitePolicy#THROW} when a gradient is not finite
     * @throws IllegalStateException when closed, when another thread is inside {@code step()}, when a previous
     *     device failure left the state unknown, or when the schedule yields an invalid rate
     * @throws CudaException when the device fails; the optimizer then refuses further steps
     */
    public void step() {
        step((Object) null);
    }

    /**
     * Applies one step as {@link #step()}, queued on the caller's CUDA stream: the step reads the gradients after
     * everything queued earlier on {@code stream} (the framework's backward pass) and its parameter updates come
     * before anything queued on it later, without the host waiting for the device. fusedopt's own later work
     * (copies to and from the store, later steps on its stream, checkpoints) is ordered after the step through an
     * event, and the step after fusedopt's earlier work, so mixing streams never needs a device-wide
     * synchronisation.
     *
     * @param stream a stream of the optimizer's device, in its primary context; not null
     * @throws IllegalArgumentException when {@code stream} belongs to another CUDA context, or on the CPU backend
     * @throws NonFiniteGradientException under {@link NonFinitePolicy#THROW}, as {@link #step()}
     * @throws IllegalStateException as {@link #step()}
     * @throws CudaException as {@link #step()}
     */
    public void step(CUstream stream) {
        step((Object) java.util.Objects.requireNonNull(stream, "stream must not be null"));
    }

    private void step(Object stream) {
        if (!stepping.compareAndSet(false, true)) {
            throw new IllegalStateException("step() is already running on this optimizer in another thread;"
                    + " an optimizer steps from one thread at a time");
        }
        try {
            // A close of this optimizer, its store or its device waits until the step has been issued.
            store.device().use(() -> stepLocked(stream));
        } finally {
            stepping.set(false);
        }
    }

    private void stepLocked(Object stream) {
        checkUsable();
        // One learning-rate setting for every row of this step's window.
        Rule.Rates rates = this.rates;
        stepRates = rates;
        try {
            if (policy == NonFinitePolicy.THROW) {
                // A skip the device reported since the last step: this step is not issued either.
                raise(program.takeHalt(false), " and this step() call issued nothing");
            }
            program.step((t, out, finish) -> stepScalars(rates, t, out, finish), stream);
            if (policy == NonFinitePolicy.THROW) {
                // Immediate on the CPU; on CUDA only once the device has reported, which is never waited for.
                raise(program.takeHalt(false), "");
            }
        } catch (CudaException e) {
            failure = e.getMessage();
            throw new CudaException(e.code(), e.errorName(), e.action() + " during a step"
                    + "; the device state is now unknown: restore the optimizer from the last checkpoint");
        }
    }

    /** Throws the {@link NonFiniteGradientException} of a halt, if any; {@code more} ends its message. */
    private static void raise(StepProgram.Halt h, String more) {
        if (h == null) {
            return;
        }
        String after = h.refusedAfter() == 0 ? ""
                : "; the " + h.refusedAfter() + " step" + (h.refusedAfter() == 1 ? "" : "s")
                        + " issued after it, before the device reported it, changed nothing either";
        throw new NonFiniteGradientException("a gradient is not finite at step " + h.step()
                + "; the step was not applied (parameters and state unchanged)" + after + more);
    }

    /**
     * The per-step scalars of every group for the step that makes the applied count {@code t}, computed in double
     * and checked; throws before anything is issued when the kernels could not use them.
     */
    private void stepScalars(Rule.Rates rates, long t, float[] out, double[] finish) {
        if (t <= 0) {
            throw new IllegalStateException("the step count is " + (t - 1) + ", the largest a long holds: another"
                    + " step would overflow it");
        }
        for (int g = 0; g < groupNames.size(); g++) {
            double lr = rates.at(g, t);
            if (!Double.isFinite(lr) || lr < 0) {
                throw new IllegalStateException("schedule " + schedule + " gave learning rate " + lr
                        + " at step " + (t - 1) + " for group '" + groupNames.get(g) + "'");
            }
            rule.scalars(g, t, lr, rates, out, g * rule.scalarCount());
            rule.finishScalars(g, t, lr, finish, g * rule.finishScalarCount());
            checkScalars(g, t, lr, out, finish);
        }
    }

    /**
     * Refuses a step whose per-step scalars the kernels cannot use: a rate or a derived factor that is infinite or
     * NaN as a float (a schedule past {@code Float.MAX_VALUE}, a decay factor that overflows) would write inf or NaN
     * into every parameter. Checked before anything is issued, so nothing changes.
     */
    private void checkScalars(int g, long t, double lr, float[] scalars, double[] finishScalars) {
        String where = (g == 0 ? "" : "group '" + groupNames.get(g) + "': ") + "at step " + t + " (learning rate "
                + lr + ")";
        if (Float.isInfinite((float) lr)) {
            throw new IllegalStateException(where + " schedule " + schedule + " gave a learning rate that overflows"
                    + " a float32: the kernels would compute with infinity; the step was not applied");
        }
        int k = rule.scalarCount();
        for (int i = 0; i < k; i++) {
            float v = scalars[g * k + i];
            if (!Float.isFinite(v)) {
                throw new IllegalStateException(where + " per-step scalar " + i + " of " + rule.id() + " is " + v
                        + " as a float32 (the hyperparameters " + rule.hyperparams(g) + " overflow it at this rate);"
                        + " the step was not applied");
            }
        }
        int f = rule.finishScalarCount();
        for (int i = 0; i < f; i++) {
            double v = finishScalars[g * f + i];
            if (!Double.isFinite(v)) {
                throw new IllegalStateException(where + " finish scalar " + i + " of " + rule.id() + " is " + v
                        + "; the step was not applied");
            }
        }
    }

    private void checkUsable() {
        checkOpen();
        if (store.isClosed()) {
            throw new IllegalStateException("the optimizer's parameter store is closed"
                    + (program.captured() ? "; the captured step graph refers to its buffers and cannot be replayed"
                    : ""));
        }
        if (failure != null) {
            throw new IllegalStateException("the optimizer refuses to step: an earlier device failure (" + failure
                    + ") left parameters and state unknown; restore from the last checkpoint");
        }
    }

    /**
     * Steps applied so far; skipped steps do not count. On CUDA the count lives on the device and this waits for
     * the steps issued so far.
     */
    public long stepCount() {
        return counters().applied();
    }

    /** Steps applied so far, as {@link #stepCount()}. */
    public long appliedSteps() {
        return stepCount();
    }

    /**
     * Steps skipped for a non-finite gradient (under {@link NonFinitePolicy#SKIP} or {@link NonFinitePolicy#THROW},
     * or for an overflow under loss scaling). On CUDA this waits for the steps issued so far.
     */
    public long skippedSteps() {
        return counters().skipped();
    }

    /**
     * The global gradient norm of the last step, after unscaling and before clipping (torch's
     * {@code clip_grad_norm_} return value); NaN before the first step. On CUDA this waits for the steps issued.
     *
     * @throws IllegalStateException when the optimizer does not clip ({@link OptimizerBuilder#clipGradNorm})
     */
    public double lastGradNorm() {
        if (!options.clips()) {
            throw new IllegalStateException("the optimizer does not clip gradients: build it with clipGradNorm(maxNorm)");
        }
        return counters().lastGradNorm();
    }

    /**
     * The current loss scale: multiply the loss by it before the backward pass. On CUDA this waits for the steps
     * issued; {@link #lossScaleAddress()} gives the device copy without waiting.
     *
     * @throws IllegalStateException when the optimizer has no loss scaling ({@link OptimizerBuilder#lossScaling})
     */
    public float lossScale() {
        if (!options.scalesLoss()) {
            throw new IllegalStateException("the optimizer has no loss scaling: build it with lossScaling(...)");
        }
        return counters().lossScale();
    }

    /**
     * The device address of the current loss scale (a float32 the step updates on the device), so a framework can
     * multiply its loss by it on its stream without a read-back; valid until the optimizer is closed.
     *
     * @throws IllegalStateException without loss scaling, or on the CPU backend, which has no device memory
     */
    public long lossScaleAddress() {
        if (!options.scalesLoss()) {
            throw new IllegalStateException("the optimizer has no loss scaling: build it with lossScaling(...)");
        }
        return store.device().use(() -> {
            checkOpen();
            return program.lossScaleAddress();
        });
    }

    private StepCounters counters() {
        return store.device().use(() -> {
            checkOpen();
            return program.counters();
        });
    }

    /** The step options (clipping, loss scaling, skipping, Lookahead) this optimizer was built with. */
    StepOptions options() {
        return options;
    }

    /** Whether the optimizer has dynamic loss scaling. */
    public boolean scalesLoss() {
        return options.scalesLoss();
    }

    /**
     * The loss-scale growth tracker: applied steps in a row since the scale last changed (0 without scaling). On
     * CUDA this waits for the steps issued.
     */
    public int lossScaleGrowthTracker() {
        return counters().growthTracker();
    }

    /** The learning rate of the first group at the last step (before any step: the rate the first step will use). */
    public double learningRate() {
        return learningRate(0);
    }

    /**
     * The learning rate of group {@code group} at the last step, under the learning-rate setting of the last
     * {@code step()} call (before any step: the rate the first step will use); rejects an unknown group index. On
     * CUDA this reads the device's step count.
     */
    public double learningRate(int group) {
        if (group < 0 || group >= groupNames.size()) {
            throw new IllegalArgumentException("group must be in [0, " + groupNames.size() + "), got " + group);
        }
        Rule.Rates r = stepRates;
        return (r != null ? r : rates).at(group, Math.max(1, stepCount()));
    }

    /**
     * Sets the base learning rate of group {@code group} from the next step on: the rate the schedule scales,
     * replacing the configured {@code lr} (and any earlier call). The rate of step {@code t} is then
     * {@code schedule(t, lr) × lrScale()}; with the default constant schedule that is {@code lr × lrScale()}. The
     * schedule keeps its position: a cosine schedule continues its curve at the new height. Rules that use the rates
     * of earlier steps (Schedule-Free AdamW's averaging weight) see those the current setting gives. Saved in and
     * restored from checkpoints and {@link #state()}; the configuration the optimizer was built with, which a
     * checkpoint must match, is unchanged. Before the first step, {@link #learningRate(int)} shows the new rate.
     *
     * @param group the group index, 0 for the default group
     * @param lr the new base rate, finite and {@code >= 0}
     * @throws IllegalArgumentException naming the group and the value for an unknown group or a NaN, infinite or
     *     negative rate; nothing changes then
     * @throws IllegalStateException when the optimizer is closed
     */
    public synchronized void setLearningRate(int group, double lr) {
        checkOpen();
        String name = group >= 0 && group < baseLr.length ? "'" + groupNames.get(group) + "'" : null;
        if (name == null) {
            throw new IllegalArgumentException("setLearningRate: group must be in [0, " + baseLr.length + "), got "
                    + group);
        }
        if (!Double.isFinite(lr) || lr < 0) {
            throw new IllegalArgumentException("setLearningRate: lr for group " + name + " must be finite and >= 0,"
                    + " got " + lr);
        }
        double[] base = baseLr.clone();
        base[group] = lr;
        checkNextRates("setLearningRate: lr " + lr + " for group " + name, base, lrScale);
        applyLrControl(base, lrScale);
    }

    /**
     * Sets the base learning rate of the group named {@code group}; see {@link #setLearningRate(int, double)}.
     *
     * @throws IllegalArgumentException for an unknown group name (naming the groups there are) or an invalid rate
     */
    public void setLearningRate(String group, double lr) {
        int g = groupNames.indexOf(group);
        if (g < 0) {
            throw new IllegalArgumentException("setLearningRate: unknown group '" + group + "'; the groups are "
                    + groupNames);
        }
        setLearningRate(g, lr);
    }

    /**
     * Multiplies every group's scheduled rate by {@code scale} from the next step on (replacing the earlier
     * factor, not compounding it): plateau-style control, e.g. {@code setLrScale(lrScale() * 0.1)} when the loss
     * stalls. Applies on top of {@link #setLearningRate}: the rate of step {@code t} is
     * {@code schedule(t, base rate) × scale}. Saved in and restored from checkpoints and {@link #state()}.
     *
     * @param scale the factor, finite and {@code > 0}
     * @throws IllegalArgumentException naming the value when it is NaN, infinite, zero or negative; nothing changes
     * @throws IllegalStateException when the optimizer is closed
     */
    public synchronized void setLrScale(double scale) {
        checkOpen();
        if (!Double.isFinite(scale) || scale <= 0) {
            throw new IllegalArgumentException("setLrScale: lrScale must be finite and > 0, got " + scale);
        }
        checkNextRates("setLrScale: lrScale " + scale, baseLr, scale);
        applyLrControl(baseLr, scale);
    }

    /** Refuses a setting under which the next step's rate of some group would overflow a float32 in the kernels. */
    private void checkNextRates(String what, double[] base, double scale) {
        Rule.Rates next = rates(base, scale);
        long steps = stepCount();
        for (int g = 0; g < base.length; g++) {
            double lr = next.at(g, steps + 1);
            if (!Float.isFinite((float) lr)) {
                throw new IllegalArgumentException(what + " would make the rate of group '" + groupNames.get(g)
                        + "' at step " + (steps + 1) + " " + lr + ", which overflows a float32");
            }
        }
    }

    /** The factor {@link #setLrScale} set on every scheduled rate; 1 by default. */
    public synchronized double lrScale() {
        return lrScale;
    }

    /**
     * The base rate group {@code group}'s schedule scales now: the configured {@code lr}, or what
     * {@link #setLearningRate} set; rejects an unknown group index.
     */
    public synchronized double baseLearningRate(int group) {
        if (group < 0 || group >= baseLr.length) {
            throw new IllegalArgumentException("group must be in [0, " + baseLr.length + "), got " + group);
        }
        return baseLr[group];
    }

    /** Replaces the learning-rate control (values already checked) and publishes the rates built from it. */
    private synchronized void applyLrControl(double[] base, double scale) {
        System.arraycopy(base, 0, baseLr, 0, baseLr.length);
        lrScale = scale;
        rates = rates(baseLr, lrScale);
    }

    /** The group names; index 0 is the default group. */
    public List<String> groupNames() {
        return groupNames;
    }

    /** The rule (algorithm and per-group hyperparameters). */
    public Rule rule() {
        return rule;
    }

    /** The schedule. */
    public Schedule schedule() {
        return schedule;
    }

    /** The non-finite gradient policy. */
    public NonFinitePolicy nonFinitePolicy() {
        return policy;
    }

    /** Lookahead's k, or 0 without Lookahead. */
    public int lookaheadK() {
        return lookaheadK;
    }

    /** Lookahead's α (meaningless without Lookahead). */
    public double lookaheadAlpha() {
        return lookaheadAlpha;
    }

    /** The store this optimizer updates. */
    public ParameterStore store() {
        return store;
    }

    /** The layout with this optimizer's groups. */
    public ArenaLayout layout() {
        return layout;
    }

    /**
     * The storage type of state slot {@code slot} ({@link #slotNames()}): the state dtype, the weights' dtype for
     * {@code slow}, float32 for {@code master}.
     *
     * @throws IllegalArgumentException for an unknown slot
     */
    public io.fusedopt.core.Dtype slotDtype(String slot) {
        return buffer(slot).dtype();
    }

    /** The names of the state slots, Lookahead's {@code slow} and the {@code master} weights last when present. */
    public List<String> slotNames() {
        return slotNames;
    }

    /**
     * A copy of one state slot of one tensor, in row-major order of {@link #stateShape}; rejects unknown tensor and
     * slot names.
     */
    public float[] state(String tensor, String slot) {
        Tensor t = view(tensor, slot);
        float[] out = new float[ParameterStore.wholeLength(t)];
        readState(tensor, slot, 0, out, 0, out.length);
        return out;
    }

    /**
     * The shape of a state slot of a tensor: the tensor's shape, except for a rule's shaped slots (Adafactor's
     * {@code v} of a factored tensor: its row and column statistics, {@code [rows + cols]}); rejects unknown tensor
     * and slot names.
     */
    public long[] stateShape(String tensor, String slot) {
        return view(tensor, slot).shape();
    }

    /** The view of {@code tensor} in the layout of {@code slot}. */
    private Tensor view(String tensor, String slot) {
        Tensor t = store.tensor(tensor);
        int i = slotNames.indexOf(slot);
        if (i < 0 || i >= slotLayouts.size()) {
            buffer(slot);
            return t;
        }
        return slotLayouts.get(i).tensors().get(t.index());
    }

    /** Reads {@code len} elements of a state slot of a tensor from element {@code at} into {@code dst[from..]}. */
    public void readState(String tensor, String slot, long at, float[] dst, int from, int len) {
        store.device().use(() -> {
            checkOpen();
            buffer(slot).read(view(tensor, slot), at, dst, from, len);
        });
    }

    /** Writes {@code len} elements of a state slot of a tensor at element {@code at} from {@code src[from..]}. */
    public void writeState(String tensor, String slot, long at, float[] src, int from, int len) {
        store.device().use(() -> {
            checkOpen();
            buffer(slot).write(view(tensor, slot), at, src, from, len);
        });
    }

    private ArenaBuffer buffer(String slot) {
        int i = slotNames.indexOf(slot);
        if (i < 0) {
            throw new IllegalArgumentException("unknown state slot '" + slot + "'; " + rule.id() + " has " + slotNames);
        }
        if (i < slots.size()) {
            return slots.get(i);
        }
        return slotNames.get(i).equals("master") ? master : slow;
    }

    /**
     * The weights to evaluate the model at for one tensor, a copy. For Schedule-Free AdamW the parameters in the
     * store are y, where gradients are taken, and this is the average x = (y - (1-β1) z) / β1 that the method
     * evaluates at; before the first step, and for every other optimizer, it is a copy of the parameters. The
     * store is not changed: to evaluate in place, copy the parameters aside, write these with
     * {@link ParameterStore#setParameters}, and write the copy back before the next step.
     *
     * @throws IllegalArgumentException for an unknown tensor name
     * @throws IllegalStateException when the optimizer or its store is closed
     */
    public float[] evalParameters(String tensor) {
        return store.device().use(() -> {
            checkOpen();
            float[] w = master != null ? state(tensor, "master") : store.parameters(tensor);
            if (!rule.hasEvalWeights() || program.counters().applied() == 0) {
                return w;
            }
            Tensor t = store.tensor(tensor);
            float[][] s = new float[rule.slots().size()][];
            for (int i = 0; i < s.length; i++) {
                s[i] = state(tensor, rule.slots().get(i));
            }
            float[] out = new float[w.length];
            rule.evalWeights(layout.group(t.index()), w, s, out, w.length);
            return out;
        });
    }

    /** The rule's per-tensor state (for SWATS: λ, Λ, phase, SGD coefficient per tensor); a copy. */
    public double[] tensorState() {
        return store.device().use(() -> {
            checkOpen();
            return program.tensorState();
        });
    }

    /** The per-tensor state values of one tensor; empty for rules without it. */
    public double[] tensorState(String tensor) {
        int w = rule.tensorStateWidth();
        int i = store.tensor(tensor).index();
        return Arrays.copyOfRange(tensorState(), i * w, (i + 1) * w);
    }

    /** Replaces the step count and skipped count, the per-tensor state, for restoring a checkpoint. */
    void restoreCounters(long stepCount, long skippedCount, double[] tensorState) {
        checkOpen();
        program.setTensorState(tensorState);
        StepCounters c = program.counters();
        program.setCounters(stepCount, skippedCount, c.lossScale(), c.growthTracker());
        // The restored rates give the last step's rate from now on.
        stepRates = null;
    }

    /**
     * What a load restores last: the learning-rate control ({@code baseLr} null: the configured rates and scale 1),
     * then the counters and the per-tensor state.
     */
    io.fusedopt.checkpoint.Streaming.Counters restorer() {
        return new io.fusedopt.checkpoint.Streaming.Counters() {
            @Override
            public void restore(long stepCount, long skippedCount, double[] tensorState) {
                restore(stepCount, skippedCount, tensorState, null, 1.0);
            }

            @Override
            public void restore(long stepCount, long skippedCount, double[] tensorState, double[] base,
                    double scale) {
                checkOpen();
                double[] b = base != null ? base.clone() : new double[baseLr.length];
                for (int g = 0; base == null && g < b.length; g++) {
                    b[g] = rule.baseLr(g);
                }
                applyLrControl(b, base != null ? scale : 1.0);
                restoreCounters(stepCount, skippedCount, tensorState);
            }

            @Override
            public void restoreLossScale(float scale, int growthTracker) {
                if (options.scalesLoss()) {
                    StepCounters c = program.counters();
                    program.setCounters(c.applied(), c.skipped(), scale, growthTracker);
                }
            }
        };
    }

    /**
     * Saves this optimizer's state to {@code file}, atomically, as a safetensors checkpoint (see {@link Checkpoint}):
     * every state slot of every tensor, the per-tensor state, the step and skipped counts, the learning-rate control
     * ({@link #setLearningRate}, {@link #setLrScale}) when it was changed, and the configuration
     * (rule, hyperparameters of every group, schedule, Lookahead). Parameters are not included: they live in the
     * {@link ParameterStore}, which the caller saves with the model. Do not step from another thread meanwhile.
     *
     * @param file the checkpoint to write (conventionally {@code *.safetensors}); not null
     * @throws CheckpointException naming the file when it cannot be written; an earlier file at the path is intact
     * @throws IllegalStateException when the optimizer or its store is closed, or a device failure left the state
     *     unknown
     */
    public void saveState(java.nio.file.Path file) {
        // A state left unknown by a device failure must not become a checkpoint someone later trusts.
        store.device().use(() -> {
            checkUsable();
            Checkpoint.save(this, file);
        });
    }

    /**
     * Replaces this optimizer's state, step and skipped counts and learning-rate control (the configured rates when
     * the checkpoint has none) with those of a checkpoint written by
     * {@link #saveState}, possibly on another backend. The checkpoint must come from an optimizer with the same
     * rule, hyperparameters, groups, schedule, Lookahead and tensors (names and shapes); parameters are not in it
     * and must be restored in the store separately. Everything is verified before anything changes.
     * Do not step from another thread meanwhile.
     *
     * @param file a checkpoint written by {@link #saveState}; not null
     * @throws CheckpointException naming the file and the problem (unreadable, truncated, corrupt, checksum
     *     mismatch, unknown format version, different configuration or tensors); the optimizer is then unchanged
     * @throws IllegalStateException when the optimizer or its store is closed
     * @throws CudaException when the device fails while the verified state is written; rebuild the optimizer
     */
    public void loadState(java.nio.file.Path file) {
        store.device().use(() -> {
            checkOpen();
            Checkpoint.load(this, file);
        });
    }

    /**
     * This optimizer's whole state, copied into memory: what {@link #saveState} writes to a file (every state slot,
     * the per-tensor state, the counters, the learning-rate control, the configuration), for frameworks that keep
     * their own checkpoints. Waits for the steps issued so far. Do not step from another thread meanwhile.
     *
     * @return an immutable state that {@link #load(OptimizerState)} restores
     * @throws IllegalStateException when the optimizer or its store is closed, a device failure left the state
     *     unknown, or a tensor has 2^31 - 8 elements or more (save such an optimizer with {@link #saveState})
     */
    public OptimizerState state() {
        return store.device().use(() -> {
            checkUsable();
            StepCounters c = program.counters();
            return new OptimizerState(io.fusedopt.checkpoint.StateImage.capture(this), c.applied(), c.skipped());
        });
    }

    /**
     * Replaces this optimizer's state, counters and learning-rate control with {@code state}'s, taken by
     * {@link #state()} from this or another optimizer, possibly on another backend. The state must come from an
     * optimizer with the same rule, hyperparameters, groups, schedule, Lookahead and tensors: it is checked exactly
     * as a checkpoint file is by {@link #loadState}, and refused with the same messages, the file part reading
     * {@code (in-memory optimizer state)}. Everything is verified before anything changes.
     *
     * @param state a state from {@link #state()}; not null
     * @throws CheckpointException naming the problem (a different configuration or different tensors); the
     *     optimizer is then unchanged
     * @throws IllegalStateException when the optimizer or its store is closed
     * @throws CudaException when the device fails while the verified state is written; rebuild the optimizer
     */
    public void load(OptimizerState state) {
        java.util.Objects.requireNonNull(state, "state must not be null");
        store.device().use(() -> {
            checkOpen();
            state.image().load(this, restorer());
        });
    }

    /**
     * Records one whole step as a CUDA graph, replayed by every later {@link #step()} (or {@link #step(CUstream)})
     * with a single graph launch: the finite check or the gradient norm, the device's decision (skip, clip
     * coefficient, counts, loss scale), Lookahead's copy and sync, the rule's passes and finalize. The graph is the
     * same for every step, since what changes between steps is decided on the device and the per-step scalars still
     * go down as a window copied before each launch, so it stays valid for the optimizer's life, for every rule and
     * policy, across checkpoint loads and learning-rate changes. Capturing runs nothing. A second call replaces the
     * graph; {@link #releaseGraph()} goes back to launching each pass.
     *
     * @throws IllegalStateException on the CPU backend (it has no graphs), when the optimizer or its store is closed,
     *     or after a device failure
     * @throws CudaException when the driver refuses the capture; the optimizer keeps stepping without a graph
     */
    public void capture() {
        store.device().use(() -> {
            checkUsable();
            program.capture();
        });
    }

    /** Drops the graph of {@link #capture()}; later steps launch their passes one by one. Harmless without one. */
    public void releaseGraph() {
        store.device().use(() -> {
            checkOpen();
            program.releaseGraph();
        });
    }

    /** Whether steps replay a graph recorded by {@link #capture()}. */
    public boolean captured() {
        return program.captured();
    }

    /**
     * Waits until every step issued so far has finished on the device. Under {@link NonFinitePolicy#THROW} it then
     * raises a non-finite gradient that {@link #step()} has not raised yet, so that a loop can learn of it before
     * its next step.
     *
     * @throws NonFiniteGradientException under {@link NonFinitePolicy#THROW}, for a step skipped and not yet raised
     */
    public void synchronize() {
        store.device().synchronize();
        // Not while another thread is inside step(): that step() raises it.
        if (policy == NonFinitePolicy.THROW && stepping.compareAndSet(false, true)) {
            try {
                if (!closed) {
                    store.device().use(() -> raise(program.takeHalt(true), ""));
                }
            } finally {
                stepping.set(false);
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the optimizer is closed");
        }
        if (store.device().isClosed()) {
            throw new IllegalStateException("the optimizer's device is closed");
        }
    }

    /**
     * Frees the state buffers, after waiting for a step or copy running in another thread. Closing twice is
     * harmless; the store stays open.
     */
    @Override
    public void close() {
        store.device().release(() -> {
            if (closed) {
                return;
            }
            closed = true;
            store.device().quietSynchronize();
            try {
                program.close();
            } finally {
                for (ArenaBuffer b : slots) {
                    b.close();
                }
                if (slow != null) {
                    slow.close();
                }
                if (master != null) {
                    master.close();
                }
            }
        });
    }

}

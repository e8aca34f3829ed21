package io.fusedopt;

import io.fusedopt.core.CudaException;
import io.fusedopt.core.Tensor;
import io.fusedopt.backend.ArenaBuffer;
import io.fusedopt.backend.ArenaLayout;
import io.fusedopt.backend.Backend;
import io.fusedopt.backend.StepPlan;
import io.fusedopt.backend.StepProgram;
import io.fusedopt.rule.Rule;
import io.fusedopt.schedule.Schedule;
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
    private final float[] scalars;
    private final double[] finishScalars;
    private final double[] lastLr;
    private final Rule.Rates rates;
    private long steps;
    private long skipped;
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
        this.storage = storage;
        this.store = store;
        this.rule = rule;
        this.schedule = schedule;
        this.policy = policy;
        this.lookaheadK = lookaheadK;
        this.lookaheadAlpha = lookaheadAlpha;
        this.groupNames = List.copyOf(groupNames);
        this.layout = new ArenaLayout(store.tensors(), tensorGroup, groupNames.size(), store.arenaElements());
        this.scalars = new float[rule.scalarCount() * groupNames.size()];
        this.finishScalars = new double[rule.finishScalarCount() * groupNames.size()];
        this.lastLr = new double[groupNames.size()];
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
            this.slotLayouts = List.copyOf(layouts);
            io.fusedopt.backend.Precision precision = new io.fusedopt.backend.Precision(
                    storage.master() ? store.parameterBuffer() : null, storage.stochastic(), storage.seed());
            this.program = backend.program(rule, layout, storage.master() ? master : store.parameterBuffer(),
                    store.gradientBuffer(), slots, slow, precision);
        } catch (RuntimeException e) {
            for (ArenaBuffer b : made) {
                b.close();
            }
            throw e;
        }
        this.rates = (g, t) -> rule.rate(g, t, schedule.lr(t - 1, rule.baseLr(g)));
        for (int g = 0; g < lastLr.length; g++) {
            lastLr[g] = rates.at(g, 1);
        }
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
        if (!stepping.compareAndSet(false, true)) {
            throw new IllegalStateException("step() is already running on this optimizer in another thread;"
                    + " an optimizer steps from one thread at a time");
        }
        try {
            // A close of this optimizer, its store or its device waits until the step has been issued.
            store.device().use(this::stepLocked);
        } finally {
            stepping.set(false);
        }
    }

    private void stepLocked() {
        checkUsable();
        if (steps == Long.MAX_VALUE) {
            throw new IllegalStateException("the step count is " + steps + ", the largest a long holds: another"
                    + " step would overflow it");
        }
        long t = steps + 1;
        double[] lrs = new double[lastLr.length];
        for (int g = 0; g < lrs.length; g++) {
            double lr = rates.at(g, t);
            if (!Double.isFinite(lr) || lr < 0) {
                throw new IllegalStateException("schedule " + schedule + " gave learning rate " + lr
                        + " at step " + steps + " for group '" + groupNames.get(g) + "'");
            }
            lrs[g] = lr;
            rule.scalars(g, t, lr, rates, scalars, g * rule.scalarCount());
            rule.finishScalars(g, t, lr, finishScalars, g * rule.finishScalarCount());
            checkScalars(g, t, lr);
        }
        boolean check = policy != NonFinitePolicy.PROPAGATE;
        StepPlan plan = StepPlan.of(rule, check, lookaheadK > 0 && t == 1, lookaheadK > 0 && t % lookaheadK == 0);
        try {
            program.beginStep(t);
            program.run(plan, scalars, finishScalars, (float) lookaheadAlpha);
            if (check && program.lastStepSkipped()) {
                skipped++;
                if (policy == NonFinitePolicy.THROW) {
                    throw new NonFiniteGradientException("a gradient is not finite at step " + t
                            + "; the step was not applied (parameters and state unchanged)");
                }
                return;
            }
        } catch (CudaException e) {
            failure = e.getMessage();
            throw new CudaException(e.code(), e.errorName(), e.action() + " during step " + t
                    + "; the device state is now unknown: restore the optimizer from the last checkpoint");
        }
        steps = t;
        System.arraycopy(lrs, 0, lastLr, 0, lrs.length);
    }

    /**
     * Refuses a step whose per-step scalars the kernels cannot use: a rate or a derived factor that is infinite or
     * NaN as a float (a schedule past {@code Float.MAX_VALUE}, a decay factor that overflows) would write inf or NaN
     * into every parameter. Checked before anything is issued, so nothing changes.
     */
    private void checkScalars(int g, long t, double lr) {
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
            throw new IllegalStateException("the optimizer's parameter store is closed");
        }
        if (failure != null) {
            throw new IllegalStateException("the optimizer refuses to step: an earlier device failure (" + failure
                    + ") left parameters and state unknown; restore from the last checkpoint");
        }
    }

    /** Steps applied so far; skipped steps do not count. */
    public long stepCount() {
        return steps;
    }

    /** Steps skipped for a non-finite gradient under {@link NonFinitePolicy#SKIP} or {@link NonFinitePolicy#THROW}. */
    public long skippedSteps() {
        return skipped;
    }

    /** The learning rate of the first group at the last step (before any step: the rate the first step will use). */
    public double learningRate() {
        return lastLr[0];
    }

    /** The learning rate of group {@code group} at the last step; rejects an unknown group index. */
    public double learningRate(int group) {
        if (group < 0 || group >= lastLr.length) {
            throw new IllegalArgumentException("group must be in [0, " + lastLr.length + "), got " + group);
        }
        return lastLr[group];
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
            if (!rule.hasEvalWeights() || steps == 0) {
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
        this.steps = stepCount;
        this.skipped = skippedCount;
        for (int g = 0; g < lastLr.length; g++) {
            lastLr[g] = rates.at(g, Math.max(1, stepCount));
        }
    }

    /**
     * Saves this optimizer's state to {@code file}, atomically, as a safetensors checkpoint (see {@link Checkpoint}):
     * every state slot of every tensor, the per-tensor state, the step and skipped counts, and the configuration
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
     * Replaces this optimizer's state, step and skipped counts with those of a checkpoint written by
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

    /** Waits until every step issued so far has finished on the device. */
    public void synchronize() {
        store.device().synchronize();
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

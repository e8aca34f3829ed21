package io.fusedopt.rule;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One optimizer algorithm with the hyperparameters of each parameter group.
 *
 * <p>A rule has three parts, and each backend uses the same first two:
 * <ol>
 *   <li>its state slots ({@link #slots()}), buffers shaped like the parameters;</li>
 *   <li>the per-step scalars ({@link #scalars}): everything the element-wise update needs for one group at step
 *       {@code t}, computed here once, in double, and handed down as float;</li>
 *   <li>the per-element update, written twice: in Java ({@link #update}) and as a {@code __host__ __device__}
 *       function in {@code cuda/include/fusedopt/}. The two agree bit for bit: the same operations in the same
 *       order, with explicit fused multiply-adds ({@code Math.fma} / {@code fmaf}) and IEEE square root and division.</li>
 * </ol>
 * Rules whose update needs a per-tensor reduction ({@link Reduction}) also keep a few doubles per tensor
 * ({@link #tensorStateWidth()}), updated by {@link #finishTensor} from the tensor's sums in the fixed order of
 * {@link Reduce}.
 */
public abstract class Rule {
    /** When a rule reduces over each tensor. */
    public enum Reduction {
        /** No reduction. */
        NONE,
        /** A norm pass before the update computes two sums per tensor (LAMB's weight and update norms). */
        BEFORE_UPDATE,
        /** The update itself computes two sums per tensor, consumed after it (SWATS's projections). */
        DURING_UPDATE
    }

    /**
     * One pass of a rule over the arena, in the order {@link #passes()} lists them. Both backends execute the same
     * list: the CPU with the Java methods named below, CUDA with the entry the pass names.
     */
    public enum Pass {
        /** Read-only per-chunk sums into the partials ({@link #normChunk}; CUDA {@code <id>_norm_f32}). */
        NORM,
        /** The per-element update ({@link #update}; CUDA {@code <family>[_lookahead]_f32}). */
        UPDATE,
        /** The per-element update that also sums two values per chunk into the partials. */
        UPDATE_WITH_SUMS,
        /** Per tensor: folds the partials into the tensor state ({@link #finishTensor}; CUDA {@code <id>_finalize}). */
        FINISH,
        /**
         * Per tensor: the row and column statistics of a factored second moment, written into the shaped slots
         * ({@link #tensorPass}; CUDA {@code <id>_stats_f32}).
         */
        FACTOR_STATS,
        /**
         * Per tensor, after {@link #FACTOR_STATS}: the per-row and per-column scales the element passes read from
         * the step scratch ({@link #tensorPass}; CUDA {@code <id>_scales_f32}).
         */
        FACTOR_SCALES,
        /**
         * The per-element pass before a whole-matrix transform: writes the transform's input into the step scratch
         * and sums its squares per chunk into the partials ({@link #prepareChunk}; CUDA {@code <family>_prepare_f32}).
         */
        ORTHO_PREPARE,
        /**
         * Per tensor: Muon's Newton–Schulz orthogonalisation of the scratch matrices ({@link #tensorPass}; CUDA
         * {@code <id>_ns_f32}, one launch per stage).
         */
        ORTHOGONALIZE
    }

    private final Algorithm algorithm;
    private final List<HyperValues> values;
    private final List<String> groupNames;

    /**
     * Creates a rule over validated group values.
     *
     * @throws IllegalArgumentException when there is no group or the names do not match the groups
     */
    protected Rule(Algorithm algorithm, List<HyperValues> groups, List<String> groupNames) {
        this.algorithm = Objects.requireNonNull(algorithm, "algorithm");
        if (groups.isEmpty()) {
            throw new IllegalArgumentException("a rule needs at least one parameter group");
        }
        if (groupNames.size() != groups.size()) {
            throw new IllegalArgumentException(groupNames.size() + " group names for " + groups.size() + " groups");
        }
        this.values = List.copyOf(groups);
        this.groupNames = List.copyOf(groupNames);
    }

    /** The algorithm this rule runs. */
    public final Algorithm algorithm() {
        return algorithm;
    }

    /** The optimizer's identifier, as in the golden cases ({@code "adamw"}, {@code "lamb"} ...). */
    public final String id() {
        return algorithm.id();
    }

    /** Number of parameter groups. */
    public final int groupCount() {
        return values.size();
    }

    /** The validated hyperparameters of {@code group}. */
    public final HyperValues values(int group) {
        return values.get(group);
    }

    /** The name of {@code group}, for messages. */
    public final String groupName(int group) {
        return groupNames.get(group);
    }

    /** The message prefix naming {@code group}: {@code "group 'x': "}, or nothing for the default group. */
    protected final String prefix(int group) {
        return group == 0 ? "" : "group '" + groupNames.get(group) + "': ";
    }

    /** The state slot names, in buffer order (for example {@code exp_avg}, {@code exp_avg_sq}). */
    public abstract List<String> slots();

    /**
     * The number of state slots one update reads and writes per element, when it is fewer than {@link #slots()}
     * (SWATS touches two of its three); counts memory traffic.
     */
    public int slotsTouched() {
        return slots().size();
    }

    /** What values a state slot can hold, as the rule's equations allow them; checked on every loaded checkpoint. */
    public enum SlotDomain {
        /** Any float. */
        ANY,
        /** {@code >= 0} or NaN (a second moment, an accumulator): a negative value cannot arise. */
        NON_NEGATIVE
    }

    /** The domain of state slot {@code slot}; {@link SlotDomain#ANY} unless the rule says otherwise. */
    public SlotDomain slotDomain(int slot) {
        return SlotDomain.ANY;
    }

    /**
     * Why a tensor's per-tensor state {@code ts[off .. off + tensorStateWidth())} cannot arise from this rule's
     * steps, or null when it can; checked on every loaded checkpoint.
     */
    public String invalidTensorState(double[] ts, int off) {
        return null;
    }

    /**
     * The number of state slots the norm pass ({@link Reduction#BEFORE_UPDATE}) reads per element, when it is
     * fewer than {@link #slots()} (LARS reads only w and g); counts memory traffic.
     */
    public int normSlotsRead() {
        return slots().size();
    }

    /**
     * Whether state slot {@code slot} is sized per tensor by {@link #slotShape} instead of being shaped like the
     * parameters (Adafactor's factored second moment: a row and a column statistic per matrix). Such a slot has
     * its own arena layout; the CPU binds it per tensor ({@link Chunk#sFrom}) and CUDA indexes it through the
     * rule's tensor geometry ({@link #tensorGeometry}).
     */
    public boolean slotShaped(int slot) {
        return false;
    }

    /**
     * The shape of state slot {@code slot} for a tensor of shape {@code shape} in {@code group}: the tensor's own
     * shape unless {@link #slotShaped} says otherwise. Never empty and never of zero elements.
     */
    public long[] slotShape(int slot, long[] shape, int group) {
        return shape.clone();
    }

    /**
     * Floats of per-step scratch a tensor of shape {@code shape} in {@code group} needs (held by the step program,
     * not state, not in checkpoints); 0 for rules without it.
     */
    public long scratchLength(long[] shape, int group) {
        return 0;
    }

    /** Longs of tensor geometry per tensor ({@link #tensorGeometry}); 0 for rules without it. */
    public int tensorGeometryWidth() {
        return 0;
    }

    /**
     * The geometry of a tensor of shape {@code shape} in {@code group}, {@link #tensorGeometryWidth()} longs, which
     * both backends read: the CPU through {@link Chunk#geometry}, CUDA as a table uploaded once. The step program
     * fills in the offsets of the tensor's shaped slots and scratch ({@code sideOffset}, {@code scratchOffset},
     * both in elements) at the indices this rule names ({@link #GEOMETRY_SIDE_OFFSET},
     * {@link #GEOMETRY_SCRATCH_OFFSET}) and the tensor's arena offset at {@link #GEOMETRY_OFFSET}.
     */
    public long[] tensorGeometry(long[] shape, int group) {
        return new long[0];
    }

    /** Index of the tensor's arena offset in {@link #tensorGeometry}. */
    public static final int GEOMETRY_OFFSET = 0;
    /** Index of the tensor's offset in the shaped slots' layout in {@link #tensorGeometry}. */
    public static final int GEOMETRY_SIDE_OFFSET = 1;
    /** Index of the tensor's offset in the scratch in {@link #tensorGeometry}. */
    public static final int GEOMETRY_SCRATCH_OFFSET = 2;
    /** Index in {@link #tensorGeometry} of the work units (CUDA warps) the tensor's per-tensor statistics need. */
    public static final int GEOMETRY_WORK = 3;
    /** Index in {@link #tensorGeometry} of the tensor's first work unit, filled in by the step program. */
    public static final int GEOMETRY_FIRST_WORK = 4;

    /**
     * What a per-tensor pass ({@link Pass#FACTOR_STATS}, {@link Pass#FACTOR_SCALES}) reads and writes of one
     * tensor on the CPU: slices of its gradients and shaped slots, and its scratch.
     */
    public interface TensorAccess {
        /** The tensor's geometry ({@link #tensorGeometry}). */
        long[] geometry();

        /** Copies {@code len} gradients from element {@code at} into {@code dst[from..]}. */
        void readGradients(long at, float[] dst, int from, int len);

        /** Copies {@code len} elements of shaped slot {@code slot} from element {@code at} into {@code dst[from..]}. */
        void readSlot(int slot, long at, float[] dst, int from, int len);

        /** Copies {@code len} floats from {@code src[from..]} into shaped slot {@code slot} at element {@code at}. */
        void writeSlot(int slot, long at, float[] src, int from, int len);

        /** The tensor's scratch, {@link #scratchLength} floats (null when 0). */
        float[] scratch();

        /** Value {@code i} of the tensor's per-tensor state ({@link #tensorStateWidth}). */
        double tensorState(int i);

        /**
         * Runs {@code part.accept(p)} for every {@code p} in {@code [0, parts)}, on as many threads as the backend
         * has, and returns when all are done (rethrowing the first failure). Each part must write only outputs no
         * other part reads or writes, so the split does not change a bit.
         */
        void parallel(int parts, java.util.function.IntConsumer part);
    }

    /**
     * For {@link Pass#ORTHO_PREPARE}: updates the chunk's slots, writes the transform's input into the tensor's
     * scratch and accumulates its squares into lane A.
     *
     * @throws UnsupportedOperationException for a rule without that pass
     */
    public void prepareChunk(Chunk c, float[] sc, int so) {
        throw new UnsupportedOperationException(id() + " has no prepare pass");
    }

    /**
     * Runs per-tensor pass {@code pass} over one tensor on the CPU, with the group's float scalars at
     * {@code sc[so..]} and double finish scalars at {@code fs[fo..]}; the CUDA entry does the same operations in the
     * same order.
     *
     * @throws UnsupportedOperationException for a rule without per-tensor passes
     */
    public void tensorPass(Pass pass, TensorAccess t, float[] sc, int so, double[] fs, int fo) {
        throw new UnsupportedOperationException(id() + " has no per-tensor pass " + pass);
    }

    /**
     * As {@link #finishTensor(double, double, double[], int, double[], int)}, for a rule that needs the tensor's
     * element count {@code length} (a mean over the tensor); the default ignores it.
     */
    public void finishTensor(double sumA, double sumB, long length, double[] fs, int fo, double[] ts, int off) {
        finishTensor(sumA, sumB, fs, fo, ts, off);
    }

    /**
     * Whether any pass works per tensor, outside the chunk walker ({@link Pass#FACTOR_STATS},
     * {@link Pass#FACTOR_SCALES}, {@link Pass#ORTHO_PREPARE}, {@link Pass#ORTHOGONALIZE}: Adafactor's statistics,
     * Muon's products). Such passes address the float32 buffers by arena position, so they see neither the widened
     * chunks of the 16-bit regimes, nor the caller's addresses of external tensors, nor the clipping and unscaling
     * coefficient the walker applies.
     */
    public final boolean perTensorPasses() {
        for (Pass p : passes()) {
            switch (p) {
                case FACTOR_STATS, FACTOR_SCALES, ORTHO_PREPARE, ORTHOGONALIZE -> {
                    return true;
                }
                default -> {
                }
            }
        }
        return false;
    }

    /** Whether the rule stores float32 only: it has {@linkplain #perTensorPasses() per-tensor passes}. */
    public final boolean float32Only() {
        return perTensorPasses();
    }

    /**
     * Refuses a storage regime (as {@code Precision.regime} names it: {@code f32}, {@code bf16}, {@code bf16_master}
     * ...) this rule has no passes for.
     *
     * @throws IllegalArgumentException naming the rule and the regime
     */
    public void checkRegime(String regime) {
        if (float32Only() && !"f32".equals(regime)) {
            throw new IllegalArgumentException(id() + " stores float32 only: parameters, gradients and state in"
                    + " float32, without master weights or stochastic rounding; got the " + regime + " regime");
        }
    }

    /** The value a slot starts with, for tensors of {@code group}. */
    public float slotInit(int slot, int group) {
        return 0f;
    }

    /** The base learning rate of {@code group}, which schedules scale. */
    public final double baseLr(int group) {
        return values.get(group).number("lr");
    }

    /** Number of float scalars per group per step. */
    public abstract int scalarCount();

    /**
     * Writes the scalars of {@code group} for step {@code t} (from 1) at learning rate {@code lr} into
     * {@code out[off .. off + scalarCount())}.
     */
    public abstract void scalars(int group, long t, double lr, float[] out, int off);

    /** The learning rate a group used at step {@code t} (from 1), as the optimizer's schedule and the rule give it. */
    @FunctionalInterface
    public interface Rates {
        /** The rate of {@code group} at step {@code t}. */
        double at(int group, long t);
    }

    /**
     * The rate of step {@code t} (from 1) from the schedule's rate {@code scheduled}: the schedule's rate itself,
     * except for a rule with a warmup of its own (Schedule-Free AdamW), which scales it. Must be a pure function of
     * its arguments: {@link Rates} replays it for earlier steps.
     */
    public double rate(int group, long t, double scheduled) {
        return scheduled;
    }

    /**
     * Writes the scalars of {@code group} for step {@code t} as {@link #scalars(int, long, double, float[], int)},
     * for a rule whose scalars depend on the rates of earlier steps as well ({@code rates}; Schedule-Free AdamW's
     * averaging weight). The default ignores {@code rates}.
     */
    public void scalars(int group, long t, double lr, Rates rates, float[] out, int off) {
        scalars(group, t, lr, out, off);
    }

    /**
     * Whether the weights to evaluate a model at differ from the parameters it is trained at (Schedule-Free AdamW:
     * the average x, while gradients are taken at y); see {@link #evalWeights}.
     */
    public boolean hasEvalWeights() {
        return false;
    }

    /**
     * Writes the weights to evaluate at for {@code n} elements of a tensor in {@code group}, from its parameters
     * {@code w} and its state slots {@code s} (in {@link #slots()} order), after at least one step. The same Java
     * code serves every backend, so both give the same bits.
     *
     * @throws UnsupportedOperationException when the rule has no separate evaluation weights
     */
    public void evalWeights(int group, float[] w, float[][] s, float[] out, int n) {
        throw new UnsupportedOperationException(id() + " evaluates at its parameters");
    }

    /** Updates one chunk in place with the group's scalars at {@code sc[so..]} and the tensor state {@code ts}. */
    public abstract void update(Chunk c, float[] sc, int so, double[] ts);

    /** Whether and when this rule reduces per tensor. */
    public Reduction reduction() {
        return Reduction.NONE;
    }

    /**
     * The passes of one step, in order; derived from {@link #reduction()}. A rule with per-tensor passes of its own
     * (Adafactor's factored statistics) lists them here instead.
     */
    public List<Pass> passes() {
        switch (reduction()) {
            case BEFORE_UPDATE: return List.of(Pass.NORM, Pass.FINISH, Pass.UPDATE);
            case DURING_UPDATE: return List.of(Pass.UPDATE_WITH_SUMS, Pass.FINISH);
            default: return List.of(Pass.UPDATE);
        }
    }

    /** Doubles of per-tensor state (see {@link #finishTensor}); 0 for rules without a reduction. */
    public int tensorStateWidth() {
        return 0;
    }

    /** The initial per-tensor state of a tensor in {@code group}, {@link #tensorStateWidth()} values. */
    public double[] tensorStateInit(int group) {
        return new double[tensorStateWidth()];
    }

    /** For {@link Reduction#BEFORE_UPDATE}: accumulates the chunk's two sums into its lanes, changing no buffer. */
    public void normChunk(Chunk c, float[] sc, int so) {
        throw new UnsupportedOperationException(id() + " has no norm pass");
    }

    /** Number of double scalars per group that {@link #finishTensor} reads; 0 for rules without a reduction. */
    public int finishScalarCount() {
        return 0;
    }

    /** Writes the double scalars of {@code group} at step {@code t} that {@link #finishTensor} reads. */
    public void finishScalars(int group, long t, double lr, double[] out, int off) {
    }

    /**
     * Folds a tensor's two sums into its state {@code ts[off ..]} with the group's double scalars {@code fs[fo ..]}.
     * Called after the norm pass ({@link Reduction#BEFORE_UPDATE}) or after the update ({@link Reduction#DURING_UPDATE}).
     * The CUDA finalize kernel performs the same double operations in the same order.
     */
    public void finishTensor(double sumA, double sumB, double[] fs, int fo, double[] ts, int off) {
        throw new UnsupportedOperationException(id() + " has no reduction");
    }

    /**
     * The hyperparameters of {@code group}, keyed as in the golden cases (lr, betas, eps, weight_decay ...), in the
     * algorithm's fixed order, so that descriptions and checkpoints are byte-reproducible.
     */
    public final Map<String, Object> hyperparams(int group) {
        return values.get(group).toMap();
    }

    /** The name of the CUDA kernel family that runs this rule's update (see {@code io.fusedopt.cuda.Kernel}). */
    public abstract String kernelFamily();

    /** Bias correction {@code 1 - beta^t}, computed in double as the scalars require. */
    protected static double biasCorrection(double beta, long t) {
        return 1.0 - Math.pow(beta, (double) t);
    }
}

package io.fusedopt.cuda;

import io.fusedopt.backend.StepPlan;
import io.fusedopt.rule.Algorithm;
import io.fusedopt.rule.Algorithms;
import io.fusedopt.rule.Rule;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One kernel entry of {@code cuda/*.cu}: its name, its module and its parameter list. The table of every entry
 * ({@link #all()}) is derived from the algorithm registry: each configuration of each algorithm names its update
 * entries ({@code <family>_f32}, {@code <family>_lookahead_f32}) and, by its passes, its norm and finalize entries;
 * two entries are shared. The PTX signature test holds this table against the {@code .entry} declarations of the
 * compiled PTX in both directions, and every launch checks its arguments against its entry, so the Java launcher
 * and the kernels cannot drift apart.
 *
 * <p>Update entries take {@code (w, g, slots..., chunks, num_chunks, tensor_group, scalars, skip_flag)}, then
 * {@code tensor_state} (rules with per-tensor state), {@code partials} (rules that sum during the update), then
 * {@code slow, alpha} for the Lookahead variants (launched beside the plain entry at every step, the step-control
 * block's gates letting one run), then the regime's tail: {@code model} (the master regimes) or {@code seed}
 * (stochastic rounding, {@code .u64}; the step number comes from the step-control block).
 *
 * <p>Every update and norm entry exists once per storage regime ({@link #REGIMES}, the entry's suffix; see
 * {@code cuda/include/fusedopt/entries.cuh}). The finite check exists per gradient dtype and Lookahead's first copy
 * per weight dtype. Float16 models with bfloat16 states under master weights have no entries: that combination
 * saves little over float32 states and would add a regime to every rule (see {@link io.fusedopt.backend.Precision}).
 *
 * @param entry the entry's name in the PTX, e.g. {@code adamw_lookahead_f32}
 * @param module the module (the {@code cuda/<module>.cu} file) that holds the entry
 * @param params the parameter kinds in order
 * @param lookahead whether this is an update entry's Lookahead variant
 */
public record Kernel(String entry, String module, List<Param> params, boolean lookahead) {
    /** A kernel parameter's kind: a 64-bit pointer, a 32-bit int, or a 32-bit float. */
    public enum Param {
        /** {@code .u64} pointer. */
        PTR,
        /** {@code .u32}/{@code .s32} int. */
        INT,
        /** {@code .f32} float. */
        FLOAT
    }

    /**
     * The storage regimes with kernel entries, as {@link io.fusedopt.backend.Precision#regime} names them:
     * float32, the low-precision regimes, the master-weight regimes and stochastic rounding.
     */
    public static final List<String> REGIMES = List.of("f32", "bf16", "fp16", "bf16_master", "fp16_master",
            "bf16_master_bf16s", "bf16_sr");

    /** The module of the entries every rule shares. */
    private static final String COMMON = "common";
    /** {@code finite_check_f32(g, chunks, num_chunks, flag)}. */
    public static final Kernel FINITE_CHECK_F32 = new Kernel("finite_check_f32", COMMON,
            List.of(Param.PTR, Param.PTR, Param.INT, Param.PTR), false);
    /** {@code lookahead_init_f32(w, slow, chunks, num_chunks, skip_flag)}. */
    public static final Kernel LOOKAHEAD_INIT_F32 = new Kernel("lookahead_init_f32", COMMON,
            List.of(Param.PTR, Param.PTR, Param.PTR, Param.INT, Param.PTR), false);

    /** {@code finite_check_bf16(g, chunks, num_chunks, flag)}: bfloat16 gradients. */
    public static final Kernel FINITE_CHECK_BF16 = new Kernel("finite_check_bf16", COMMON,
            FINITE_CHECK_F32.params(), false);
    /** {@code finite_check_fp16(g, chunks, num_chunks, flag)}: float16 gradients. */
    public static final Kernel FINITE_CHECK_FP16 = new Kernel("finite_check_fp16", COMMON,
            FINITE_CHECK_F32.params(), false);
    /** {@code lookahead_init_bf16(w, slow, chunks, num_chunks, skip_flag)}: bfloat16 weights. */
    public static final Kernel LOOKAHEAD_INIT_BF16 = new Kernel("lookahead_init_bf16", COMMON,
            LOOKAHEAD_INIT_F32.params(), false);
    /** {@code lookahead_init_fp16(w, slow, chunks, num_chunks, skip_flag)}: float16 weights. */
    public static final Kernel LOOKAHEAD_INIT_FP16 = new Kernel("lookahead_init_fp16", COMMON,
            LOOKAHEAD_INIT_F32.params(), false);
    /** {@code grad_norm_f32(g, chunks, num_chunks, control, partials)}: the per-chunk sums of the squared gradient. */
    public static final Kernel GRAD_NORM_F32 = new Kernel("grad_norm_f32", COMMON,
            List.of(Param.PTR, Param.PTR, Param.INT, Param.PTR, Param.PTR), false);
    /** {@code step_decide(control, norm_partials, num_chunks, window, scalars)}: the step's decision on the device. */
    public static final Kernel STEP_DECIDE = new Kernel("step_decide", COMMON,
            List.of(Param.PTR, Param.PTR, Param.INT, Param.PTR, Param.PTR), false);
    /** {@code grad_norm_bf16(g, chunks, num_chunks, control, partials)}: bfloat16 gradients. */
    public static final Kernel GRAD_NORM_BF16 = new Kernel("grad_norm_bf16", COMMON, GRAD_NORM_F32.params(), false);
    /** {@code grad_norm_fp16(g, chunks, num_chunks, control, partials)}: float16 gradients. */
    public static final Kernel GRAD_NORM_FP16 = new Kernel("grad_norm_fp16", COMMON, GRAD_NORM_F32.params(), false);

    /** Copies the parameter list. */
    public Kernel {
        params = List.copyOf(params);
    }

    private static void checkRegime(String regime) {
        if (!REGIMES.contains(regime)) {
            throw new IllegalArgumentException("no kernels for the storage regime '" + regime + "'; the regimes are "
                    + REGIMES);
        }
    }

    /** Whether {@code regime} writes a model copy (its entries take {@code model} last). */
    public static boolean masterRegime(String regime) {
        return regime.contains("_master");
    }

    /** Whether {@code regime} rounds the weights stochastically (its entries take {@code seed} last). */
    public static boolean stochasticRegime(String regime) {
        return regime.endsWith("_sr");
    }

    /** The gradient-norm pass over gradients of {@code regime}. */
    public static Kernel gradNorm(String regime) {
        checkRegime(regime);
        return regime.startsWith("bf16") ? GRAD_NORM_BF16 : regime.startsWith("fp16") ? GRAD_NORM_FP16 : GRAD_NORM_F32;
    }

    /** The finite check of gradients of {@code regime}. */
    public static Kernel finiteCheck(String regime) {
        checkRegime(regime);
        return regime.startsWith("bf16") ? FINITE_CHECK_BF16 : regime.startsWith("fp16") ? FINITE_CHECK_FP16
                : FINITE_CHECK_F32;
    }

    /** Lookahead's first copy of the weights of {@code regime} (the float32 masters in a master regime). */
    public static Kernel lookaheadInit(String regime) {
        checkRegime(regime);
        if (masterRegime(regime) || regime.equals("f32")) {
            return LOOKAHEAD_INIT_F32;
        }
        return regime.startsWith("bf16") ? LOOKAHEAD_INIT_BF16 : LOOKAHEAD_INIT_FP16;
    }

    private static List<Param> arenaHead(int slots) {
        List<Param> p = new ArrayList<>(Collections.nCopies(2 + slots, Param.PTR));
        p.addAll(List.of(Param.PTR, Param.INT, Param.PTR, Param.PTR, Param.PTR));
        return p;
    }

    /** The float32 update entry of {@code rule}, plain or with Lookahead's synchronisation. */
    public static Kernel update(Rule rule, boolean lookahead) {
        return update(rule, lookahead, "f32");
    }

    /** The update entry of {@code rule} in {@code regime}, plain or with Lookahead's synchronisation. */
    public static Kernel update(Rule rule, boolean lookahead, String regime) {
        checkRegime(regime);
        List<Param> p = arenaHead(rule.slots().size());
        if (rule.tensorStateWidth() > 0) {
            p.add(Param.PTR);
        }
        if (rule.passes().contains(Rule.Pass.UPDATE_WITH_SUMS)) {
            p.add(Param.PTR);
        }
        geometryTail(rule, p, true);
        if (lookahead) {
            p.add(Param.PTR);
            p.add(Param.FLOAT);
        }
        if (masterRegime(regime)) {
            p.add(Param.PTR);
        }
        if (stochasticRegime(regime)) {
            p.add(Param.PTR);
        }
        String name = rule.kernelFamily() + (lookahead ? "_lookahead" : "") + "_" + regime;
        return new Kernel(name, rule.algorithm().module(), p, lookahead);
    }

    /** {@code <id>_norm_f32(w, g, slots..., chunks, num_chunks, tensor_group, scalars, skip_flag, partials)}. */
    public static Kernel norm(Rule rule) {
        return norm(rule, "f32");
    }

    /**
     * The norm entry of {@code rule} in {@code regime}; stochastic rounding changes only how the update stores,
     * so its norm pass is the bfloat16 one.
     */
    public static Kernel norm(Rule rule, String regime) {
        checkRegime(regime);
        String r = stochasticRegime(regime) ? "bf16" : regime;
        List<Param> p = arenaHead(rule.slots().size());
        p.add(Param.PTR);
        geometryTail(rule, p, true);
        return new Kernel(slotFamily(rule) + "_norm_" + r, rule.algorithm().module(), p, false);
    }

    /**
     * {@code <family>_prepare_f32(w, g, slots..., chunks, num_chunks, tensor_group, scalars, skip_flag, partials,
     * geometry, scratch)}: the element pass before a whole-matrix transform ({@link Rule.Pass#ORTHO_PREPARE}).
     */
    public static Kernel prepare(Rule rule) {
        List<Param> p = arenaHead(rule.slots().size());
        p.add(Param.PTR);
        geometryTail(rule, p, true);
        return new Kernel(slotFamily(rule) + "_prepare_f32", rule.algorithm().module(), p, false);
    }

    /**
     * {@code <id>_ns_f32(scratch, jobs, num_jobs, scalars, tensor_state, skip_flag, stage, parity, total_tiles)}: one
     * stage of the Newton–Schulz orthogonalisation ({@link Rule.Pass#ORTHOGONALIZE}), launched once per stage.
     */
    public static Kernel orthogonalize(Rule rule) {
        return new Kernel(rule.id() + "_ns_f32", rule.algorithm().module(), List.of(Param.PTR, Param.PTR, Param.INT,
                Param.PTR, Param.PTR, Param.PTR, Param.INT, Param.INT, Param.INT), false);
    }

    /**
     * The name stem of an entry whose parameters list the slots: the id, except for a rule with tensor geometry,
     * whose configurations differ in their slots (Adafactor with and without momentum) and so name these entries
     * by their kernel family, as the update entries are.
     */
    private static String slotFamily(Rule rule) {
        return rule.tensorGeometryWidth() > 0 ? rule.kernelFamily() : rule.id();
    }

    /**
     * For a rule with tensor geometry ({@link Rule#tensorGeometryWidth()} &gt; 0): the geometry table and, where the
     * entry reads it, the step scratch, after the entry's other arguments and before Lookahead's.
     */
    private static void geometryTail(Rule rule, List<Param> p, boolean scratch) {
        if (rule.tensorGeometryWidth() > 0) {
            p.add(Param.PTR);
            if (scratch) {
                p.add(Param.PTR);
            }
        }
    }

    /**
     * A per-tensor pass ({@link Rule.Pass#FACTOR_STATS}: {@code <id>_stats_f32}, {@link Rule.Pass#FACTOR_SCALES}:
     * {@code <id>_scales_f32}): {@code (w, g, slots..., tensor_group, num_tensors, scalars, finish_scalars,
     * skip_flag, geometry, scratch, total_work)}.
     */
    public static Kernel tensorPass(Rule rule, Rule.Pass pass) {
        List<Param> p = new ArrayList<>(Collections.nCopies(2 + rule.slots().size(), Param.PTR));
        p.addAll(List.of(Param.PTR, Param.INT, Param.PTR, Param.PTR, Param.PTR, Param.PTR, Param.PTR, Param.INT));
        String name = slotFamily(rule) + (pass == Rule.Pass.FACTOR_STATS ? "_stats_f32" : "_scales_f32");
        return new Kernel(name, rule.algorithm().module(), p, false);
    }

    /**
     * {@code <id>_finalize}: {@code (partials, num_chunks, first_chunk, num_tensors, skip_flag, tensor_state)}, and for a rule
     * with finish scalars {@code (partials, num_chunks, first_chunk, tensor_group, num_tensors, finish_scalars,
     * skip_flag, tensor_state)}.
     */
    public static Kernel finish(Rule rule) {
        List<Param> p = new ArrayList<>(rule.finishScalarCount() > 0
                ? List.of(Param.PTR, Param.INT, Param.PTR, Param.PTR, Param.INT, Param.PTR, Param.PTR, Param.PTR)
                : List.of(Param.PTR, Param.INT, Param.PTR, Param.INT, Param.PTR, Param.PTR));
        geometryTail(rule, p, false);
        return new Kernel(rule.id() + "_finalize", rule.algorithm().module(), p, false);
    }

    /** The float32 entry that runs {@code pass} of {@code rule}. */
    public static Kernel of(Rule rule, StepPlan.Pass pass) {
        return of(rule, pass, "f32");
    }

    /** The entry that runs {@code pass} of {@code rule} in {@code regime}. */
    public static Kernel of(Rule rule, StepPlan.Pass pass, String regime) {
        return switch (pass.kind()) {
            case FINITE_CHECK -> finiteCheck(regime);
            case LOOKAHEAD_INIT -> lookaheadInit(regime);
            case NORM -> norm(rule, regime);
            case UPDATE -> update(rule, pass.lookaheadSync(), regime);
            case FINISH -> finish(rule);
            case FACTOR_STATS -> tensorPass(rule, Rule.Pass.FACTOR_STATS);
            case FACTOR_SCALES -> tensorPass(rule, Rule.Pass.FACTOR_SCALES);
            case ORTHO_PREPARE -> prepare(rule);
            case ORTHOGONALIZE -> orthogonalize(rule);
        };
    }

    /** Every float32 entry a rule's step can launch, with and without Lookahead. */
    public static List<Kernel> of(Rule rule) {
        return of(rule, "f32");
    }

    /** Every entry a rule's step can launch in {@code regime}, with and without Lookahead. */
    public static List<Kernel> of(Rule rule, String regime) {
        List<Kernel> out = new ArrayList<>();
        for (Rule.Pass p : rule.passes()) {
            switch (p) {
                case NORM -> out.add(norm(rule, regime));
                case FINISH -> out.add(finish(rule));
                case FACTOR_STATS, FACTOR_SCALES -> out.add(tensorPass(rule, p));
                case ORTHO_PREPARE -> out.add(prepare(rule));
                case ORTHOGONALIZE -> out.add(orthogonalize(rule));
                default -> {
                    out.add(update(rule, false, regime));
                    out.add(update(rule, true, regime));
                }
            }
        }
        return out;
    }

    private static final List<Kernel> ALL = derive();

    private static List<Kernel> derive() {
        Map<String, Kernel> m = new LinkedHashMap<>();
        for (Kernel k : List.of(FINITE_CHECK_F32, FINITE_CHECK_BF16, FINITE_CHECK_FP16, LOOKAHEAD_INIT_F32,
                LOOKAHEAD_INIT_BF16, LOOKAHEAD_INIT_FP16, GRAD_NORM_F32, GRAD_NORM_BF16, GRAD_NORM_FP16, STEP_DECIDE)) {
            m.put(k.entry(), k);
        }
        for (Algorithm a : Algorithms.all()) {
            for (Algorithm.Variant v : a.variants()) {
                List<Kernel> ks = new ArrayList<>();
                Rule rule = a.create(v.settings());
                // A float32-only rule (Adafactor, Muon) has entries for that regime alone.
                for (String regime : rule.float32Only() ? List.of("f32") : REGIMES) {
                    ks.addAll(of(rule, regime));
                }
                for (Kernel k : ks) {
                    Kernel before = m.putIfAbsent(k.entry(), k);
                    if (before != null && !before.equals(k)) {
                        throw new IllegalStateException("two configurations disagree on kernel " + k.entry() + ": "
                                + before + " and " + k);
                    }
                }
            }
        }
        return List.copyOf(m.values());
    }

    /** Every entry of every configuration of every registered algorithm, plus the shared ones. */
    public static List<Kernel> all() {
        return ALL;
    }
}

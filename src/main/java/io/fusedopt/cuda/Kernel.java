package io.fusedopt.cuda;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Every kernel entry of {@code cuda/*.cu}, with its module and parameter list. The PTX signature test checks this
 * list against the {@code .entry} declarations of the compiled PTX, and every launch checks its arguments against
 * it, so the Java launcher and the kernels cannot drift apart.
 *
 * <p>Update entries take {@code (w, g, slots..., chunks, num_chunks, tensor_group, scalars, skip_flag)}, then
 * {@code tensor_state} (LAMB, SWATS), {@code partials} (SWATS), then {@code slow, alpha} for the Lookahead
 * variants, which the host launches only at synchronisation steps.
 */
public enum Kernel {
    SGD_F32("sgd", 0, Extra.NONE, false),
    SGD_LOOKAHEAD_F32("sgd", 0, Extra.NONE, true),
    SGD_MOMENTUM_F32("sgd", 1, Extra.NONE, false),
    SGD_MOMENTUM_LOOKAHEAD_F32("sgd", 1, Extra.NONE, true),
    SGDW_F32("sgd", 0, Extra.NONE, false),
    SGDW_LOOKAHEAD_F32("sgd", 0, Extra.NONE, true),
    SGDW_MOMENTUM_F32("sgd", 1, Extra.NONE, false),
    SGDW_MOMENTUM_LOOKAHEAD_F32("sgd", 1, Extra.NONE, true),
    ADAM_F32("adam", 2, Extra.NONE, false),
    ADAM_LOOKAHEAD_F32("adam", 2, Extra.NONE, true),
    ADAMW_F32("adam", 2, Extra.NONE, false),
    ADAMW_LOOKAHEAD_F32("adam", 2, Extra.NONE, true),
    ADAM_AMSGRAD_F32("adam", 3, Extra.NONE, false),
    ADAM_AMSGRAD_LOOKAHEAD_F32("adam", 3, Extra.NONE, true),
    ADAMW_AMSGRAD_F32("adam", 3, Extra.NONE, false),
    ADAMW_AMSGRAD_LOOKAHEAD_F32("adam", 3, Extra.NONE, true),
    ADAGRAD_F32("adagrad", 1, Extra.NONE, false),
    ADAGRAD_LOOKAHEAD_F32("adagrad", 1, Extra.NONE, true),
    RADAM_F32("radam", 2, Extra.NONE, false),
    RADAM_LOOKAHEAD_F32("radam", 2, Extra.NONE, true),
    NADAM_F32("nadam", 2, Extra.NONE, false),
    NADAM_LOOKAHEAD_F32("nadam", 2, Extra.NONE, true),
    ADABELIEF_F32("adabelief", 2, Extra.NONE, false),
    ADABELIEF_LOOKAHEAD_F32("adabelief", 2, Extra.NONE, true),
    ADABELIEF_AMSGRAD_F32("adabelief", 3, Extra.NONE, false),
    ADABELIEF_AMSGRAD_LOOKAHEAD_F32("adabelief", 3, Extra.NONE, true),
    ADABOUND_F32("adabound", 2, Extra.NONE, false),
    ADABOUND_LOOKAHEAD_F32("adabound", 2, Extra.NONE, true),
    AMSBOUND_F32("adabound", 3, Extra.NONE, false),
    AMSBOUND_LOOKAHEAD_F32("adabound", 3, Extra.NONE, true),
    YOGI_F32("yogi", 2, Extra.NONE, false),
    YOGI_LOOKAHEAD_F32("yogi", 2, Extra.NONE, true),
    LAMB_F32("lamb", 2, Extra.TENSOR_STATE, false),
    LAMB_LOOKAHEAD_F32("lamb", 2, Extra.TENSOR_STATE, true),
    SWATS_F32("swats", 3, Extra.TENSOR_STATE_AND_PARTIALS, false),
    SWATS_LOOKAHEAD_F32("swats", 3, Extra.TENSOR_STATE_AND_PARTIALS, true),
    LAMB_NORM_F32("lamb", List.of(Param.PTR, Param.PTR, Param.PTR, Param.PTR, Param.PTR, Param.INT, Param.PTR,
            Param.PTR, Param.PTR, Param.PTR)),
    LAMB_FINALIZE("lamb", List.of(Param.PTR, Param.INT, Param.PTR, Param.INT, Param.PTR)),
    SWATS_FINALIZE("swats", List.of(Param.PTR, Param.INT, Param.PTR, Param.PTR, Param.INT, Param.PTR, Param.PTR,
            Param.PTR)),
    FINITE_CHECK_F32("common", List.of(Param.PTR, Param.PTR, Param.INT, Param.PTR));

    /** A kernel parameter's kind: a 64-bit pointer, a 32-bit int, or a 32-bit float. */
    public enum Param {
        /** {@code .u64} pointer. */
        PTR,
        /** {@code .u32}/{@code .s32} int. */
        INT,
        /** {@code .f32} float. */
        FLOAT
    }

    private enum Extra {
        NONE, TENSOR_STATE, TENSOR_STATE_AND_PARTIALS
    }

    private final String module;
    private final List<Param> params;
    private final boolean lookahead;

    Kernel(String module, int slots, Extra extra, boolean lookahead) {
        this.module = module;
        this.lookahead = lookahead;
        List<Param> p = new ArrayList<>();
        p.add(Param.PTR);
        p.add(Param.PTR);
        for (int i = 0; i < slots; i++) {
            p.add(Param.PTR);
        }
        p.addAll(List.of(Param.PTR, Param.INT, Param.PTR, Param.PTR, Param.PTR));
        if (extra != Extra.NONE) {
            p.add(Param.PTR);
        }
        if (extra == Extra.TENSOR_STATE_AND_PARTIALS) {
            p.add(Param.PTR);
        }
        if (lookahead) {
            p.add(Param.PTR);
            p.add(Param.FLOAT);
        }
        this.params = Collections.unmodifiableList(p);
    }

    Kernel(String module, List<Param> params) {
        this.module = module;
        this.params = params;
        this.lookahead = false;
    }

    /** The entry's name in the PTX, e.g. {@code adamw_lookahead_f32}. */
    public String entry() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The module (the {@code cuda/<module>.cu} file) that holds the entry. */
    public String module() {
        return module;
    }

    /** The parameter kinds in order. */
    public List<Param> params() {
        return params;
    }

    /** Whether this is an update entry's Lookahead variant. */
    public boolean lookahead() {
        return lookahead;
    }

    /** The update entry for a rule's kernel family ({@link io.fusedopt.rule.Rule#kernelFamily()}). */
    public static Kernel update(String family, boolean lookahead) {
        String name = (family + (lookahead ? "_lookahead" : "") + "_f32").toUpperCase(Locale.ROOT);
        try {
            return valueOf(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("no CUDA kernel for rule family '" + family + "'", e);
        }
    }
}

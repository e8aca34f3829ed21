package io.fusedopt.backend;

import io.fusedopt.core.Dtype;
import java.util.List;

/**
 * How a step stores its results, besides each buffer's own dtype.
 *
 * <p>Two regimes exist beside plain float32 (see the README, "Mixed precision"):
 * <ol>
 *   <li>low precision: parameters, gradients and states all in bfloat16 or float16; each element is widened to
 *       float32, updated there, and every result rounded back to nearest even (or, with {@link #stochastic()}
 *       for bfloat16 parameters, the parameter rounded stochastically);</li>
 *   <li>master weights: {@code modelCopy} holds the model's bfloat16/float16 parameters; the rule updates
 *       float32 master weights (states float32 or bfloat16) from the model's 16-bit gradients and writes the
 *       rounded master into {@code modelCopy} in the same pass.</li>
 * </ol>
 *
 * @param modelCopy the model's 16-bit parameters in the master-weights regime, or null
 * @param stochastic whether the parameters are rounded stochastically (low precision, bfloat16 only)
 * @param seed the stochastic rounding seed
 */
public record Precision(ArenaBuffer modelCopy, boolean stochastic, long seed) {
    /** Plain storage: every buffer rounded to nearest even into its own dtype, no model copy. */
    public static final Precision PLAIN = new Precision(null, false, 0L);

    /** Whether the step writes a model copy. */
    public boolean master() {
        return modelCopy != null;
    }

    /**
     * The regime name of a set of buffers, as kernel entries are suffixed: {@code f32}, {@code bf16}, {@code fp16},
     * {@code bf16_master}, {@code fp16_master}, {@code bf16_master_bf16s}, {@code bf16_sr}.
     *
     * @throws IllegalArgumentException naming the buffers and dtypes when they form no supported regime
     */
    public String regime(Dtype weights, Dtype grads, List<Dtype> slots, Dtype slow) {
        Dtype state = slots.isEmpty() ? null : slots.get(0);
        for (Dtype d : slots) {
            if (d != state) {
                throw new IllegalArgumentException("the state slots have different dtypes " + slots
                        + "; one optimizer keeps all its states in one dtype");
            }
        }
        if (slow != null && slow != weights) {
            throw new IllegalArgumentException("Lookahead's slow weights are " + slow.label() + " but the weights "
                    + weights.label());
        }
        if (master()) {
            Dtype model = modelCopy.dtype();
            if (weights != Dtype.FLOAT32 || !model.isHalf() || grads != model) {
                throw new IllegalArgumentException("master weights need float32 masters and the model's parameters"
                        + " and gradients in one 16-bit dtype; got master " + weights.label() + ", parameters "
                        + model.label() + ", gradients " + grads.label());
            }
            if (stochastic) {
                throw new IllegalArgumentException("stochastic rounding is for the low-precision regime without"
                        + " master weights: the master copy already keeps the low bits");
            }
            if (state != null && state != Dtype.FLOAT32 && state != Dtype.BFLOAT16) {
                throw new IllegalArgumentException("with master weights the states are float32 or bfloat16, not "
                        + state.label());
            }
            if (state == Dtype.BFLOAT16 && model != Dtype.BFLOAT16) {
                throw new IllegalArgumentException("bfloat16 states with master weights need a bfloat16 model, not "
                        + model.label() + "; a float16 model keeps float32 states");
            }
            return model.shortName() + "_master" + (state == Dtype.BFLOAT16 ? "_bf16s" : "");
        }
        if (grads != weights || (state != null && state != weights)) {
            throw new IllegalArgumentException("without master weights the parameters, gradients and states share"
                    + " one dtype; got parameters " + weights.label() + ", gradients " + grads.label()
                    + (state == null ? "" : ", states " + state.label()));
        }
        if (stochastic) {
            if (weights != Dtype.BFLOAT16) {
                throw new IllegalArgumentException("stochastic rounding needs bfloat16 parameters, not "
                        + weights.label());
            }
            return "bf16_sr";
        }
        return weights.shortName();
    }
}

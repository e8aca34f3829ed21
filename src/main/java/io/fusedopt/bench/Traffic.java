package io.fusedopt.bench;

import io.fusedopt.core.Dtype;
import io.fusedopt.rule.Rule;

/**
 * The bytes of memory traffic per parameter of one optimizer step: what the passes must read and write at least,
 * counting each float32 buffer touched once per pass (4 bytes), with no extra pass for a non-finite check and
 * without Lookahead, as {@code bench} runs them.
 *
 * <p>The update pass reads {@code w}, {@code g} and every state slot it uses and writes {@code w} and those
 * slots: {@code 12 + 8 S} bytes for {@code S} slots. A rule with a norm pass before the update
 * ({@link Rule.Reduction#BEFORE_UPDATE}) first reads {@code w}, {@code g} and its slots once more without
 * writing: {@code 8 + 4 S} for the {@code S} slots it reads. A reduction during the update stays in registers and
 * costs nothing extra.
 *
 * <table>
 *   <caption>Bytes per parameter per step</caption>
 *   <tr><th>rule</th><th>slots</th><th>passes</th><th>bytes</th></tr>
 *   <tr><td>sgd / sgdw without momentum</td><td>0</td><td>update: read w, g; write w</td><td>12</td></tr>
 *   <tr><td>sgd / sgdw with momentum</td><td>1</td><td>update: read w, g, b; write w, b</td><td>20</td></tr>
 *   <tr><td>adagrad</td><td>1</td><td>update: read w, g, sum; write w, sum</td><td>20</td></tr>
 *   <tr><td>adam, adamw, radam, nadam, adabelief, adabound, yogi</td><td>2</td>
 *       <td>update: read w, g, m, v; write w, m, v</td><td>28</td></tr>
 *   <tr><td>adam / adamw / adabelief with amsgrad, amsbound</td><td>3</td>
 *       <td>update: also read and write the running maximum</td><td>36</td></tr>
 *   <tr><td>lamb</td><td>2</td><td>norm pass: read w, g, m, v (16); update (28)</td><td>44</td></tr>
 *   <tr><td>lars</td><td>1</td><td>norm pass: read w, g (8); update: read w, g, b; write w, b (20)</td>
 *       <td>28</td></tr>
 *   <tr><td>adan</td><td>4</td><td>update: read w, g, m, v, n, g_prev; write w and the four slots</td>
 *       <td>44</td></tr>
 *   <tr><td>swats, Adam phase</td><td>3</td><td>update: read w, g, m, a; write w, m, a (the SGD momentum
 *       buffer is untouched until the tensor switches)</td><td>28</td></tr>
 *   <tr><td>swats, SGD phase</td><td>3</td><td>update: read w, g, v; write w, v</td><td>20</td></tr>
 *   <tr><td>adafactor (factored tensors)</td><td>v per row and column; exp_avg with momentum</td>
 *       <td>statistics: read g (4); norm pass: read w, g (8); update: read w, g, write w (12), with momentum
 *       also exp_avg (8)</td><td>24, 32</td></tr>
 * </table>
 *
 * <p>Outside what {@code bench} measures: Lookahead adds {@link #LOOKAHEAD_SYNC_BYTES} on every k-th step (the
 * slow weights, read and written in the same pass) and a copy of the parameters at the first step; a
 * non-finite policy other than {@code PROPAGATE} adds {@link #FINITE_CHECK_BYTES} (a read-only pass over g).
 * Global-norm clipping adds {@link #CLIP_NORM_BYTES} ({@link #perParameter(Rule, boolean)}): its norm pass reads g
 * once and also serves as the finite check, and the coefficient and the loss-scale unscaling are applied as the
 * update loads g, so clipping with loss scaling under any policy costs that one read and nothing more.
 *
 * <p>With 16-bit storage ({@link #perParameter(Rule, Dtype, Dtype, boolean)}) each buffer counts its own dtype's
 * bytes. Low precision: every buffer in the parameters' dtype, so AdamW in bfloat16 reads w, g, m, v (8 bytes) and
 * writes w, m, v (6): 14. Master weights: the update reads the 16-bit g, the float32 master and the states and
 * writes the master, the states and the 16-bit model copy, so AdamW with bfloat16 g and model and float32 master
 * and states reads 2 + 12 and writes 12 + 2: 28, as float32 AdamW; with bfloat16 states, 20.
 */
public final class Traffic {
    /** Bytes of one float32 element. */
    public static final int FLOAT = 4;
    /** Extra bytes per parameter on a Lookahead synchronisation step: the slow weights read and written. */
    public static final int LOOKAHEAD_SYNC_BYTES = 2 * FLOAT;
    /** Extra bytes per parameter of the non-finite gradient check: one read of g. */
    public static final int FINITE_CHECK_BYTES = FLOAT;

    /** Extra bytes per parameter of global-norm clipping: the norm pass reads g once. */
    public static final int CLIP_NORM_BYTES = FLOAT;

    private Traffic() {
    }

    /**
     * Bytes per parameter of one step of {@code rule} ({@link #perParameter(Rule)}), with global-norm clipping when
     * {@code clips} (with or without loss scaling, under any non-finite policy).
     *
     * @throws NullPointerException when {@code rule} is null
     */
    public static int perParameter(Rule rule, boolean clips) {
        return perParameter(rule) + (clips ? CLIP_NORM_BYTES : 0);
    }

    /**
     * Bytes per parameter of {@link #perParameter(Rule, Dtype, Dtype, boolean)}, with global-norm clipping when
     * {@code clips}: the norm pass reads the gradients once, in their dtype ({@code param}).
     *
     * @throws NullPointerException when an argument is null
     */
    public static int perParameter(Rule rule, Dtype param, Dtype state, boolean master, boolean clips) {
        return perParameter(rule, param, state, master) + (clips ? param.bytes() : 0);
    }

    /** Bytes of an update pass that uses {@code slots} state slots: read w, g and the slots, write w and the slots. */
    public static int updatePass(int slots) {
        return FLOAT * (2 + slots) + FLOAT * (1 + slots);
    }

    /** Bytes of a read-only norm pass over w, g and {@code slots} slots. */
    public static int normPass(int slots) {
        return FLOAT * (2 + slots);
    }

    /**
     * Bytes per parameter of one step of {@code rule} as {@code bench} runs it (see the table above), summed over
     * the rule's passes: an update pass moves the slots it touches ({@link Rule#slotsTouched()}: SWATS is counted
     * in its Adam phase, the phase every tensor starts in), a norm pass reads the slots it needs
     * ({@link Rule#normSlotsRead()}).
     *
     * @throws NullPointerException when {@code rule} is null
     */
    public static int perParameter(Rule rule) {
        return perParameter(rule, Dtype.FLOAT32, Dtype.FLOAT32, false);
    }

    /**
     * Bytes per parameter of one step of {@code rule} with parameters and gradients in {@code param}, states in
     * {@code state} and, when {@code master}, float32 master weights and a {@code param} model copy (see above).
     *
     * @throws NullPointerException when an argument is null
     */
    public static int perParameter(Rule rule, Dtype param, Dtype state, boolean master) {
        int w = master ? Dtype.FLOAT32.bytes() : param.bytes();
        int g = param.bytes();
        int s = state.bytes();
        int model = master ? param.bytes() : 0;
        int bytes = 0;
        for (Rule.Pass p : rule.passes()) {
            switch (p) {
                case NORM -> bytes += w + g + s * rule.normSlotsRead();
                case UPDATE, UPDATE_WITH_SUMS -> bytes += (w + g + s * rule.slotsTouched())
                        + (w + s * rule.slotsTouched() + model);
                // Adafactor's statistics read g once; its row and column statistics are per row and column.
                case FACTOR_STATS -> bytes += g;
                case FACTOR_SCALES -> {
                    // Per row and column only.
                }
                // Muon: read g and the momentum, write the momentum and the scratch matrix X (float32).
                case ORTHO_PREPARE -> bytes += g + s + s + FLOAT;
                // Muon's Newton-Schulz products stay in the scratch; their cost is counted in flops, not bytes.
                case ORTHOGONALIZE -> {
                }
                default -> {
                    // The per-tensor fold reads a few partials per chunk: nothing per parameter.
                }
            }
        }
        return bytes;
    }
}

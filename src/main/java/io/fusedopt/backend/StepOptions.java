package io.fusedopt.backend;

/**
 * What a step does around the rule's passes, fixed when the optimizer is built: whether a non-finite gradient
 * skips the step, global-norm clipping, dynamic loss scaling, and Lookahead.
 *
 * <p>The gradient the rule sees is {@code (g · u) · c}, two float32 products in this order on both backends:
 * {@code u = float32(1 / S)} unscales a loss-scaled gradient (1 without loss scaling, an exact identity) and
 * {@code c = float32(min(1, maxNorm / (total + 1e-6)))} clips it (1 without clipping). {@code total} is the global
 * norm of {@code g · u}, computed in the fixed order of ARCHITECTURE.md ("Reductions in a fixed order").
 *
 * @param skipNonFinite whether a non-finite gradient (or, with clipping, a non-finite norm) skips the step
 * @param maxNorm the clipping threshold, {@code > 0}; 0 without clipping
 * @param initScale the first loss scale {@code S}, {@code > 0}; 0 without loss scaling
 * @param growthFactor what {@code S} is multiplied by after {@code growthInterval} applied steps in a row
 * @param backoffFactor what {@code S} is multiplied by at a skipped step
 * @param growthInterval applied steps in a row before {@code S} grows
 * @param lookaheadK Lookahead's k, 0 without Lookahead
 * @param lookaheadAlpha Lookahead's α
 * @param haltOnSkip whether a step skipped for a non-finite gradient halts the optimizer until the host has raised it
 *     ({@code THROW}): on CUDA the steps issued before the host learns of the skip then change nothing either
 */
public record StepOptions(boolean skipNonFinite, double maxNorm, double initScale, double growthFactor,
        double backoffFactor, int growthInterval, int lookaheadK, float lookaheadAlpha, boolean haltOnSkip) {
    /** Whether the step clips by the global norm. */
    public boolean clips() {
        return maxNorm > 0;
    }

    /** Whether the gradients arrive loss-scaled. */
    public boolean scalesLoss() {
        return initScale > 0;
    }

    /**
     * Whether a non-finite gradient skips the step: under a checking policy, and always with loss scaling, where an
     * overflow is the scale's signal to back off (GradScaler's semantics).
     */
    public boolean skips() {
        return skipNonFinite || scalesLoss();
    }

    /** The clip coefficient of a norm, as both backends compute it: {@code min(1, maxNorm / (total + 1e-6))}. */
    public float clipCoefficient(double total) {
        double c = maxNorm / (total + 1e-6);
        // Java's Math.min: NaN when the norm is NaN, mirrored by the device code.
        return (float) Math.min(1.0, c);
    }

    /** The unscaling factor {@code float32(1 / S)} of a loss scale, the float64 reciprocal rounded once. */
    public static float unscale(float scale) {
        return (float) (1.0 / (double) scale);
    }
}

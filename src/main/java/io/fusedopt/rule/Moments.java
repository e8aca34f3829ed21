package io.fusedopt.rule;

/**
 * The scalar head and the two moment updates shared by the Adam-family rules (Adam, RAdam, NAdam, AdaBelief,
 * AdaBound, LAMB, SWATS), written once in Java as {@code fusedopt/moments.cuh} writes them once in CUDA: the same
 * operations in the same order. C2 inlines these small static methods into each rule's loop.
 *
 * <p>The head is {@code [β1, 1-β1, β2, 1-β2, ε, λ]}; each rule's own scalars follow from index {@link #HEAD}.
 */
final class Moments {
    static final int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, EPS = 4, WD = 5, HEAD = 6;

    /**
     * The typed head of an Adam-family group, read from its validated values ({@code betas}, {@code eps},
     * {@code weight_decay}).
     */
    record Hyper(double beta1, double beta2, double eps, double weightDecay) {
        static Hyper of(HyperValues v) {
            return new Hyper(v.number("betas", 0), v.number("betas", 1), v.number("eps"), v.number("weight_decay"));
        }
    }

    private Moments() {
    }

    /**
     * Writes the head of {@code h} at {@code out[off .. off + 6)}: each value computed in double and cast once.
     * {@code wd} is the L2 coefficient the update reads, 0 for a rule that decays decoupled.
     */
    static void head(Hyper h, float wd, float[] out, int off) {
        out[off + B1] = (float) h.beta1();
        out[off + OMB1] = (float) (1.0 - h.beta1());
        out[off + B2] = (float) h.beta2();
        out[off + OMB2] = (float) (1.0 - h.beta2());
        out[off + EPS] = (float) h.eps();
        out[off + WD] = wd;
    }

    /** The first moment, {@code m = β1 m + (1-β1) g}: one product, then one fused multiply-add. */
    static float first(float m, float g, float b1, float omb1) {
        return Math.fma(b1, m, omb1 * g);
    }

    /** The second moment, {@code v = β2 v + (1-β2) g²}, rounded as {@code ((1-β2) g) g} before the fma. */
    static float second(float v, float g, float b2, float omb2) {
        return Math.fma(b2, v, (omb2 * g) * g);
    }
}

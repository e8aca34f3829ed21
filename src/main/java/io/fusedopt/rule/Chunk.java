package io.fusedopt.rule;

import io.fusedopt.core.Tensor;
import io.fusedopt.core.LaunchConfig;

/**
 * The CPU backend's view of one chunk while a rule updates it: the arrays that hold the chunk (one page of each
 * buffer), the element range {@code [from, to)} inside them, and per-worker reduction lanes.
 *
 * <p>A chunk is at most {@link LaunchConfig#CHUNK} elements of one tensor; {@code from} is the index of the chunk's
 * first element within the page, so element {@code i} of the page is element {@code i - from} of the chunk and
 * accumulates into lane {@code (i - from) % LANES}.
 */
public final class Chunk {
    /** Parameters. */
    public float[] w;
    /** Gradients. */
    public float[] g;
    /**
     * The gradient coefficient: a rule reads element {@code i}'s gradient as {@code (g[i] · unscale) · clip}, the
     * unscaling of loss scaling and the clip coefficient, in the order the CUDA walker applies them; both 1 when
     * off (an exact identity).
     */
    public float unscale = 1f;
    /** The clip coefficient of the gradient; see {@link #unscale}. */
    public float clip = 1f;
    /** State slots, in the rule's {@link Rule#slots()} order. */
    public float[][] s;
    /** First element (inclusive) and end (exclusive) inside the arrays. */
    public int from;
    /** End (exclusive) inside the arrays. */
    public int to;
    /** Tensor index. */
    public int tensor;
    /** Parameter group of the tensor. */
    public int group;
    /** Start of the chunk within its tensor, in elements. */
    public long start;
    /**
     * For shaped slots ({@link Rule#slotShaped}): the index in {@link #s} of the tensor's first element of that slot
     * (its arrays hold the whole per-tensor slot); unused for slots shaped like the parameters.
     */
    public int[] sFrom;
    /** The tensor's geometry ({@link Rule#tensorGeometry}); null for rules without it. */
    public long[] geometry;
    /** The tensor's step scratch ({@link Rule#scratchLength}); null for rules without it. */
    public float[] scratch;
    /** Reduction lanes, {@link LaunchConfig#LANES} each, zeroed by the caller before a reducing call. */
    public final float[] laneA = new float[LaunchConfig.LANES];
    /** Second set of reduction lanes. */
    public final float[] laneB = new float[LaunchConfig.LANES];
    /**
     * Four rows of {@link LaunchConfig#LANES} floats for reducing rules: a loop that indexes the buffers at
     * {@code base + l} and the lanes at {@code l} is not vectorised by C2, so such rules copy a row of each buffer
     * here first and index everything at {@code l}.
     */
    public final float[][] rows = new float[4][LaunchConfig.LANES];

    /** Copies {@code n} gradients from {@code g[from..)} into {@code dst[0..n)} as the rule reads them (scaled). */
    public void gradients(int from, float[] dst, int n) {
        final float[] src = g;
        final float u = unscale, k = clip;
        for (int l = 0; l < n; l++) {
            dst[l] = (src[from + l] * u) * k;
        }
    }

    /** Creates an empty chunk view; the backend fills the fields before each use. */
    public Chunk() {
    }
}

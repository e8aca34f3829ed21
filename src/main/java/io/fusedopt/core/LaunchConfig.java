package io.fusedopt.core;

/**
 * The launch constants shared by the Java backends and the CUDA kernels ({@code cuda/include/fusedopt/launch.cuh}).
 *
 * <p>Every tensor is cut into chunks of at most {@link #CHUNK} elements, counted from the tensor's first element.
 * A chunk is the unit of work of both backends and the unit of every reduction, so a reduction's result depends
 * only on these constants, never on the grid size or the number of CPU threads.
 */
public final class LaunchConfig {
    /** Threads per block of every kernel. */
    public static final int BLOCK = 256;
    /** Elements per vector load ({@code float4}). */
    public static final int VEC = 4;
    /** Elements per chunk; a multiple of {@code BLOCK * VEC} and a power of two. */
    public static final int CHUNK = 1 << 15;
    /** Reduction lanes of a chunk: element {@code i} of a chunk accumulates into lane {@code i % LANES}. */
    public static final int LANES = BLOCK * VEC;
    /** Threads per warp; the block reduction combines within warps first. */
    public static final int WARP = 32;
    /** Alignment of every tensor's first element in the arena, in elements (256 bytes). */
    public static final int ALIGN = 64;

    private LaunchConfig() {
    }
}

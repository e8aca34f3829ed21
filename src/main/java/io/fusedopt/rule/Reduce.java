package io.fusedopt.rule;

import io.fusedopt.core.LaunchConfig;

/**
 * The fixed reduction order shared with {@code cuda/include/fusedopt/reduce.cuh}; see ARCHITECTURE.md.
 *
 * <p>Within a chunk, element {@code i} accumulates with {@code fma} into lane {@code i % 1024} in increasing
 * {@code i}. Thread {@code j} of the block owns lanes {@code 4j..4j+3} and adds them as {@code (l0 + l1) + (l2 + l3)}.
 * Each warp folds its 32 values with shuffles at distances 16, 8, 4, 2, 1 (lane {@code l} adds lane
 * {@code l + d}); the eight warp sums go to lanes 0..7 of warp 0 (lanes 8..31 hold +0) and fold the same way.
 * Per tensor, the chunk sums are added in double in chunk order.
 */
public final class Reduce {
    private Reduce() {
    }

    /** Folds the {@link LaunchConfig#LANES} lanes of one chunk into the chunk's float sum, in the block's order. */
    public static float chunkSum(float[] lanes) {
        float[] warp = new float[LaunchConfig.WARP];
        float[] warpSums = new float[LaunchConfig.WARP];
        int threadsPerWarp = LaunchConfig.WARP;
        int warps = LaunchConfig.BLOCK / threadsPerWarp;
        for (int w = 0; w < warps; w++) {
            for (int l = 0; l < threadsPerWarp; l++) {
                int j = w * threadsPerWarp + l;
                warp[l] = (lanes[4 * j] + lanes[4 * j + 1]) + (lanes[4 * j + 2] + lanes[4 * j + 3]);
            }
            warpSums[w] = foldWarp(warp);
        }
        for (int l = warps; l < threadsPerWarp; l++) {
            warpSums[l] = 0f;
        }
        return foldWarp(warpSums);
    }

    private static float foldWarp(float[] v) {
        for (int d = LaunchConfig.WARP / 2; d >= 1; d >>= 1) {
            for (int l = 0; l < d; l++) {
                v[l] = v[l] + v[l + d];
            }
        }
        return v[0];
    }
}

// Block and per-tensor reductions in the fixed order of io.fusedopt.rule.Reduce, so that a sum depends only on the
// launch constants, never on the grid size or the timing of the blocks.
#ifndef FUSEDOPT_REDUCE_CUH
#define FUSEDOPT_REDUCE_CUH

#include "fusedopt/launch.cuh"

namespace fusedopt {

// A thread's four lanes 4j .. 4j+3, paired as Reduce.chunkSum pairs them.
__device__ __forceinline__ float fold_lanes(const float (&l)[VEC]) {
    return (l[0] + l[1]) + (l[2] + l[3]);
}

// Lane l adds lane l + d for d = 16, 8, 4, 2, 1; lane 0 ends with the warp's sum.
__device__ __forceinline__ float fold_warp(float v) {
#pragma unroll
    for (int d = WARP / 2; d >= 1; d >>= 1) {
        v = v + __shfl_down_sync(0xffffffffu, v, d);
    }
    return v;
}

// Sums N per-thread values over a block of BLOCK threads: each warp folds its 32 values, then warp 0 folds the
// WARPS warp sums padded with +0 to a full warp (the padding matters: -0 + +0 is +0). Every thread of the block
// must call sum(); the sums land in thread 0. The storage may be reused as soon as sum() returns.
template <int N>
class BlockSum {
public:
    struct Storage {
        float warp[N][WARPS];
    };

    __device__ explicit BlockSum(Storage& storage) : storage_(storage) {}

    __device__ __forceinline__ void sum(float (&v)[N]) {
        const int lane = threadIdx.x % WARP;
        const int warp = threadIdx.x / WARP;
#pragma unroll
        for (int n = 0; n < N; ++n) {
            v[n] = fold_warp(v[n]);
        }
        if (lane == 0) {
#pragma unroll
            for (int n = 0; n < N; ++n) {
                storage_.warp[n][warp] = v[n];
            }
        }
        __syncthreads();
        if (warp == 0) {
#pragma unroll
            for (int n = 0; n < N; ++n) {
                v[n] = fold_warp(lane < WARPS ? storage_.warp[n][lane] : 0.0f);
            }
        }
        __syncthreads();
    }

private:
    Storage& storage_;
};

// Reduces the block's lanes to the chunk's two sums: partials[c] and partials[num_chunks + c].
__device__ __forceinline__ void store_chunk_sums(const Lanes& acc, float* partials, int num_chunks, long long c) {
    __shared__ BlockSum<2>::Storage storage;
    float v[2] = {fold_lanes(acc.a), fold_lanes(acc.b)};
    BlockSum<2>(storage).sum(v);
    if (threadIdx.x == 0) {
        partials[c] = v[0];
        partials[num_chunks + c] = v[1];
    }
}

// A tensor's two sums: its chunk sums added in double, in chunk order, from 0.0.
struct TensorSums {
    double a;
    double b;
};

__device__ __forceinline__ TensorSums tensor_sums(const float* partials, int num_chunks, const int* first_chunk,
                                                  long long tensor) {
    TensorSums s{0.0, 0.0};
    const long long end = first_chunk[tensor + 1];
    for (long long c = first_chunk[tensor]; c < end; ++c) {
        s.a += (double) partials[c];
        s.b += (double) partials[num_chunks + c];
    }
    return s;
}

}  // namespace fusedopt

#endif  // FUSEDOPT_REDUCE_CUH

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

// A tensor's two sums, read by a whole warp: lane l loads chunk base + l of each run of WARP chunks (one coalesced
// load instead of WARP dependent ones), then every lane adds the run's values in chunk order, each broadcast by a
// shuffle, so the fold is the sequential one of Reduce.java (from 0.0, chunk after chunk), bit for bit. Every lane of the warp must call it with the same
// tensor; every lane gets the sums.
__device__ __forceinline__ TensorSums warp_tensor_sums(const float* partials, int num_chunks, const int* first_chunk,
                                                       long long tensor) {
    const int lane = threadIdx.x % WARP;
    TensorSums s{0.0, 0.0};
    const long long begin = first_chunk[tensor];
    const long long end = first_chunk[tensor + 1];
    for (long long base = begin; base < end; base += WARP) {
        const long long c = base + lane;
        const float a = c < end ? partials[c] : 0.0f;
        const float b = c < end ? partials[num_chunks + c] : 0.0f;
        const int n = end - base < WARP ? (int) (end - base) : WARP;
        for (int k = 0; k < n; ++k) {
            s.a += (double) __shfl_sync(0xffffffffu, a, k);
            s.b += (double) __shfl_sync(0xffffffffu, b, k);
        }
    }
    return s;
}

// Calls body(t) with every lane of one warp for each tensor t, the grid's warps striding over the tensors.
template <class Body>
__device__ __forceinline__ void for_each_tensor_by_warp(int num_tensors, Body&& body) {
    const long long warps = (long long) gridDim.x * (blockDim.x / WARP);
    for (long long t = (long long) blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP; t < num_tensors;
         t += warps) {
        body(t);
    }
}

}  // namespace fusedopt

#endif  // FUSEDOPT_REDUCE_CUH

// LAMB: the norm pass, the per-tensor trust ratio, and the update entries with and without a Lookahead sync.
#include "fusedopt/lamb.cuh"
#include "fusedopt/launch.cuh"
#include "fusedopt/reduce.cuh"

using namespace fusedopt;

namespace {

template <unsigned MODE>
__device__ __forceinline__ void lamb_pass(const Arena& arena, float* w, const float* g, float* exp_avg,
                                          float* exp_avg_sq, const float* scalars, const double* tensor_state,
                                          const Lookahead& la) {
    update_arena<MODE>(arena, w, g, Slots<2>{{exp_avg, exp_avg_sq}}, la, [=](const ChunkRef& ch) {
        const LambScalars s = group_scalars<LambScalars>(scalars, ch.group);
        const float neg_step = lamb_neg_step(s, tensor_state[ch.tensor]);
        return [s, neg_step](float& wi, float gi, auto& x) { lamb_update(wi, gi, x[0], x[1], neg_step, s); };
    });
}

}  // namespace

extern "C" __global__ void __launch_bounds__(BLOCK)
lamb_norm_f32(const float* __restrict__ w, const float* __restrict__ g, const float* __restrict__ exp_avg,
              const float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks, int num_chunks,
              const int* __restrict__ tensor_group, const float* __restrict__ scalars,
              const int* __restrict__ skip_flag, float* __restrict__ partials) {
    if (*skip_flag != 0) return;
    for_each_chunk(Arena{chunks, num_chunks, tensor_group}, [&](const ChunkRef& ch) {
        const LambScalars s = group_scalars<LambScalars>(scalars, ch.group);
        const Lanes acc = walk_elements<kReduce>(
                ch, w, g, Slots<2, const float*>{{exp_avg, exp_avg_sq}}, Lookahead{},
                [&](float& wi, float gi, auto& x, float& ww, float& rr) {
                    lamb_norm_terms(wi, gi, x[0], x[1], s, ww, rr);
                });
        store_chunk_sums(acc, partials, num_chunks, ch.index);
    });
}

extern "C" __global__ void __launch_bounds__(BLOCK)
lamb_finalize(const float* __restrict__ partials, int num_chunks, const int* __restrict__ first_chunk,
              int num_tensors, const int* __restrict__ skip_flag, double* __restrict__ tensor_state) {
    // A skipped step leaves the trust ratio as it was: the partials are those of an earlier step, or of none
    // right after a checkpoint was loaded.
    if (*skip_flag != 0) return;
    // One warp per tensor: GPT-2's embedding alone has over a thousand chunk sums to read.
    for_each_tensor_by_warp(num_tensors, [&](long long t) {
        const TensorSums sums = warp_tensor_sums(partials, num_chunks, first_chunk, t);
        if (threadIdx.x % WARP == 0) {
            tensor_state[t] = lamb_trust(sums.a, sums.b);
        }
    });
}

extern "C" __global__ void __launch_bounds__(BLOCK)
lamb_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
         float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks, int num_chunks,
         const int* __restrict__ tensor_group, const float* __restrict__ scalars, const int* __restrict__ skip_flag,
         const double* __restrict__ tensor_state) {
    if (*skip_flag != 0) return;
    lamb_pass<kStore>({chunks, num_chunks, tensor_group}, w, g, exp_avg, exp_avg_sq, scalars, tensor_state, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
lamb_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                   float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks, int num_chunks,
                   const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                   const int* __restrict__ skip_flag, const double* __restrict__ tensor_state,
                   float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    lamb_pass<kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g, exp_avg, exp_avg_sq, scalars,
                                   tensor_state, {slow, alpha});
}

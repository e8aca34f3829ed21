// LARS: the norm pass, the per-tensor trust ratio, and the update entries with and without a Lookahead sync.
#include "fusedopt/lars.cuh"
#include "fusedopt/launch.cuh"
#include "fusedopt/reduce.cuh"

using namespace fusedopt;

namespace {

template <unsigned MODE>
__device__ __forceinline__ void lars_pass(const Arena& arena, float* w, const float* g, float* momentum_buffer,
                                          const float* scalars, const double* tensor_state, const Lookahead& la) {
    update_arena<MODE>(arena, w, g, Slots<1>{{momentum_buffer}}, la, [=](const ChunkRef& ch) {
        const LarsScalars s = group_scalars<LarsScalars>(scalars, ch.group);
        const float neg_step = lars_neg_step(s, tensor_state[ch.tensor]);
        return [s, neg_step](float& wi, float gi, auto& x) { lars_update(wi, gi, x[0], neg_step, s); };
    });
}

}  // namespace

// The momentum buffer is in the signature, as in every norm entry, but this pass does not read it.
extern "C" __global__ void __launch_bounds__(BLOCK)
lars_norm_f32(const float* __restrict__ w, const float* __restrict__ g, const float* __restrict__ momentum_buffer,
              const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
              const float* __restrict__ scalars, const int* __restrict__ skip_flag, float* __restrict__ partials) {
    (void) momentum_buffer;
    if (*skip_flag != 0) return;
    for_each_chunk(Arena{chunks, num_chunks, tensor_group}, [&](const ChunkRef& ch) {
        const LarsScalars s = group_scalars<LarsScalars>(scalars, ch.group);
        const Lanes acc = walk_elements<kReduce>(
                ch, w, g, Slots<0, const float*>{{nullptr}}, Lookahead{},
                [&](float& wi, float gi, auto&, float& ww, float& dd) { lars_norm_terms(wi, gi, s, ww, dd); });
        store_chunk_sums(acc, partials, num_chunks, ch.index);
    });
}

extern "C" __global__ void __launch_bounds__(BLOCK)
lars_finalize(const float* __restrict__ partials, int num_chunks, const int* __restrict__ first_chunk,
              const int* __restrict__ tensor_group, int num_tensors, const double* __restrict__ finish_scalars,
              const int* __restrict__ skip_flag, double* __restrict__ tensor_state) {
    if (*skip_flag != 0) return;
    // One warp per tensor, as LAMB's finalize: the chunk sums are read coalesced and folded in chunk order.
    for_each_tensor_by_warp(num_tensors, [&](long long t) {
        const TensorSums sums = warp_tensor_sums(partials, num_chunks, first_chunk, t);
        if (threadIdx.x % WARP == 0) {
            const LarsFinish f = LarsFinish::load(finish_scalars + (long long) tensor_group[t] * LarsFinish::K);
            tensor_state[t] = lars_trust(sums.a, sums.b, f);
        }
    });
}

extern "C" __global__ void __launch_bounds__(BLOCK)
lars_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ momentum_buffer,
         const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
         const float* __restrict__ scalars, const int* __restrict__ skip_flag,
         const double* __restrict__ tensor_state) {
    if (*skip_flag != 0) return;
    lars_pass<kStore>({chunks, num_chunks, tensor_group}, w, g, momentum_buffer, scalars, tensor_state, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
lars_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ momentum_buffer,
                   const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                   const float* __restrict__ scalars, const int* __restrict__ skip_flag,
                   const double* __restrict__ tensor_state, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    lars_pass<kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g, momentum_buffer, scalars, tensor_state,
                                   {slow, alpha});
}

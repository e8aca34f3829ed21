// SWATS: the update entries, with and without a Lookahead sync, and the per-tensor switch test. A tensor's phase
// is fixed for the whole step, so each chunk runs either the Adam step (which also reduces) or the SGD step.
#include "fusedopt/launch.cuh"
#include "fusedopt/reduce.cuh"
#include "fusedopt/swats.cuh"

using namespace fusedopt;

namespace {

template <unsigned LOOKAHEAD>
__device__ __forceinline__ void swats_pass(const Arena& arena, float* w, const float* g, float* exp_avg,
                                           float* exp_avg_sq, float* momentum_buffer, const float* scalars,
                                           const double* tensor_state, float* partials, const Lookahead& la) {
    for_each_chunk(arena, [&](const ChunkRef& ch) {
        const SwatsScalars s = group_scalars<SwatsScalars>(scalars, ch.group);
        const double* state = tensor_state + ch.tensor * (long long) SwatsState::WIDTH;
        if (swats_sgd_phase(state)) {
            const float neg_coef = swats_neg_coef(state);
            walk_elements<kStore | LOOKAHEAD>(ch, w, g, Slots<1>{{momentum_buffer}}, la,
                                              [&](float& wi, float gi, auto& x) {
                                                  swats_sgd_update(wi, gi, x[0], neg_coef, s);
                                              });
            if (threadIdx.x == 0) {
                partials[ch.index] = 0.0f;
                partials[arena.num_chunks + ch.index] = 0.0f;
            }
        } else {
            const Lanes acc = walk_elements<kStore | kReduce | LOOKAHEAD>(
                    ch, w, g, Slots<2>{{exp_avg, exp_avg_sq}}, la,
                    [&](float& wi, float gi, auto& x, float& pp, float& pg) {
                        swats_adam_update(wi, gi, x[0], x[1], s, pp, pg);
                    });
            store_chunk_sums(acc, partials, arena.num_chunks, ch.index);
        }
    });
}

}  // namespace

extern "C" __global__ void __launch_bounds__(BLOCK)
swats_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
          float* __restrict__ exp_avg_sq, float* __restrict__ momentum_buffer, const ChunkDesc* __restrict__ chunks,
          int num_chunks, const int* __restrict__ tensor_group, const float* __restrict__ scalars,
          const int* __restrict__ skip_flag, const double* __restrict__ tensor_state, float* __restrict__ partials) {
    if (*skip_flag != 0) return;
    swats_pass<0u>({chunks, num_chunks, tensor_group}, w, g, exp_avg, exp_avg_sq, momentum_buffer, scalars,
                   tensor_state, partials, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
swats_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                    float* __restrict__ exp_avg_sq, float* __restrict__ momentum_buffer,
                    const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                    const float* __restrict__ scalars, const int* __restrict__ skip_flag,
                    const double* __restrict__ tensor_state, float* __restrict__ partials, float* __restrict__ slow,
                    float alpha) {
    if (*skip_flag != 0) return;
    swats_pass<kLookahead>({chunks, num_chunks, tensor_group}, w, g, exp_avg, exp_avg_sq, momentum_buffer, scalars,
                           tensor_state, partials, {slow, alpha});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
swats_finalize(const float* __restrict__ partials, int num_chunks, const int* __restrict__ first_chunk,
               const int* __restrict__ tensor_group, int num_tensors, const double* __restrict__ finish_scalars,
               const int* __restrict__ skip_flag, double* __restrict__ tensor_state) {
    if (*skip_flag != 0) return;
    // One warp per tensor reads the chunk sums (see warp_tensor_sums); lane 0 finishes the tensor.
    for_each_tensor_by_warp(num_tensors, [&](long long t) {
        const TensorSums sums = warp_tensor_sums(partials, num_chunks, first_chunk, t);
        if (threadIdx.x % WARP == 0) {
            const SwatsFinish f = SwatsFinish::load(finish_scalars + (long long) tensor_group[t] * SwatsFinish::K);
            swats_finish(sums.a, sums.b, f, tensor_state + t * SwatsState::WIDTH);
        }
    });
}

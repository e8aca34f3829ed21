// Adan update entries, with and without a Lookahead sync.
#include "fusedopt/adan.cuh"
#include "fusedopt/launch.cuh"

using namespace fusedopt;

namespace {

template <unsigned MODE>
__device__ __forceinline__ void adan_pass(const Arena& arena, float* w, const float* g, float* exp_avg,
                                          float* exp_avg_diff, float* exp_avg_sq, float* prev_grad,
                                          const float* scalars, const Lookahead& la) {
    update_arena<MODE>(arena, w, g, Slots<4>{{exp_avg, exp_avg_diff, exp_avg_sq, prev_grad}}, la,
                       [=](const ChunkRef& ch) {
                           const AdanScalars s = group_scalars<AdanScalars>(scalars, ch.group);
                           return [s](float& wi, float gi, auto& x) { adan_update(wi, gi, x[0], x[1], x[2], x[3], s); };
                       });
}

}  // namespace

extern "C" __global__ void __launch_bounds__(BLOCK)
adan_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
         float* __restrict__ exp_avg_diff, float* __restrict__ exp_avg_sq, float* __restrict__ prev_grad,
         const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
         const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    adan_pass<kStore>({chunks, num_chunks, tensor_group}, w, g, exp_avg, exp_avg_diff, exp_avg_sq, prev_grad, scalars,
                      {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adan_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                   float* __restrict__ exp_avg_diff, float* __restrict__ exp_avg_sq, float* __restrict__ prev_grad,
                   const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                   const float* __restrict__ scalars, const int* __restrict__ skip_flag, float* __restrict__ slow,
                   float alpha) {
    if (*skip_flag != 0) return;
    adan_pass<kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g, exp_avg, exp_avg_diff, exp_avg_sq,
                                   prev_grad, scalars, {slow, alpha});
}

// Lion update entries, with and without a Lookahead sync.
#include "fusedopt/launch.cuh"
#include "fusedopt/lion.cuh"

using namespace fusedopt;

namespace {

template <unsigned MODE>
__device__ __forceinline__ void lion_pass(const Arena& arena, float* w, const float* g, float* exp_avg,
                                          const float* scalars, const Lookahead& la) {
    update_arena<MODE>(arena, w, g, Slots<1>{{exp_avg}}, la, [=](const ChunkRef& ch) {
        const LionScalars s = group_scalars<LionScalars>(scalars, ch.group);
        return [s](float& wi, float gi, auto& x) { lion_update(wi, gi, x[0], s); };
    });
}

}  // namespace

extern "C" __global__ void __launch_bounds__(BLOCK)
lion_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
         const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
         const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    lion_pass<kStore>({chunks, num_chunks, tensor_group}, w, g, exp_avg, scalars, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
lion_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                   const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                   const float* __restrict__ scalars, const int* __restrict__ skip_flag, float* __restrict__ slow,
                   float alpha) {
    if (*skip_flag != 0) return;
    lion_pass<kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g, exp_avg, scalars, {slow, alpha});
}

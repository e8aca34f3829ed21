// AdaGrad update entries, with and without a Lookahead sync.
#include "fusedopt/adagrad.cuh"
#include "fusedopt/launch.cuh"

using namespace fusedopt;

namespace {

template <unsigned MODE>
__device__ __forceinline__ void adagrad_pass(const Arena& arena, float* w, const float* g, float* sum,
                                             const float* scalars, const Lookahead& la) {
    update_arena<MODE>(arena, w, g, Slots<1>{{sum}}, la, [=](const ChunkRef& ch) {
        const AdagradScalars s = group_scalars<AdagradScalars>(scalars, ch.group);
        return [s](float& wi, float gi, auto& x) { adagrad_update(wi, gi, x[0], s); };
    });
}

}  // namespace

extern "C" __global__ void __launch_bounds__(BLOCK)
adagrad_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ sum,
            const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
            const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    adagrad_pass<kStore>({chunks, num_chunks, tensor_group}, w, g, sum, scalars, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adagrad_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ sum,
                      const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                      const float* __restrict__ scalars, const int* __restrict__ skip_flag, float* __restrict__ slow,
                      float alpha) {
    if (*skip_flag != 0) return;
    adagrad_pass<kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g, sum, scalars, {slow, alpha});
}

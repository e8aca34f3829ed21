// Schedule-Free AdamW update entries, with and without a Lookahead sync.
#include "fusedopt/launch.cuh"
#include "fusedopt/schedule_free.cuh"

using namespace fusedopt;

namespace {

template <unsigned MODE>
__device__ __forceinline__ void schedule_free_pass(const Arena& arena, float* w, const float* g, float* z,
                                                   float* exp_avg_sq, const float* scalars, const Lookahead& la) {
    update_arena<MODE>(arena, w, g, Slots<2>{{z, exp_avg_sq}}, la, [=](const ChunkRef& ch) {
        const ScheduleFreeScalars s = group_scalars<ScheduleFreeScalars>(scalars, ch.group);
        return [s](float& wi, float gi, auto& x) { schedule_free_adamw_update(wi, gi, x[0], x[1], s); };
    });
}

}  // namespace

extern "C" __global__ void __launch_bounds__(BLOCK)
schedule_free_adamw_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ z,
                        float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks, int num_chunks,
                        const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                        const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    schedule_free_pass<kStore>({chunks, num_chunks, tensor_group}, w, g, z, exp_avg_sq, scalars, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
schedule_free_adamw_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ z,
                                  float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks,
                                  int num_chunks, const int* __restrict__ tensor_group,
                                  const float* __restrict__ scalars, const int* __restrict__ skip_flag,
                                  float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    schedule_free_pass<kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g, z, exp_avg_sq, scalars,
                                            {slow, alpha});
}

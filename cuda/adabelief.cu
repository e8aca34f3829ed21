// AdaBelief update entries, with and without AMSGrad and a Lookahead sync. Decoupling, rectification and the SGD
// fallback come from the group's scalars (see adabelief.cuh), so they need no entries of their own.
#include "fusedopt/adabelief.cuh"
#include "fusedopt/launch.cuh"

using namespace fusedopt;

namespace {

template <bool AMSGRAD, unsigned MODE, int S>
__device__ __forceinline__ void adabelief_pass(const Arena& arena, float* w, const float* g, const Slots<S>& slots,
                                               const float* scalars, const Lookahead& la) {
    update_arena<MODE>(arena, w, g, slots, la, [=](const ChunkRef& ch) {
        const AdaBeliefScalars s = group_scalars<AdaBeliefScalars>(scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            if constexpr (AMSGRAD) {
                adabelief_update<true>(wi, gi, x[0], x[1], x[2], s);
            } else {
                float none = 0.0f;
                adabelief_update<false>(wi, gi, x[0], x[1], none, s);
            }
        };
    });
}

}  // namespace

extern "C" __global__ void __launch_bounds__(BLOCK)
adabelief_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
              float* __restrict__ exp_avg_var, const ChunkDesc* __restrict__ chunks, int num_chunks,
              const int* __restrict__ tensor_group, const float* __restrict__ scalars,
              const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    adabelief_pass<false, kStore>({chunks, num_chunks, tensor_group}, w, g, Slots<2>{{exp_avg, exp_avg_var}},
                                  scalars, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adabelief_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                        float* __restrict__ exp_avg_var, const ChunkDesc* __restrict__ chunks, int num_chunks,
                        const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                        const int* __restrict__ skip_flag, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    adabelief_pass<false, kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g,
                                               Slots<2>{{exp_avg, exp_avg_var}}, scalars, {slow, alpha});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adabelief_amsgrad_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                      float* __restrict__ exp_avg_var, float* __restrict__ max_exp_avg_var,
                      const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                      const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    adabelief_pass<true, kStore>({chunks, num_chunks, tensor_group}, w, g,
                                 Slots<3>{{exp_avg, exp_avg_var, max_exp_avg_var}}, scalars, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adabelief_amsgrad_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                                float* __restrict__ exp_avg_var, float* __restrict__ max_exp_avg_var,
                                const ChunkDesc* __restrict__ chunks, int num_chunks,
                                const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                                const int* __restrict__ skip_flag, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    adabelief_pass<true, kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g,
                                              Slots<3>{{exp_avg, exp_avg_var, max_exp_avg_var}}, scalars,
                                              {slow, alpha});
}

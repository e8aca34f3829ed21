// Adam and AdamW update entries, with and without AMSGrad and a Lookahead sync.
#include "fusedopt/adam.cuh"
#include "fusedopt/launch.cuh"

using namespace fusedopt;

namespace {

template <bool DECOUPLED, bool AMSGRAD, unsigned MODE, int S>
__device__ __forceinline__ void adam_pass(const Arena& arena, float* w, const float* g, const Slots<S>& slots,
                                          const float* scalars, const Lookahead& la) {
    update_arena<MODE>(arena, w, g, slots, la, [=](const ChunkRef& ch) {
        const AdamScalars s = group_scalars<AdamScalars>(scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            if constexpr (AMSGRAD) {
                adam_update<DECOUPLED, true>(wi, gi, x[0], x[1], x[2], s);
            } else {
                float none = 0.0f;
                adam_update<DECOUPLED, false>(wi, gi, x[0], x[1], none, s);
            }
        };
    });
}

}  // namespace

extern "C" __global__ void __launch_bounds__(BLOCK)
adam_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
         float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks, int num_chunks,
         const int* __restrict__ tensor_group, const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    adam_pass<false, false, kStore>({chunks, num_chunks, tensor_group}, w, g, Slots<2>{{exp_avg, exp_avg_sq}},
                                    scalars, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adam_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                   float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks, int num_chunks,
                   const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                   const int* __restrict__ skip_flag, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    adam_pass<false, false, kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g,
                                                 Slots<2>{{exp_avg, exp_avg_sq}}, scalars, {slow, alpha});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adamw_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
          float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks, int num_chunks,
          const int* __restrict__ tensor_group, const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    adam_pass<true, false, kStore>({chunks, num_chunks, tensor_group}, w, g, Slots<2>{{exp_avg, exp_avg_sq}},
                                   scalars, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adamw_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                    float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks, int num_chunks,
                    const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                    const int* __restrict__ skip_flag, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    adam_pass<true, false, kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g,
                                                Slots<2>{{exp_avg, exp_avg_sq}}, scalars, {slow, alpha});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adam_amsgrad_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                 float* __restrict__ exp_avg_sq, float* __restrict__ max_exp_avg_sq,
                 const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                 const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    adam_pass<false, true, kStore>({chunks, num_chunks, tensor_group}, w, g,
                                   Slots<3>{{exp_avg, exp_avg_sq, max_exp_avg_sq}}, scalars, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adam_amsgrad_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                           float* __restrict__ exp_avg_sq, float* __restrict__ max_exp_avg_sq,
                           const ChunkDesc* __restrict__ chunks, int num_chunks,
                           const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                           const int* __restrict__ skip_flag, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    adam_pass<false, true, kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g,
                                                Slots<3>{{exp_avg, exp_avg_sq, max_exp_avg_sq}}, scalars,
                                                {slow, alpha});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adamw_amsgrad_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                  float* __restrict__ exp_avg_sq, float* __restrict__ max_exp_avg_sq,
                  const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                  const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    adam_pass<true, true, kStore>({chunks, num_chunks, tensor_group}, w, g,
                                  Slots<3>{{exp_avg, exp_avg_sq, max_exp_avg_sq}}, scalars, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adamw_amsgrad_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                            float* __restrict__ exp_avg_sq, float* __restrict__ max_exp_avg_sq,
                            const ChunkDesc* __restrict__ chunks, int num_chunks,
                            const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                            const int* __restrict__ skip_flag, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    adam_pass<true, true, kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g,
                                               Slots<3>{{exp_avg, exp_avg_sq, max_exp_avg_sq}}, scalars,
                                               {slow, alpha});
}

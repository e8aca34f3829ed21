// SGD and SGDW update entries, with and without a momentum buffer and a Lookahead sync.
#include "fusedopt/launch.cuh"
#include "fusedopt/sgd.cuh"

using namespace fusedopt;

namespace {

template <bool DECOUPLED, bool MOMENTUM, unsigned MODE, int S>
__device__ __forceinline__ void sgd_pass(const Arena& arena, float* w, const float* g, const Slots<S>& slots,
                                         const float* scalars, const Lookahead& la) {
    update_arena<MODE>(arena, w, g, slots, la, [=](const ChunkRef& ch) {
        const SgdScalars s = group_scalars<SgdScalars>(scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            if constexpr (MOMENTUM) {
                sgd_update<DECOUPLED, true>(wi, gi, x[0], s);
            } else {
                float none = 0.0f;
                sgd_update<DECOUPLED, false>(wi, gi, none, s);
            }
        };
    });
}

}  // namespace

extern "C" __global__ void __launch_bounds__(BLOCK)
sgd_f32(float* __restrict__ w, const float* __restrict__ g, const ChunkDesc* __restrict__ chunks, int num_chunks,
        const int* __restrict__ tensor_group, const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    sgd_pass<false, false, kStore>({chunks, num_chunks, tensor_group}, w, g, Slots<0>{}, scalars, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
sgd_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, const ChunkDesc* __restrict__ chunks,
                  int num_chunks, const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                  const int* __restrict__ skip_flag, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    sgd_pass<false, false, kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g, Slots<0>{}, scalars,
                                                {slow, alpha});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
sgd_momentum_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ momentum_buffer,
                 const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                 const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    sgd_pass<false, true, kStore>({chunks, num_chunks, tensor_group}, w, g, Slots<1>{{momentum_buffer}}, scalars,
                                  {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
sgd_momentum_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ momentum_buffer,
                           const ChunkDesc* __restrict__ chunks, int num_chunks,
                           const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                           const int* __restrict__ skip_flag, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    sgd_pass<false, true, kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g,
                                               Slots<1>{{momentum_buffer}}, scalars, {slow, alpha});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
sgdw_f32(float* __restrict__ w, const float* __restrict__ g, const ChunkDesc* __restrict__ chunks, int num_chunks,
         const int* __restrict__ tensor_group, const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    sgd_pass<true, false, kStore>({chunks, num_chunks, tensor_group}, w, g, Slots<0>{}, scalars, {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
sgdw_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, const ChunkDesc* __restrict__ chunks,
                   int num_chunks, const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                   const int* __restrict__ skip_flag, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    sgd_pass<true, false, kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g, Slots<0>{}, scalars,
                                               {slow, alpha});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
sgdw_momentum_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ momentum_buffer,
                  const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                  const float* __restrict__ scalars, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    sgd_pass<true, true, kStore>({chunks, num_chunks, tensor_group}, w, g, Slots<1>{{momentum_buffer}}, scalars,
                                 {});
}

extern "C" __global__ void __launch_bounds__(BLOCK)
sgdw_momentum_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ momentum_buffer,
                            const ChunkDesc* __restrict__ chunks, int num_chunks,
                            const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                            const int* __restrict__ skip_flag, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    sgd_pass<true, true, kStore | kLookahead>({chunks, num_chunks, tensor_group}, w, g,
                                              Slots<1>{{momentum_buffer}}, scalars, {slow, alpha});
}

// SWATS: the update entries, with and without a Lookahead sync, in every regime (entries.cuh), and the per-tensor
// switch test. A tensor's phase is fixed for the whole step, so each chunk runs either the Adam step (which also
// reduces) or the SGD step.
#include "fusedopt/entries.cuh"
#include "fusedopt/reduce.cuh"
#include "fusedopt/swats.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void swats_body(const Update<St, S>& u) {
    static_assert(S == 3, "exp_avg, exp_avg_sq, momentum_buffer");
    constexpr unsigned LOOKAHEAD = MODE & kLookahead;
    for_each_chunk(u.arena, [&](const ChunkRef& ch) {
        const SwatsScalars s = group_scalars<SwatsScalars>(u.scalars, ch.group);
        const double* state = u.tensor_state + ch.tensor * (long long) SwatsState::WIDTH;
        if (swats_sgd_phase(state)) {
            const float neg_coef = swats_neg_coef(state);
            walk_elements<kStore | LOOKAHEAD, St>(ch, u.w, u.g, Slots<1, typename St::St*>{{u.slots.p[2]}}, u.la,
                                                  u.out, [&](float& wi, float gi, auto& x) {
                                                      swats_sgd_update(wi, gi, x[0], neg_coef, s);
                                                  });
            if (threadIdx.x == 0) {
                u.partials[ch.index] = 0.0f;
                u.partials[u.arena.num_chunks + ch.index] = 0.0f;
            }
        } else {
            const Lanes acc = walk_elements<kStore | kReduce | LOOKAHEAD, St>(
                    ch, u.w, u.g, Slots<2, typename St::St*>{{u.slots.p[0], u.slots.p[1]}}, u.la, u.out,
                    [&](float& wi, float gi, auto& x, float& pp, float& pg) {
                        swats_adam_update(wi, gi, x[0], x[1], s, pp, pg);
                    });
            store_chunk_sums(acc, u.partials, u.arena.num_chunks, ch.index);
        }
    });
}

}  // namespace

FO_UPDATE_ENTRIES(swats, 3, TSP, swats_body)

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

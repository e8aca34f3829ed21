// LARS: the norm pass, the per-tensor trust ratio, and the update entries with and without a Lookahead sync, in
// every regime (entries.cuh).
#include "fusedopt/lars.cuh"
#include "fusedopt/entries.cuh"
#include "fusedopt/reduce.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void lars_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const LarsScalars s = group_scalars<LarsScalars>(u.scalars, ch.group);
        const float neg_step = lars_neg_step(s, u.tensor_state[ch.tensor]);
        return [s, neg_step](float& wi, float gi, auto& x) { lars_update(wi, gi, x[0], neg_step, s); };
    });
}

// The momentum buffer is in the signature, as in every norm entry, but this pass does not read it.
template <class St, int S>
__device__ __forceinline__ void lars_norm_body(const Norm<St, S>& n) {
    for_each_chunk(n.arena, [&](const ChunkRef& ch) {
        const LarsScalars s = group_scalars<LarsScalars>(n.scalars, ch.group);
        const Lanes acc = walk_elements<kReduce, St>(
                ch, n.w, n.g, Slots<0, const typename St::St*>{{nullptr}},
                LookaheadT<typename St::Wt>{nullptr, 0.0f}, Out<St>{nullptr, 0ull, 0ull},
                [&](float& wi, float gi, auto&, float& ww, float& dd) { lars_norm_terms(wi, gi, s, ww, dd); });
        store_chunk_sums(acc, n.partials, n.arena.num_chunks, ch.index);
    });
}

}  // namespace

FO_NORM_ENTRIES(lars_norm, 1, lars_norm_body)

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

FO_UPDATE_ENTRIES(lars, 1, TS, lars_body)

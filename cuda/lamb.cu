// LAMB: the norm pass, the per-tensor trust ratio, and the update entries with and without a Lookahead sync, in
// every regime (entries.cuh).
#include "fusedopt/lamb.cuh"
#include "fusedopt/entries.cuh"
#include "fusedopt/reduce.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void lamb_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const LambScalars s = group_scalars<LambScalars>(u.scalars, ch.group);
        const float neg_step = lamb_neg_step(s, u.tensor_state[ch.tensor]);
        return [s, neg_step](float& wi, float gi, auto& x) { lamb_update(wi, gi, x[0], x[1], neg_step, s); };
    });
}

template <class St, int S>
__device__ __forceinline__ void lamb_norm_body(const Norm<St, S>& n) {
    for_each_chunk(n.arena, [&](const ChunkRef& ch) {
        const LambScalars s = group_scalars<LambScalars>(n.scalars, ch.group);
        const Lanes acc = walk_elements<kReduce, St>(
                ch, n.w, n.g, n.slots, LookaheadT<typename St::Wt>{nullptr, 0.0f}, Out<St>{nullptr, 0ull, 0ull},
                [&](float& wi, float gi, auto& x, float& ww, float& rr) {
                    lamb_norm_terms(wi, gi, x[0], x[1], s, ww, rr);
                });
        store_chunk_sums(acc, n.partials, n.arena.num_chunks, ch.index);
    });
}

}  // namespace

FO_NORM_ENTRIES(lamb_norm, 2, lamb_norm_body)

extern "C" __global__ void __launch_bounds__(BLOCK)
lamb_finalize(const float* __restrict__ partials, int num_chunks, const int* __restrict__ first_chunk,
              int num_tensors, const int* __restrict__ skip_flag, double* __restrict__ tensor_state) {
    // A skipped step leaves the trust ratio as it was: the partials are those of an earlier step, or of none
    // right after a checkpoint was loaded.
    if (*skip_flag != 0) return;
    // One warp per tensor: GPT-2's embedding alone has over a thousand chunk sums to read.
    for_each_tensor_by_warp(num_tensors, [&](long long t) {
        const TensorSums sums = warp_tensor_sums(partials, num_chunks, first_chunk, t);
        if (threadIdx.x % WARP == 0) {
            tensor_state[t] = lamb_trust(sums.a, sums.b);
        }
    });
}

FO_UPDATE_ENTRIES(lamb, 2, TS, lamb_body)

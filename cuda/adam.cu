// Adam and AdamW update entries, with and without AMSGrad and a Lookahead sync, in every regime (entries.cuh).
#include "fusedopt/adam.cuh"
#include "fusedopt/entries.cuh"

using namespace fusedopt;

namespace {

template <bool DECOUPLED, bool AMSGRAD, unsigned MODE, class St, int S>
__device__ __forceinline__ void adam_pass(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const AdamScalars s = group_scalars<AdamScalars>(u.scalars, ch.group);
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

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void adam_body(const Update<St, S>& u) { adam_pass<false, false, MODE>(u); }
template <class St, unsigned MODE, int S>
__device__ __forceinline__ void adamw_body(const Update<St, S>& u) { adam_pass<true, false, MODE>(u); }
template <class St, unsigned MODE, int S>
__device__ __forceinline__ void adam_amsgrad_body(const Update<St, S>& u) { adam_pass<false, true, MODE>(u); }
template <class St, unsigned MODE, int S>
__device__ __forceinline__ void adamw_amsgrad_body(const Update<St, S>& u) { adam_pass<true, true, MODE>(u); }

}  // namespace

FO_UPDATE_ENTRIES(adam, 2, NONE, adam_body)
FO_UPDATE_ENTRIES(adamw, 2, NONE, adamw_body)
FO_UPDATE_ENTRIES(adam_amsgrad, 3, NONE, adam_amsgrad_body)
FO_UPDATE_ENTRIES(adamw_amsgrad, 3, NONE, adamw_amsgrad_body)

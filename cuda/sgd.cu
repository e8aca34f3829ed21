// SGD and SGDW update entries, with and without a momentum buffer and a Lookahead sync.
// Every regime's entries are stamped by entries.cuh.
#include "fusedopt/sgd.cuh"
#include "fusedopt/entries.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void sgd_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const SgdScalars s = group_scalars<SgdScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            float none = 0.0f;
            sgd_update<false, false>(wi, gi, none, s);
        };
    });
}

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void sgd_momentum_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const SgdScalars s = group_scalars<SgdScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            sgd_update<false, true>(wi, gi, x[0], s);
        };
    });
}

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void sgdw_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const SgdScalars s = group_scalars<SgdScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            float none = 0.0f;
            sgd_update<true, false>(wi, gi, none, s);
        };
    });
}

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void sgdw_momentum_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const SgdScalars s = group_scalars<SgdScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            sgd_update<true, true>(wi, gi, x[0], s);
        };
    });
}

}  // namespace

FO_UPDATE_ENTRIES(sgd, 0, NONE, sgd_body)
FO_UPDATE_ENTRIES(sgd_momentum, 1, NONE, sgd_momentum_body)
FO_UPDATE_ENTRIES(sgdw, 0, NONE, sgdw_body)
FO_UPDATE_ENTRIES(sgdw_momentum, 1, NONE, sgdw_momentum_body)

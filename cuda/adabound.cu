// AdaBound and AMSBound update entries, with and without a Lookahead sync.
// Every regime's entries are stamped by entries.cuh.
#include "fusedopt/adabound.cuh"
#include "fusedopt/entries.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void adabound_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const AdaBoundScalars s = group_scalars<AdaBoundScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            float none = 0.0f;
            adabound_update<false>(wi, gi, x[0], x[1], none, s);
        };
    });
}

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void amsbound_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const AdaBoundScalars s = group_scalars<AdaBoundScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            adabound_update<true>(wi, gi, x[0], x[1], x[2], s);
        };
    });
}

}  // namespace

FO_UPDATE_ENTRIES(adabound, 2, NONE, adabound_body)
FO_UPDATE_ENTRIES(amsbound, 3, NONE, amsbound_body)

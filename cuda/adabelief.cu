// AdaBelief update entries, with and without AMSGrad and a Lookahead sync. Decoupling, rectification and the SGD
// fallback come from the group's scalars (see adabelief.cuh), so they need no entries of their own.
// Every regime's entries are stamped by entries.cuh.
#include "fusedopt/adabelief.cuh"
#include "fusedopt/entries.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void adabelief_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const AdaBeliefScalars s = group_scalars<AdaBeliefScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            float none = 0.0f;
            adabelief_update<false>(wi, gi, x[0], x[1], none, s);
        };
    });
}

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void adabelief_amsgrad_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const AdaBeliefScalars s = group_scalars<AdaBeliefScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            adabelief_update<true>(wi, gi, x[0], x[1], x[2], s);
        };
    });
}

}  // namespace

FO_UPDATE_ENTRIES(adabelief, 2, NONE, adabelief_body)
FO_UPDATE_ENTRIES(adabelief_amsgrad, 3, NONE, adabelief_amsgrad_body)

// NAdam update entries, with and without a Lookahead sync.
// Every regime's entries are stamped by entries.cuh.
#include "fusedopt/nadam.cuh"
#include "fusedopt/entries.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void nadam_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const NAdamScalars s = group_scalars<NAdamScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            nadam_update(wi, gi, x[0], x[1], s);
        };
    });
}

}  // namespace

FO_UPDATE_ENTRIES(nadam, 2, NONE, nadam_body)

// Adan update entries, with and without a Lookahead sync.
// Every regime's entries are stamped by entries.cuh.
#include "fusedopt/adan.cuh"
#include "fusedopt/entries.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void adan_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const AdanScalars s = group_scalars<AdanScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            adan_update(wi, gi, x[0], x[1], x[2], x[3], s);
        };
    });
}

}  // namespace

FO_UPDATE_ENTRIES(adan, 4, NONE, adan_body)

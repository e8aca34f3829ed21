// Yogi update entries, with and without a Lookahead sync.
// Every regime's entries are stamped by entries.cuh.
#include "fusedopt/yogi.cuh"
#include "fusedopt/entries.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void yogi_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const YogiScalars s = group_scalars<YogiScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            yogi_update(wi, gi, x[0], x[1], s);
        };
    });
}

}  // namespace

FO_UPDATE_ENTRIES(yogi, 2, NONE, yogi_body)

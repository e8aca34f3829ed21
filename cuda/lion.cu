// Lion update entries, with and without a Lookahead sync.
// Every regime's entries are stamped by entries.cuh.
#include "fusedopt/lion.cuh"
#include "fusedopt/entries.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void lion_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const LionScalars s = group_scalars<LionScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            lion_update(wi, gi, x[0], s);
        };
    });
}

}  // namespace

FO_UPDATE_ENTRIES(lion, 1, NONE, lion_body)

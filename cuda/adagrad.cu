// AdaGrad update entries, with and without a Lookahead sync.
// Every regime's entries are stamped by entries.cuh.
#include "fusedopt/adagrad.cuh"
#include "fusedopt/entries.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void adagrad_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const AdagradScalars s = group_scalars<AdagradScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            adagrad_update(wi, gi, x[0], s);
        };
    });
}

}  // namespace

FO_UPDATE_ENTRIES(adagrad, 1, NONE, adagrad_body)

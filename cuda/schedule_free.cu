// Schedule-Free AdamW update entries, with and without a Lookahead sync.
// Every regime's entries are stamped by entries.cuh.
#include "fusedopt/schedule_free.cuh"
#include "fusedopt/entries.cuh"

using namespace fusedopt;

namespace {

template <class St, unsigned MODE, int S>
__device__ __forceinline__ void schedule_free_adamw_body(const Update<St, S>& u) {
    update_arena<MODE>(u, [=](const ChunkRef& ch) {
        const ScheduleFreeScalars s = group_scalars<ScheduleFreeScalars>(u.scalars, ch.group);
        return [s](float& wi, float gi, auto& x) {
            schedule_free_adamw_update(wi, gi, x[0], x[1], s);
        };
    });
}

}  // namespace

FO_UPDATE_ENTRIES(schedule_free_adamw, 2, NONE, schedule_free_adamw_body)

// Entries shared by every rule: the finite check of the gradients that gates a step.
#include "fusedopt/launch.cuh"

using namespace fusedopt;

namespace {

struct FiniteOp {
    const float* g;
    bool bad;

    template <int N>
    __device__ __forceinline__ void apply(long long i, int) {
        const Frag<N> f = load_frag<N>(g, i);
#pragma unroll
        for (int c = 0; c < N; ++c) {
            // x - x is 0 for finite x and NaN for NaN and the infinities, as in CpuStepProgram.
            bad |= f.v[c] - f.v[c] != 0.0f;
        }
    }
};

}  // namespace

// Any thread that saw a non-finite gradient stores 1; every writer stores the same value, so no atomic is needed.
extern "C" __global__ void __launch_bounds__(BLOCK)
finite_check_f32(const float* __restrict__ g, const ChunkDesc* __restrict__ chunks, int num_chunks,
                 int* __restrict__ flag) {
    FiniteOp op{g, false};
    for_each_chunk(Arena{chunks, num_chunks, nullptr}, [&](const ChunkRef& ch) { walk_chunk(ch, op); });
    if (op.bad) {
        *flag = 1;
    }
}

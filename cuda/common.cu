// Entries shared by every rule: the finite check of the gradients that gates a step, and Lookahead's first copy of
// the parameters into the slow weights.
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

struct CopyOp {
    const float* w;
    float* slow;

    template <int N>
    __device__ __forceinline__ void apply(long long i, int) {
        store_frag<N>(slow, i, load_frag<N>(w, i));
    }
};

}  // namespace

// Any thread that saw a non-finite gradient stores 1; every writer stores the same value, so no atomic is needed.
extern "C" __global__ void __launch_bounds__(BLOCK)
finite_check_f32(const float* __restrict__ g, const ChunkDesc* __restrict__ chunks, int num_chunks,
                 int* __restrict__ flag) {
    FiniteOp op{g, false};
    for_each_chunk(Arena{chunks, num_chunks, nullptr}, [&](const ChunkRef& ch) {
        op.g = chunk_view(ch.g, g, ch.base);
        walk_chunk(ch, op);
    });
    if (op.bad) {
        *flag = 1;
    }
}

// slow = w over the arena at Lookahead's first step. It reads the skip flag like every pass after the finite check,
// so a skipped first step leaves the slow weights as they were, as on the CPU backend.
extern "C" __global__ void __launch_bounds__(BLOCK)
lookahead_init_f32(const float* __restrict__ w, float* __restrict__ slow, const ChunkDesc* __restrict__ chunks,
                   int num_chunks, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    CopyOp op{w, slow};
    for_each_chunk(Arena{chunks, num_chunks, nullptr}, [&](const ChunkRef& ch) {
        op.w = chunk_view(ch.w, w, ch.base);
        walk_chunk(ch, op);
    });
}

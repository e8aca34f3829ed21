// Entries shared by every rule: the finite check of the gradients that gates a step, and Lookahead's first copy of
// the parameters into the slow weights.
#include "fusedopt/launch.cuh"

using namespace fusedopt;

namespace {

template <class T>
struct FiniteOp {
    const T* g;
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

template <class T>
struct CopyOp {
    const T* w;
    T* slow;

    template <int N>
    __device__ __forceinline__ void apply(long long i, int) {
        // The stored bits, unconverted (a NaN keeps its payload, as the CPU backend's array copy does).
        if constexpr (N == 1) {
            slow[i] = w[i];
        } else if constexpr (std::is_same<T, float>::value) {
            *reinterpret_cast<float4*>(slow + i) = *reinterpret_cast<const float4*>(w + i);
        } else {
            *reinterpret_cast<uint2*>(slow + i) = *reinterpret_cast<const uint2*>(w + i);
        }
    }
};

template <class T>
__device__ __forceinline__ void finite_check(const T* g, const ChunkDesc* chunks, int num_chunks, int* flag) {
    FiniteOp<T> op{g, false};
    for_each_chunk(Arena{chunks, num_chunks, nullptr}, [&](const ChunkRef& ch) { walk_chunk(ch, op); });
    if (op.bad) {
        *flag = 1;
    }
}

template <class T>
__device__ __forceinline__ void lookahead_init(const T* w, T* slow, const ChunkDesc* chunks, int num_chunks) {
    CopyOp<T> op{w, slow};
    for_each_chunk(Arena{chunks, num_chunks, nullptr}, [&](const ChunkRef& ch) { walk_chunk(ch, op); });
}

}  // namespace

// Any thread that saw a non-finite gradient stores 1; every writer stores the same value, so no atomic is needed.
extern "C" __global__ void __launch_bounds__(BLOCK)
finite_check_f32(const float* __restrict__ g, const ChunkDesc* __restrict__ chunks, int num_chunks,
                 int* __restrict__ flag) {
    finite_check(g, chunks, num_chunks, flag);
}

// The 16-bit gradients of the bf16/fp16 regimes (widened, an infinity or NaN stays one).
extern "C" __global__ void __launch_bounds__(BLOCK)
finite_check_bf16(const Bf16* __restrict__ g, const ChunkDesc* __restrict__ chunks, int num_chunks,
                  int* __restrict__ flag) {
    finite_check(g, chunks, num_chunks, flag);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
finite_check_fp16(const Fp16* __restrict__ g, const ChunkDesc* __restrict__ chunks, int num_chunks,
                  int* __restrict__ flag) {
    finite_check(g, chunks, num_chunks, flag);
}

// slow = w over the arena at Lookahead's first step. It reads the skip flag like every pass after the finite check,
// so a skipped first step leaves the slow weights as they were, as on the CPU backend.
extern "C" __global__ void __launch_bounds__(BLOCK)
lookahead_init_f32(const float* __restrict__ w, float* __restrict__ slow, const ChunkDesc* __restrict__ chunks,
                   int num_chunks, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    lookahead_init(w, slow, chunks, num_chunks);
}

// The slow weights of the low-precision regimes, in the weights' dtype.
extern "C" __global__ void __launch_bounds__(BLOCK)
lookahead_init_bf16(const Bf16* __restrict__ w, Bf16* __restrict__ slow, const ChunkDesc* __restrict__ chunks,
                    int num_chunks, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    lookahead_init(w, slow, chunks, num_chunks);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
lookahead_init_fp16(const Fp16* __restrict__ w, Fp16* __restrict__ slow, const ChunkDesc* __restrict__ chunks,
                    int num_chunks, const int* __restrict__ skip_flag) {
    if (*skip_flag != 0) return;
    lookahead_init(w, slow, chunks, num_chunks);
}

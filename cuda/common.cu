// Entries shared by every rule: the finite check of the gradients that gates a step, the global gradient norm for
// clipping, the step's decision on the device (step_decide), and Lookahead's first copy of the parameters into the
// slow weights.
#include "fusedopt/launch.cuh"
#include "fusedopt/reduce.cuh"
#include "fusedopt/step_control.cuh"

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

// Sums (g * u)^2 into the thread's lanes in Reduce.java's order, and notes a non-finite gradient.
template <class T>
struct SquareOp {
    const T* g;
    float u;
    bool bad;
    float acc[VEC];

    template <int N>
    __device__ __forceinline__ void apply(long long i, int lane) {
        const Frag<N> f = load_frag<N>(g, i);
#pragma unroll
        for (int c = 0; c < N; ++c) {
            const float x = f.v[c] * u;
            bad |= f.v[c] - f.v[c] != 0.0f;
            acc[lane + c] = fmaf(x, x, acc[lane + c]);
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
    for_each_chunk(Arena{chunks, num_chunks, nullptr}, [&](const ChunkRef& ch) {
        op.g = chunk_view(ch.g, g, ch.base);
        walk_chunk(ch, op);
    });
    if (op.bad) {
        *flag = 1;
    }
}

template <class T>
__device__ __forceinline__ void lookahead_init(const T* w, T* slow, const ChunkDesc* chunks, int num_chunks) {
    CopyOp<T> op{w, slow};
    for_each_chunk(Arena{chunks, num_chunks, nullptr}, [&](const ChunkRef& ch) {
        op.w = chunk_view(ch.w, w, ch.base);
        walk_chunk(ch, op);
    });
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

// A named namespace, not an anonymous one: the block's shared storage below is a static of this function, and the
// mangled name of a static inside an anonymous namespace carries a hash of the source's path, which would make
// the PTX depend on the directory it was compiled in.
namespace norm_pass {

template <class T>
__device__ __forceinline__ void grad_norm(const T* g, const ChunkDesc* chunks, int num_chunks, StepControl* control,
                                          float* partials) {
    __shared__ BlockSum<1>::Storage storage;
    const float u = control->norm_unscale;
    bool bad = false;
    for_each_chunk(Arena{chunks, num_chunks, nullptr}, [&](const ChunkRef& ch) {
        SquareOp<T> op{chunk_view(ch.g, g, ch.base), u, false, {0.0f, 0.0f, 0.0f, 0.0f}};
        walk_chunk(ch, op);
        bad |= op.bad;
        float v[1] = {fold_lanes(op.acc)};
        BlockSum<1>(storage).sum(v);
        if (threadIdx.x == 0) {
            partials[ch.index] = v[0];
        }
    });
    if (bad) {
        control->found = 1;
    }
}

}  // namespace norm_pass

// The per-chunk sums of the squared unscaled gradient, partials[c] = sum over chunk c of (g * u)^2 with
// u = control->norm_unscale, in the fixed order of reduce.cuh; sets control->found for a NaN or infinite gradient.
extern "C" __global__ void __launch_bounds__(BLOCK)
grad_norm_f32(const float* __restrict__ g, const ChunkDesc* __restrict__ chunks, int num_chunks,
              StepControl* __restrict__ control, float* __restrict__ partials) {
    norm_pass::grad_norm(g, chunks, num_chunks, control, partials);
}

// The 16-bit gradients of the bf16/fp16 and master regimes, widened exactly before they are unscaled and squared.
extern "C" __global__ void __launch_bounds__(BLOCK)
grad_norm_bf16(const Bf16* __restrict__ g, const ChunkDesc* __restrict__ chunks, int num_chunks,
               StepControl* __restrict__ control, float* __restrict__ partials) {
    norm_pass::grad_norm(g, chunks, num_chunks, control, partials);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
grad_norm_fp16(const Fp16* __restrict__ g, const ChunkDesc* __restrict__ chunks, int num_chunks,
               StepControl* __restrict__ control, float* __restrict__ partials) {
    norm_pass::grad_norm(g, chunks, num_chunks, control, partials);
}

namespace {

// Sum of partials[0 .. n) in double, in index order from 0.0, by one warp: coalesced loads, a sequential fold.
__device__ __forceinline__ double warp_ordered_sum(const float* partials, int n) {
    const int lane = threadIdx.x % WARP;
    double s = 0.0;
    for (int base = 0; base < n; base += WARP) {
        const float a = base + lane < n ? partials[base + lane] : 0.0f;
        const int m = n - base < WARP ? n - base : WARP;
        for (int k = 0; k < m; ++k) {
            s += (double) __shfl_sync(0xffffffffu, a, k);
        }
    }
    return s;
}

}  // namespace

// One step's decision, one block: the global norm and the clip coefficient, whether the step is skipped, the gates
// of every later pass, the counts, the loss scale, and the scalar row of the step's applied count copied from the
// window into the scalars buffer. CpuStepProgram.step is the reference; the arithmetic is the same.
extern "C" __global__ void __launch_bounds__(BLOCK)
step_decide(StepControl* __restrict__ control, const float* __restrict__ norm_partials, int num_chunks,
            const StepWindow* __restrict__ window, unsigned* __restrict__ scalars) {
    __shared__ int copy_row;
    const int flags = control->flags;
    double sum = 0.0;
    if ((flags & kClip) != 0 && threadIdx.x < WARP) {
        sum = warp_ordered_sum(norm_partials, num_chunks);
    }
    if (threadIdx.x == 0) {
        StepControl& c = *control;
        const long long t = c.applied + 1;
        const long long row = t - window->base;
        copy_row = -1;
        if (row < 0 || row >= window->rows) {
            // The host's window missed the device's count: apply nothing, count nothing, and say so.
            c.error = 1;
            c.skip = c.skip_plain_update = c.skip_sync_update = c.skip_lookahead_init = 1;
        } else if ((flags & kHaltOnSkip) != 0 && c.halted != 0) {
            // Halted by an earlier skip the host has not raised yet: nothing changes, not even the loss scale.
            c.halted += 1;
            c.skip = c.skip_plain_update = c.skip_sync_update = c.skip_lookahead_init = 1;
        } else {
            const bool skips = (flags & (kScaleLoss | kSkipNonFinite)) != 0;
            bool found = c.found != 0;
            float clip = 1.0f;
            if ((flags & kClip) != 0) {
                const double total = sqrt(sum);
                c.grad_norm = total;
                found |= !isfinite(total);
                const double k = c.max_norm / (total + 1e-6);
                // Math.min(1.0, k) of StepOptions.clipCoefficient: NaN stays NaN.
                clip = (float) (k != k ? k : (k < 1.0 ? k : 1.0));
            }
            const bool skip = found && skips;
            c.unscale = (flags & kScaleLoss) != 0 ? c.norm_unscale : 1.0f;
            c.clip = clip;
            if ((flags & kScaleLoss) != 0) {
                if (skip) {
                    c.scale = c.scale * c.backoff_factor;
                    c.growth_tracker = 0;
                } else if (++c.growth_tracker == c.growth_interval) {
                    c.scale = c.scale * c.growth_factor;
                    c.growth_tracker = 0;
                }
                c.norm_unscale = (float) (1.0 / (double) c.scale);
            }
            c.last_skipped = skip ? 1 : 0;
            c.skip = skip ? 1 : 0;
            const int la = c.lookahead_k;
            const bool sync = la > 0 && t % la == 0;
            c.skip_plain_update = skip || sync ? 1 : 0;
            c.skip_sync_update = skip || !sync ? 1 : 0;
            c.skip_lookahead_init = skip || t != 1 ? 1 : 0;
            if (skip) {
                c.skipped += 1;
                if ((flags & kHaltOnSkip) != 0) {
                    c.halted = 1;
                }
            } else {
                c.applied = t;
                copy_row = (int) row;
            }
        }
        c.found = 0;
    }
    __syncthreads();
    if (copy_row >= 0) {
        const int words = window->row_words;
        const unsigned* src = reinterpret_cast<const unsigned*>(reinterpret_cast<const char*>(window)
                + STEP_WINDOW_HEADER_BYTES) + (long long) copy_row * words;
        for (int i = threadIdx.x; i < words; i += BLOCK) {
            scalars[i] = src[i];
        }
    }
}

// Adafactor: the row and column statistics, the per-row and per-column scales, the norm pass, the per-tensor step
// coefficient, and the update entries with and without a Lookahead sync, each for the rule without momentum (slot
// v) and with it (slots v, exp_avg).
#include "fusedopt/adafactor.cuh"
#include "fusedopt/launch.cuh"
#include "fusedopt/lookahead.cuh"
#include "fusedopt/reduce.cuh"

using namespace fusedopt;

namespace {

typedef AdafactorGeometry G;

__device__ __forceinline__ const long long* geometry_of(const long long* geometry, long long t) {
    return geometry + t * G::WIDTH;
}

// The tensor whose work units hold unit u: the last tensor whose first unit is at most u (tensors without work
// share their first unit with the next one, so the search skips them by taking the last match).
__device__ __forceinline__ int tensor_of_unit(const long long* geometry, int num_tensors, long long u) {
    int lo = 0, hi = num_tensors - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (geometry_of(geometry, mid)[G::FIRST_WORK] <= u) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return lo;
}

// One warp per work unit: 32 elements of an unfactored tensor, or one inner or outer statistic of a factored one,
// its terms in 32 lanes folded as Adafactor.foldLanes folds them.
__device__ __forceinline__ void stats(const float* g, float* v, const int* tensor_group, int num_tensors,
                                      const float* scalars, const double* finish_scalars, const long long* geometry,
                                      int total_work) {
    const int lane = threadIdx.x % WARP;
    const long long warps = (long long) gridDim.x * (blockDim.x / WARP);
    for (long long u = (long long) blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP; u < total_work;
         u += warps) {
        const int t = tensor_of_unit(geometry, num_tensors, u);
        const long long* geo = geometry_of(geometry, t);
        const int group = tensor_group[t];
        const AdafactorScalars s = group_scalars<AdafactorScalars>(scalars, group);
        const AdafactorFinish f = AdafactorFinish::load(finish_scalars + (long long) group * AdafactorFinish::K);
        const long long local = u - geo[G::FIRST_WORK];
        const float* gt = g + geo[G::OFFSET];
        float* vt = v + geo[G::SIDE];
        if (geo[G::FACTORED] == 0) {
            const long long e = local * WARP + lane;
            if (e < geo[G::N]) {
                vt[e] = af_blend_element(vt[e], af_square(gt[e], s.eps), f.bh, f.omb);
            }
            continue;
        }
        const long long d1 = geo[G::D1], b = geo[G::B], d2 = geo[G::D2], cc = geo[G::CC];
        long long base, stride, n, at;
        if (local < geo[G::NI]) {
            // Inner statistic (a, i1, b, c): the terms along D2.
            const long long ci = local % cc;
            long long q = local / cc;
            const long long bi = q % b;
            q /= b;
            const long long i1 = q % d1, ai = q / d1;
            base = (((ai * d1 + i1) * b + bi) * d2) * cc + ci;
            stride = cc;
            n = d2;
            at = af_inner_at(geo) + local;
        } else {
            // Outer statistic (a, q): the terms along D1.
            const long long k = local - geo[G::NI];
            const long long qn = b * d2 * cc;
            const long long ai = k / qn, qi = k % qn;
            base = ai * d1 * qn + qi;
            stride = qn;
            n = d1;
            at = af_outer_at(geo) + k;
        }
        float acc = 0.0f;
        for (long long k = lane; k < n; k += WARP) {
            acc = acc + af_square(gt[base + k * stride], s.eps);
        }
        const float sum = fold_warp(acc);
        if (lane == 0) {
            vt[at] = af_blend(vt[at], sum, n, f.bh, f.omb);
        }
    }
}

// One warp per factored tensor: per batch the mean over S of R (lane 0, in double, in increasing s), then the
// scales of the batch's rows, then those of every column, each lane its own elements. Statistic counts fit an int
// (a tensor's rows and columns are far fewer than 2^31).
__device__ __forceinline__ void scales(const float* v, int num_tensors, const long long* geometry, float* scratch) {
    const int lane = threadIdx.x % WARP;
    const int warps = gridDim.x * (blockDim.x / WARP);
    for (int t = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP; t < num_tensors; t += warps) {
        const long long* geo = geometry_of(geometry, t);
        if (geo[G::FACTORED] == 0) {
            continue;
        }
        const float* st = v + geo[G::SIDE];
        float* out = scratch + geo[G::SCRATCH];
        const bool r_inner = geo[G::R_INNER] != 0;
        const int ni = (int) geo[G::NI], no = (int) geo[G::NO];
        const int r0 = (int) (r_inner ? af_inner_at(geo) : af_outer_at(geo));
        const int nr = r_inner ? ni : no;
        const int s_size = (int) geo[G::S_SIZE];
        const int b = (int) geo[G::B], cc = (int) geo[G::CC];
        const int batches = (int) geo[G::A] * b * cc;
        // Row s of batch (a, b, c) is R[first + s * stride].
        const int stride = r_inner ? b * cc : cc;
        for (int k = 0; k < batches; ++k) {
            const int ci = k % cc, bi = (k / cc) % b, ai = k / (cc * b);
            const int first = r0 + (r_inner ? (ai * (int) geo[G::D1] * b + bi) * cc + ci
                                             : (ai * b + bi) * (int) geo[G::D2] * cc + ci);
            double sum = 0.0;
            if (lane == 0) {
                for (int s = 0; s < s_size; ++s) {
                    sum += (double) st[first + s * stride];
                }
            }
            const double mean = __shfl_sync(0xffffffffu, sum, 0) / (double) s_size;
            for (int s = lane; s < s_size; s += WARP) {
                const int r = first + s * stride;
                out[r] = (float) (1.0 / sqrt((double) st[r] / mean));
            }
        }
        const int c0 = r0 == 0 ? nr : 0;
        const int nc = ni + no - nr;
        for (int k = lane; k < nc; k += WARP) {
            out[c0 + k] = (float) (1.0 / sqrt((double) st[c0 + k]));
        }
    }
}

// The element passes: each element's direction needs its index in the tensor, so this walks the chunk with its
// own op rather than the shared element functor (the lanes and the element order are the walker's).
template <bool NORM, bool LOOKAHEAD, bool MOMENTUM>
struct ElementPass {
    float* w;
    const float* g;
    const float* v;
    float* m;
    const float* scratch;
    const long long* geo;
    AdafactorScalars s;
    float coef;
    float* slow;
    float alpha;
    Lanes acc;

    template <int N>
    __device__ __forceinline__ void apply(long long i, int lane) {
#pragma unroll
        for (int c = 0; c < N; ++c) {
            const long long x = i + c;
            float wi = w[x];
            const float u = af_direction(geo, g[x], x - geo[G::OFFSET], v, scratch);
            if constexpr (NORM) {
                acc.a[lane + c] = fmaf(u, u, acc.a[lane + c]);
                acc.b[lane + c] = fmaf(wi, wi, acc.b[lane + c]);
            } else {
                float mi = 0.0f;
                if constexpr (MOMENTUM) {
                    mi = m[x];
                }
                af_update(wi, u, mi, coef, s);
                if constexpr (MOMENTUM) {
                    m[x] = mi;
                }
                if constexpr (LOOKAHEAD) {
                    float sl = slow[x];
                    lookahead_sync(wi, sl, alpha);
                    slow[x] = sl;
                }
                w[x] = wi;
            }
        }
    }
};

template <bool NORM, bool LOOKAHEAD, bool MOMENTUM>
__device__ __forceinline__ void element_pass(const Arena& arena, float* w, const float* g, const float* v, float* m,
                                             const float* scalars, const double* tensor_state, float* partials,
                                             const long long* geometry, const float* scratch, float* slow,
                                             float alpha) {
    for_each_chunk(arena, [&](const ChunkRef& ch) {
        const AdafactorScalars s = group_scalars<AdafactorScalars>(scalars, ch.group);
        const float coef = NORM ? 0.0f : (s.use_ts ? (float) tensor_state[ch.tensor] : s.lr);
        ElementPass<NORM, LOOKAHEAD, MOMENTUM> op{w, g, v, m, scratch, geometry_of(geometry, ch.tensor), s, coef,
                                                  slow, alpha, Lanes{}};
        walk_chunk(ch, op);
        if constexpr (NORM) {
            store_chunk_sums(op.acc, partials, arena.num_chunks, ch.index);
        }
    });
}

}  // namespace

extern "C" __global__ void __launch_bounds__(BLOCK)
adafactor_stats_f32(const float* __restrict__ w, const float* __restrict__ g, float* __restrict__ v,
                    const int* __restrict__ tensor_group, int num_tensors, const float* __restrict__ scalars,
                    const double* __restrict__ finish_scalars, const int* __restrict__ skip_flag,
                    const long long* __restrict__ geometry, float* __restrict__ scratch, int total_work) {
    (void) w;
    (void) scratch;
    if (*skip_flag != 0) return;
    stats(g, v, tensor_group, num_tensors, scalars, finish_scalars, geometry, total_work);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adafactor_momentum_stats_f32(const float* __restrict__ w, const float* __restrict__ g, float* __restrict__ v,
                             float* __restrict__ exp_avg, const int* __restrict__ tensor_group, int num_tensors,
                             const float* __restrict__ scalars, const double* __restrict__ finish_scalars,
                             const int* __restrict__ skip_flag, const long long* __restrict__ geometry,
                             float* __restrict__ scratch, int total_work) {
    (void) w;
    (void) exp_avg;
    (void) scratch;
    if (*skip_flag != 0) return;
    stats(g, v, tensor_group, num_tensors, scalars, finish_scalars, geometry, total_work);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adafactor_scales_f32(const float* __restrict__ w, const float* __restrict__ g, float* __restrict__ v,
                     const int* __restrict__ tensor_group, int num_tensors, const float* __restrict__ scalars,
                     const double* __restrict__ finish_scalars, const int* __restrict__ skip_flag,
                     const long long* __restrict__ geometry, float* __restrict__ scratch, int total_work) {
    (void) w;
    (void) g;
    (void) tensor_group;
    (void) scalars;
    (void) finish_scalars;
    (void) total_work;
    if (*skip_flag != 0) return;
    scales(v, num_tensors, geometry, scratch);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adafactor_momentum_scales_f32(const float* __restrict__ w, const float* __restrict__ g, float* __restrict__ v,
                              float* __restrict__ exp_avg, const int* __restrict__ tensor_group, int num_tensors,
                              const float* __restrict__ scalars, const double* __restrict__ finish_scalars,
                              const int* __restrict__ skip_flag, const long long* __restrict__ geometry,
                              float* __restrict__ scratch, int total_work) {
    (void) w;
    (void) g;
    (void) exp_avg;
    (void) tensor_group;
    (void) scalars;
    (void) finish_scalars;
    (void) total_work;
    if (*skip_flag != 0) return;
    scales(v, num_tensors, geometry, scratch);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adafactor_norm_f32(const float* __restrict__ w, const float* __restrict__ g, const float* __restrict__ v,
                   const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                   const float* __restrict__ scalars, const int* __restrict__ skip_flag, float* __restrict__ partials,
                   const long long* __restrict__ geometry, const float* __restrict__ scratch) {
    if (*skip_flag != 0) return;
    element_pass<true, false, false>({chunks, num_chunks, tensor_group}, const_cast<float*>(w), g, v, nullptr,
                                     scalars, nullptr, partials, geometry, scratch, nullptr, 0.0f);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adafactor_momentum_norm_f32(const float* __restrict__ w, const float* __restrict__ g, const float* __restrict__ v,
                            const float* __restrict__ exp_avg, const ChunkDesc* __restrict__ chunks, int num_chunks,
                            const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                            const int* __restrict__ skip_flag, float* __restrict__ partials,
                            const long long* __restrict__ geometry, const float* __restrict__ scratch) {
    (void) exp_avg;
    if (*skip_flag != 0) return;
    element_pass<true, false, false>({chunks, num_chunks, tensor_group}, const_cast<float*>(w), g, v, nullptr,
                                     scalars, nullptr, partials, geometry, scratch, nullptr, 0.0f);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adafactor_finalize(const float* __restrict__ partials, int num_chunks, const int* __restrict__ first_chunk,
                   const int* __restrict__ tensor_group, int num_tensors, const double* __restrict__ finish_scalars,
                   const int* __restrict__ skip_flag, double* __restrict__ tensor_state,
                   const long long* __restrict__ geometry) {
    if (*skip_flag != 0) return;
    // One warp per tensor, as LAMB's finalize: the chunk sums are read coalesced and folded in chunk order.
    for_each_tensor_by_warp(num_tensors, [&](long long t) {
        const TensorSums sums = warp_tensor_sums(partials, num_chunks, first_chunk, t);
        if (threadIdx.x % WARP == 0) {
            const AdafactorFinish f =
                    AdafactorFinish::load(finish_scalars + (long long) tensor_group[t] * AdafactorFinish::K);
            tensor_state[t] = af_coef(sums.a, sums.b, geometry_of(geometry, t)[G::N], f);
        }
    });
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adafactor_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ v,
              const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
              const float* __restrict__ scalars, const int* __restrict__ skip_flag,
              const double* __restrict__ tensor_state, const long long* __restrict__ geometry,
              const float* __restrict__ scratch) {
    if (*skip_flag != 0) return;
    element_pass<false, false, false>({chunks, num_chunks, tensor_group}, w, g, v, nullptr, scalars, tensor_state,
                                      nullptr, geometry, scratch, nullptr, 0.0f);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adafactor_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ v,
                        const ChunkDesc* __restrict__ chunks, int num_chunks, const int* __restrict__ tensor_group,
                        const float* __restrict__ scalars, const int* __restrict__ skip_flag,
                        const double* __restrict__ tensor_state, const long long* __restrict__ geometry,
                        const float* __restrict__ scratch, float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    element_pass<false, true, false>({chunks, num_chunks, tensor_group}, w, g, v, nullptr, scalars, tensor_state,
                                     nullptr, geometry, scratch, slow, alpha);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adafactor_momentum_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ v,
                       float* __restrict__ exp_avg, const ChunkDesc* __restrict__ chunks, int num_chunks,
                       const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                       const int* __restrict__ skip_flag, const double* __restrict__ tensor_state,
                       const long long* __restrict__ geometry, const float* __restrict__ scratch) {
    if (*skip_flag != 0) return;
    element_pass<false, false, true>({chunks, num_chunks, tensor_group}, w, g, v, exp_avg, scalars, tensor_state,
                                     nullptr, geometry, scratch, nullptr, 0.0f);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
adafactor_momentum_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ v,
                                 float* __restrict__ exp_avg, const ChunkDesc* __restrict__ chunks, int num_chunks,
                                 const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                                 const int* __restrict__ skip_flag, const double* __restrict__ tensor_state,
                                 const long long* __restrict__ geometry, const float* __restrict__ scratch,
                                 float* __restrict__ slow, float alpha) {
    if (*skip_flag != 0) return;
    element_pass<false, true, true>({chunks, num_chunks, tensor_group}, w, g, v, exp_avg, scalars, tensor_state,
                                    nullptr, geometry, scratch, slow, alpha);
}

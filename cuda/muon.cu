// Muon: the prepare pass (momentum, X and its squares), the per-tensor norm, the Newton-Schulz stages (normalise,
// A = X X^T, B = b A + c A A, Y = a X + B X) as one entry launched once per stage, and the update entries with and
// without a Lookahead sync.
#include "fusedopt/launch.cuh"
#include "fusedopt/lookahead.cuh"
#include "fusedopt/muon.cuh"
#include "fusedopt/reduce.cuh"

using namespace fusedopt;

namespace {

typedef MuonGeometry G;

__device__ __forceinline__ const long long* geometry_of(const long long* geometry, long long t) {
    return geometry + t * G::WIDTH;
}

// The element passes, walked with the element's index in its tensor (for its place in X).
template <bool PREPARE, bool LOOKAHEAD>
struct ElementPass {
    float* w;
    const float* g;
    float* m;
    float* v;
    float* scratch;
    const long long* geo;
    MuonScalars s;
    long long result;
    float scale;
    float* slow;
    float alpha;
    Lanes acc;

    template <int N>
    __device__ __forceinline__ void apply(long long i, int lane) {
#pragma unroll
        for (int c = 0; c < N; ++c) {
            const long long x = i + c;
            const long long e = x - geo[G::OFFSET];
            if constexpr (PREPARE) {
                float mu = m[x];
                const float mm = mu_prepare(g[x], mu, s);
                m[x] = mu;
                scratch[geo[G::SCRATCH] + mu_x_index(geo, e)] = mm;
                acc.a[lane + c] = fmaf(mm, mm, acc.a[lane + c]);
            } else {
                float wi = w[x];
                if (geo[G::ORTHO] != 0) {
                    mu_update_matrix(wi, scratch[geo[G::SCRATCH] + result + mu_x_index(geo, e)], scale, s);
                } else {
                    float mi = m[x];
                    float vi = v[geo[G::SIDE] + e];
                    mu_update_adam(wi, g[x], mi, vi, s);
                    m[x] = mi;
                    v[geo[G::SIDE] + e] = vi;
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

template <bool PREPARE, bool LOOKAHEAD>
__device__ __forceinline__ void element_pass(const Arena& arena, float* w, const float* g, float* m, float* v,
                                             const float* scalars, float* partials, const long long* geometry,
                                             float* scratch, float* slow, float alpha) {
    for_each_chunk(arena, [&](const ChunkRef& ch) {
        const long long* geo = geometry_of(geometry, ch.tensor);
        const MuonScalars s = group_scalars<MuonScalars>(scalars, ch.group);
        const long long result = geo[G::RESULT];
        const float scale = (float) __longlong_as_double(geo[G::SCALE]);
        ElementPass<PREPARE, LOOKAHEAD> op{w, g, m, v, scratch, geo, s, result, scale, slow, alpha, Lanes{}};
        if (!PREPARE || geo[G::ORTHO] != 0) {
            walk_chunk(ch, op);
        }
        if constexpr (PREPARE) {
            store_chunk_sums(op.acc, partials, arena.num_chunks, ch.index);
        }
    });
}

// The job holding tile u of a stage: the last job whose first tile of the stage is at most u.
__device__ __forceinline__ int job_of_tile(const long long* jobs, int num_jobs, int stage, long long u) {
    int lo = 0, hi = num_jobs - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (jobs[(long long) mid * MuonJob::WIDTH + MuonJob::FIRST + stage] <= u) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return lo;
}

}  // namespace

extern "C" __global__ void __launch_bounds__(BLOCK)
muon_prepare_f32(const float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                 float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks, int num_chunks,
                 const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                 const int* __restrict__ skip_flag, float* __restrict__ partials,
                 const long long* __restrict__ geometry, float* __restrict__ scratch) {
    if (*skip_flag != 0) return;
    element_pass<true, false>({chunks, num_chunks, tensor_group}, const_cast<float*>(w), g, exp_avg, exp_avg_sq,
                              scalars, partials, geometry, scratch, nullptr, 0.0f);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
muon_finalize(const float* __restrict__ partials, int num_chunks, const int* __restrict__ first_chunk,
              const int* __restrict__ tensor_group, int num_tensors, const double* __restrict__ finish_scalars,
              const int* __restrict__ skip_flag, double* __restrict__ tensor_state,
              const long long* __restrict__ geometry) {
    (void) geometry;
    if (*skip_flag != 0) return;
    // One warp per tensor, as LAMB's finalize: Muon.finishTensor, ||M|| + eps.
    for_each_tensor_by_warp(num_tensors, [&](long long t) {
        const TensorSums sums = warp_tensor_sums(partials, num_chunks, first_chunk, t);
        if (threadIdx.x % WARP == 0) {
            tensor_state[t] = sqrt(sums.a) + finish_scalars[tensor_group[t]];
        }
    });
}

// One launch per stage: 0 normalises X (256 elements per tile); 1 A = X X^T; 2 B = b A + c A A; 3 Y = a X + B X;
// parity swaps X and Y. Each output element sums k = 0 .. K-1 in increasing order with fmaf from +0 (MuonGemm).
extern "C" __global__ void __launch_bounds__(BLOCK)
muon_ns_f32(float* __restrict__ scratch, const long long* __restrict__ jobs, int num_jobs,
            const float* __restrict__ scalars, const double* __restrict__ tensor_state,
            const int* __restrict__ skip_flag, int stage, int parity, int total_tiles) {
    if (*skip_flag != 0) return;
    __shared__ float ls[MUON_TILE][MUON_TILE + 1];
    __shared__ float rs[MUON_TILE][MUON_TILE + 1];
    const int tx = threadIdx.x % MUON_TILE, ty = threadIdx.x / MUON_TILE;
    for (long long u = blockIdx.x; u < total_tiles; u += gridDim.x) {
        const int jb = job_of_tile(jobs, num_jobs, stage, u);
        const long long* job = jobs + (long long) jb * MuonJob::WIDTH;
        const long long local = u - job[MuonJob::FIRST + stage];
        const long long r = job[MuonJob::ROWS], c = job[MuonJob::COLS];
        float* base = scratch + job[MuonJob::SCRATCH];
        float* x = base + (parity != 0 ? r * c : 0);
        float* y = base + (parity != 0 ? 0 : r * c);
        float* a = base + 2 * r * c;
        float* b = a + r * r;
        const MuonScalars s = group_scalars<MuonScalars>(scalars, (int) job[MuonJob::GROUP]);
        if (stage == 0) {
            const long long e = local * BLOCK + threadIdx.x;
            if (e < r * c) {
                x[e] = x[e] / (float) tensor_state[job[MuonJob::TENSOR]];
            }
            continue;
        }
        // Stage 1: out A (r x r), L = X (r x c), R[k][j] = X[j][k], K = c. Stage 2: out B, L = R = A, K = r.
        // Stage 3: out Y (r x c), L = B, R = X, K = r.
        const long long n = stage == 3 ? c : r;
        const long long kdim = stage == 1 ? c : r;
        const long long tiles_per_row = (n + MUON_TILE - 1) / MUON_TILE;
        const long long i0 = (local / tiles_per_row) * MUON_TILE, j0 = (local % tiles_per_row) * MUON_TILE;
        const float* lm = stage == 1 ? x : stage == 2 ? a : b;
        float acc = 0.0f;
        for (long long k0 = 0; k0 < kdim; k0 += MUON_TILE) {
            const long long li = i0 + ty, lk = k0 + tx;
            ls[ty][tx] = li < r && lk < kdim ? lm[li * kdim + lk] : 0.0f;
            const long long rk = k0 + ty, rj = j0 + tx;
            float rv = 0.0f;
            if (rk < kdim && rj < n) {
                rv = stage == 1 ? x[rj * c + rk] : stage == 2 ? a[rk * r + rj] : x[rk * c + rj];
            }
            rs[ty][tx] = rv;
            __syncthreads();
            const int kn = kdim - k0 < MUON_TILE ? (int) (kdim - k0) : MUON_TILE;
            for (int kk = 0; kk < kn; ++kk) {
                acc = fmaf(ls[ty][kk], rs[kk][tx], acc);
            }
            __syncthreads();
        }
        const long long i = i0 + ty, j = j0 + tx;
        if (i < r && j < n) {
            if (stage == 1) {
                a[i * r + j] = 1.0f * acc;
            } else if (stage == 2) {
                b[i * r + j] = fmaf(s.cc, acc, s.cb * a[i * r + j]);
            } else {
                y[i * c + j] = fmaf(1.0f, acc, s.ca * x[i * c + j]);
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(BLOCK)
muon_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
         float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks, int num_chunks,
         const int* __restrict__ tensor_group, const float* __restrict__ scalars, const int* __restrict__ skip_flag,
         const double* __restrict__ tensor_state, const long long* __restrict__ geometry,
         float* __restrict__ scratch) {
    (void) tensor_state;
    if (*skip_flag != 0) return;
    element_pass<false, false>({chunks, num_chunks, tensor_group}, w, g, exp_avg, exp_avg_sq, scalars, nullptr,
                               geometry, scratch, nullptr, 0.0f);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
muon_lookahead_f32(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ exp_avg,
                   float* __restrict__ exp_avg_sq, const ChunkDesc* __restrict__ chunks, int num_chunks,
                   const int* __restrict__ tensor_group, const float* __restrict__ scalars,
                   const int* __restrict__ skip_flag, const double* __restrict__ tensor_state,
                   const long long* __restrict__ geometry, float* __restrict__ scratch, float* __restrict__ slow,
                   float alpha) {
    (void) tensor_state;
    if (*skip_flag != 0) return;
    element_pass<false, true>({chunks, num_chunks, tensor_group}, w, g, exp_avg, exp_avg_sq, scalars, nullptr,
                              geometry, scratch, slow, alpha);
}

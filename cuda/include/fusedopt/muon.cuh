// Muon per element, per matrix product and per tensor; io.fusedopt.rule.Muon and io.fusedopt.rule.MuonGemm are the
// reference and their class comments list the operation order.
#ifndef FUSEDOPT_MUON_CUH
#define FUSEDOPT_MUON_CUH

#include <math.h>

namespace fusedopt {

// The float scalars of a group (Muon's indices).
struct MuonScalars {
    static constexpr int K = 20;
    float beta, omb, kmu, kg;
    bool nesterov;
    float ca, cb, cc, lr, wd, b1, omb1, b2, omb2, kam, kag, bc2, eps_root, eps, awd;

    __host__ __device__ static MuonScalars load(const float* p) {
        return MuonScalars{p[0],  p[1],  p[2],  p[3],  p[4] != 0.0f, p[5],  p[6],  p[7],  p[8],  p[9],
                           p[10], p[11], p[12], p[13], p[14],        p[15], p[16], p[17], p[18], p[19]};
    }
};

// One row of the geometry table (Rule.GEOMETRY_* and Muon's indices).
struct MuonGeometry {
    static constexpr int WIDTH = 14;
    enum : int {
        OFFSET = 0, SIDE = 1, SCRATCH = 2, ORTHO = 5, FAN_IN = 6, FAN_OUT = 7, TRANSPOSED = 8, ROWS = 9, COLS = 10,
        SCALE = 11, N = 12, RESULT = 13
    };
};

// One row of the job table of the Newton-Schulz launches (Muon.nsJobs): a matrix and its first tile per stage.
struct MuonJob {
    static constexpr int WIDTH = 9;
    enum : int { GROUP = 0, ROWS = 1, COLS = 2, SCRATCH = 3, TENSOR = 4, FIRST = 5 };
};

// Output tiles of the matrix products are TILE x TILE, one thread per element (Muon.GEMM_TILE).
constexpr int MUON_TILE = 16;

// q = n / d, r = n % d for 0 <= n < 2^53, d >= 1, through a double division and an exact correction.
__host__ __device__ inline void mu_divmod(long long n, long long d, long long& q, long long& r) {
    q = (long long) ((double) n / (double) d);
    r = n - q * d;
    if (r < 0) {
        q -= 1;
        r += d;
    } else if (r >= d) {
        q += 1;
        r -= d;
    }
}

// Muon.xIndex: where element e of the matrix lies in X.
__host__ __device__ inline long long mu_x_index(const long long* geo, long long e) {
    typedef MuonGeometry G;
    if (geo[G::TRANSPOSED] == 0) {
        return e;
    }
    long long i, j;
    if (geo[G::N] <= 0xffffffffLL) {
        const unsigned fo = (unsigned) geo[G::FAN_OUT];
        i = (unsigned) e / fo;
        j = (unsigned) e % fo;
    } else {
        mu_divmod(e, geo[G::FAN_OUT], i, j);
    }
    return j * geo[G::FAN_IN] + i;
}

// The prepare pass of one matrix element: the momentum, then M.
__host__ __device__ inline float mu_prepare(float g, float& mu, const MuonScalars& s) {
    mu = fmaf(s.beta, mu, s.omb * g);
    return s.nesterov ? fmaf(s.kmu, mu, s.kg * g) : mu * s.kmu;
}

// The update of one matrix element from its orthogonalised value o.
__host__ __device__ inline void mu_update_matrix(float& w, float o, float scale, const MuonScalars& s) {
    const float u = fmaf(s.wd, w, scale * o);
    w = fmaf(-s.lr, u, w);
}

// The AdamW step of one element of a tensor that is not a matrix.
__host__ __device__ inline void mu_update_adam(float& w, float g, float& m, float& v, const MuonScalars& s) {
    // The two moments as Moments.first and Moments.second (and moments.cuh) write them.
    m = fmaf(s.b1, m, s.omb1 * g);
    v = fmaf(s.b2, v, (s.omb2 * g) * g);
    const float mm = s.nesterov ? fmaf(s.kam, m, s.kag * g) : m * s.kam;
    float u = mm / (sqrtf(v / s.bc2 + s.eps_root) + s.eps);
    u = fmaf(s.awd, w, u);
    w = fmaf(-s.lr, u, w);
}

}  // namespace fusedopt

#endif  // FUSEDOPT_MUON_CUH

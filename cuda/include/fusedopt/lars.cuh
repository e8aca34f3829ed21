// LARS per element and its per-tensor trust ratio; io.fusedopt.rule.Lars is the reference.
#ifndef FUSEDOPT_LARS_CUH
#define FUSEDOPT_LARS_CUH

#include <math.h>

namespace fusedopt {

struct LarsScalars {
    static constexpr int WD = 0, MU = 1, NESTEROV = 2, LR = 3, K = 4;
    float wd, mu;
    bool nesterov;
    float lr;

    __host__ __device__ static LarsScalars load(const float* p) {
        return LarsScalars{p[WD], p[MU], p[NESTEROV] != 0.0f, p[LR]};
    }
};

// The finish scalars of a group, in doubles: [tc, eps, trust_ratio (0/1)].
struct LarsFinish {
    static constexpr int K = 3;
    double tc, eps, enabled;

    __host__ __device__ static LarsFinish load(const double* p) {
        return LarsFinish{p[0], p[1], p[2]};
    }
};

// The direction d = g + wd w; the norm pass and the update both call this.
__host__ __device__ inline float lars_direction(float w, float g, const LarsScalars& s) {
    return s.wd != 0.0f ? fmaf(s.wd, w, g) : g;
}

__host__ __device__ inline void lars_norm_terms(float w, float g, const LarsScalars& s, float& ww, float& dd) {
    const float d = lars_direction(w, g, s);
    ww = fmaf(w, w, ww);
    dd = fmaf(d, d, dd);
}

// The tensor's step: the trust ratio is rounded to float before it scales the learning rate.
__host__ __device__ inline float lars_neg_step(const LarsScalars& s, double trust) {
    return -(s.lr * (float) trust);
}

__host__ __device__ inline void lars_update(float& w, float g, float& b, float neg_step, const LarsScalars& s) {
    const float u = neg_step * lars_direction(w, g, s);
    b = fmaf(s.mu, b, u);
    w = w + (s.nesterov ? fmaf(s.mu, b, u) : b);
}

// Lars.finishTensor: the trust ratio from the tensor's sums of w*w and d*d.
__host__ __device__ inline double lars_trust(double sum_ww, double sum_dd, const LarsFinish& f) {
    const double wn = sqrt(sum_ww), dn = sqrt(sum_dd);
    return f.enabled != 0.0 && wn > 0 && dn > 0 ? f.tc * wn / (dn + f.eps) : 1.0;
}

}  // namespace fusedopt

#endif  // FUSEDOPT_LARS_CUH

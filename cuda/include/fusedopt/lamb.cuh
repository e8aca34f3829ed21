// LAMB per element and its per-tensor trust ratio; io.fusedopt.rule.Lamb is the reference.
#ifndef FUSEDOPT_LAMB_CUH
#define FUSEDOPT_LAMB_CUH

#include "fusedopt/float_ops.cuh"

namespace fusedopt {

struct LambScalars {
    static constexpr int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, EPS = 4, WD = 5, BC1 = 6, BC2 = 7, LR = 8, K = 9;
    float b1, omb1, b2, omb2, eps, wd, bc1, bc2, lr;

    __host__ __device__ static LambScalars load(const float* p) {
        LambScalars s;
        s.b1 = p[B1];
        s.omb1 = p[OMB1];
        s.b2 = p[B2];
        s.omb2 = p[OMB2];
        s.eps = p[EPS];
        s.wd = p[WD];
        s.bc1 = p[BC1];
        s.bc2 = p[BC2];
        s.lr = p[LR];
        return s;
    }
};

// Advances m and v and returns the update direction r. The norm pass and the update both call this, so the r
// whose norm sets the trust ratio is bit for bit the r that is applied.
__host__ __device__ inline float lamb_direction(float w, float g, float& m, float& v, const LambScalars& s) {
    m = fmaf(s.b1, m, s.omb1 * g);
    v = fmaf(s.b2, v, (s.omb2 * g) * g);
    float r = (m / s.bc1) / (sqrtf(v / s.bc2) + s.eps);
    if (s.wd != 0.0f) {
        r = fmaf(s.wd, w, r);
    }
    return r;
}

// The norm pass: m and v are taken by value because this pass changes no buffer.
__host__ __device__ inline void lamb_norm_terms(float w, float g, float m, float v, const LambScalars& s, float& ww,
                                                float& rr) {
    const float r = lamb_direction(w, g, m, v, s);
    ww = fmaf(w, w, ww);
    rr = fmaf(r, r, rr);
}

// The tensor's step: the trust ratio is rounded to float before it scales the learning rate.
__host__ __device__ inline float lamb_neg_step(const LambScalars& s, double trust) {
    return -(s.lr * (float) trust);
}

__host__ __device__ inline void lamb_update(float& w, float g, float& m, float& v, float neg_step,
                                           const LambScalars& s) {
    const float r = lamb_direction(w, g, m, v, s);
    w = fmaf(neg_step, r, w);
}

// Lamb.finishTensor: the trust ratio from the tensor's sums of w*w and r*r.
__host__ __device__ inline double lamb_trust(double sum_ww, double sum_rr) {
    const double wn = sqrt(sum_ww), rn = sqrt(sum_rr);
    return (wn > 0 && rn > 0) ? wn / rn : 1.0;
}

}  // namespace fusedopt

#endif  // FUSEDOPT_LAMB_CUH

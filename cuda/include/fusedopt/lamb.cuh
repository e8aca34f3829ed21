// LAMB per element and its per-tensor trust ratio; io.fusedopt.rule.Lamb is the reference.
#ifndef FUSEDOPT_LAMB_CUH
#define FUSEDOPT_LAMB_CUH

#include "fusedopt/float_ops.cuh"
#include "fusedopt/moments.cuh"

namespace fusedopt {

struct LambScalars : Moments {
    static constexpr int BC1 = 6, BC2 = 7, LR = 8, K = 9;
    float bc1, bc2, lr;

    __host__ __device__ static LambScalars load(const float* p) {
        LambScalars s{Moments::load(p)};
        s.bc1 = p[BC1];
        s.bc2 = p[BC2];
        s.lr = p[LR];
        return s;
    }
};

// Advances m and v and returns the update direction r. The norm pass and the update both call this, so the r
// whose norm sets the trust ratio is bit for bit the r that is applied.
__host__ __device__ inline float lamb_direction(float w, float g, float& m, float& v, const LambScalars& s) {
    m = first_moment(m, g, s);
    v = second_moment(v, g, s);
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

// Lamb.finishTensor: the trust ratio from the tensor's sums of w*w and r*r; a NaN norm gives NaN, not 1.
__host__ __device__ inline double lamb_trust(double sum_ww, double sum_rr) {
    const double wn = sqrt(sum_ww), rn = sqrt(sum_rr);
    return (wn == 0 || rn == 0) ? 1.0 : wn / rn;
}

}  // namespace fusedopt

#endif  // FUSEDOPT_LAMB_CUH

// Adan per element; io.fusedopt.rule.Adan is the reference.
#ifndef FUSEDOPT_ADAN_CUH
#define FUSEDOPT_ADAN_CUH

#include <math.h>

namespace fusedopt {

struct AdanScalars {
    static constexpr int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, B3 = 4, OMB3 = 5, BC1 = 6, B2_BC2 = 7, BC3 = 8,
                         EPS_ROOT = 9, EPS = 10, DECAY = 11, NEG_LR = 12, FIRST = 13, K = 14;
    float b1, omb1, b2, omb2, b3, omb3, bc1, b2_bc2, bc3, eps_root, eps, decay, neg_lr;
    bool first;

    __host__ __device__ static AdanScalars load(const float* p) {
        return AdanScalars{p[B1],  p[OMB1],     p[B2],  p[OMB2],  p[B3],     p[OMB3],         p[BC1],
                           p[B2_BC2], p[BC3], p[EPS_ROOT], p[EPS], p[DECAY], p[NEG_LR], p[FIRST] != 0.0f};
    }
};

// The gradient difference is 0 at the first step, whatever the previous-gradient slot holds.
__host__ __device__ inline void adan_update(float& w, float g, float& m, float& v, float& n, float& gp,
                                            const AdanScalars& s) {
    const float d = s.first ? 0.0f : g - gp;
    m = fmaf(s.b1, m, s.omb1 * g);
    v = fmaf(s.b2, v, s.omb2 * d);
    const float q = fmaf(s.b2, d, g);
    n = fmaf(s.b3, n, (s.omb3 * q) * q);
    const float num = fmaf(s.b2_bc2, v, m / s.bc1);
    const float den = sqrtf(n / s.bc3 + s.eps_root) + s.eps;
    w = fmaf(s.neg_lr, num / den, w * s.decay);
    gp = g;
}

}  // namespace fusedopt

#endif  // FUSEDOPT_ADAN_CUH

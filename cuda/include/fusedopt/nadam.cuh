// NAdam per element; io.fusedopt.rule.NAdam is the reference.
#ifndef FUSEDOPT_NADAM_CUH
#define FUSEDOPT_NADAM_CUH

#include "fusedopt/float_ops.cuh"

namespace fusedopt {

struct NAdamScalars {
    static constexpr int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, EPS = 4, WD = 5, NEG_C1 = 6, NEG_C2 = 7, SQRT_BC2 = 8,
                         K = 9;
    float b1, omb1, b2, omb2, eps, wd, neg_c1, neg_c2, sqrt_bc2;

    __host__ __device__ static NAdamScalars load(const float* p) {
        NAdamScalars s;
        s.b1 = p[B1];
        s.omb1 = p[OMB1];
        s.b2 = p[B2];
        s.omb2 = p[OMB2];
        s.eps = p[EPS];
        s.wd = p[WD];
        s.neg_c1 = p[NEG_C1];
        s.neg_c2 = p[NEG_C2];
        s.sqrt_bc2 = p[SQRT_BC2];
        return s;
    }
};

__host__ __device__ inline void nadam_update(float& w, float g, float& m, float& v, const NAdamScalars& s) {
    const float gi = s.wd != 0.0f ? fmaf(s.wd, w, g) : g;
    m = fmaf(s.b1, m, s.omb1 * gi);
    v = fmaf(s.b2, v, (s.omb2 * gi) * gi);
    const float d = sqrtf(v) / s.sqrt_bc2 + s.eps;
    // The gradient term lands first: two roundings, in the order of the Java rule.
    w = fmaf(s.neg_c2, m / d, fmaf(s.neg_c1, gi / d, w));
}

}  // namespace fusedopt

#endif  // FUSEDOPT_NADAM_CUH

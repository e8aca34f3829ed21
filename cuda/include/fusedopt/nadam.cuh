// NAdam per element; io.fusedopt.rule.NAdam is the reference.
#ifndef FUSEDOPT_NADAM_CUH
#define FUSEDOPT_NADAM_CUH

#include "fusedopt/float_ops.cuh"
#include "fusedopt/moments.cuh"

namespace fusedopt {

struct NAdamScalars : Moments {
    static constexpr int NEG_C1 = 6, NEG_C2 = 7, SQRT_BC2 = 8, K = 9;
    float neg_c1, neg_c2, sqrt_bc2;

    __host__ __device__ static NAdamScalars load(const float* p) {
        NAdamScalars s{Moments::load(p)};
        s.neg_c1 = p[NEG_C1];
        s.neg_c2 = p[NEG_C2];
        s.sqrt_bc2 = p[SQRT_BC2];
        return s;
    }
};

__host__ __device__ inline void nadam_update(float& w, float g, float& m, float& v, const NAdamScalars& s) {
    const float gi = s.wd != 0.0f ? fmaf(s.wd, w, g) : g;
    m = first_moment(m, gi, s);
    v = second_moment(v, gi, s);
    const float d = sqrtf(v) / s.sqrt_bc2 + s.eps;
    // The gradient term lands first: two roundings, in the order of the Java rule.
    w = fmaf(s.neg_c2, m / d, fmaf(s.neg_c1, gi / d, w));
}

}  // namespace fusedopt

#endif  // FUSEDOPT_NADAM_CUH

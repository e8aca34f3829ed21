// RAdam per element; io.fusedopt.rule.RAdam is the reference.
#ifndef FUSEDOPT_RADAM_CUH
#define FUSEDOPT_RADAM_CUH

#include "fusedopt/float_ops.cuh"

namespace fusedopt {

struct RAdamScalars {
    static constexpr int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, EPS = 4, WD = 5, RECT = 6, NEG_C = 7, K = 8;
    float b1, omb1, b2, omb2, eps, wd, neg_c;
    bool rect;

    __host__ __device__ static RAdamScalars load(const float* p) {
        RAdamScalars s;
        s.b1 = p[B1];
        s.omb1 = p[OMB1];
        s.b2 = p[B2];
        s.omb2 = p[OMB2];
        s.eps = p[EPS];
        s.wd = p[WD];
        s.rect = scalar_flag(p[RECT]);
        s.neg_c = p[NEG_C];
        return s;
    }
};

__host__ __device__ inline void radam_update(float& w, float g, float& m, float& v, const RAdamScalars& s) {
    const float gi = s.wd != 0.0f ? fmaf(s.wd, w, g) : g;
    m = fmaf(s.b1, m, s.omb1 * gi);
    v = fmaf(s.b2, v, (s.omb2 * gi) * gi);
    w = s.rect ? fmaf(s.neg_c, m / (sqrtf(v) + s.eps), w) : fmaf(s.neg_c, m, w);
}

}  // namespace fusedopt

#endif  // FUSEDOPT_RADAM_CUH

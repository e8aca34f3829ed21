// AdaBound and AMSBound per element; io.fusedopt.rule.AdaBound is the reference.
#ifndef FUSEDOPT_ADABOUND_CUH
#define FUSEDOPT_ADABOUND_CUH

#include "fusedopt/float_ops.cuh"

namespace fusedopt {

struct AdaBoundScalars {
    static constexpr int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, EPS = 4, WD = 5, STEP = 6, LO = 7, HI = 8, K = 9;
    float b1, omb1, b2, omb2, eps, wd, step, lo, hi;

    __host__ __device__ static AdaBoundScalars load(const float* p) {
        AdaBoundScalars s;
        s.b1 = p[B1];
        s.omb1 = p[OMB1];
        s.b2 = p[B2];
        s.omb2 = p[OMB2];
        s.eps = p[EPS];
        s.wd = p[WD];
        s.step = p[STEP];
        s.lo = p[LO];
        s.hi = p[HI];
        return s;
    }
};

// vmax is untouched without AMSBOUND.
template <bool AMSBOUND>
__host__ __device__ inline void adabound_update(float& w, float g, float& m, float& v, float& vmax,
                                                const AdaBoundScalars& s) {
    const float gi = s.wd != 0.0f ? fmaf(s.wd, w, g) : g;
    m = fmaf(s.b1, m, s.omb1 * gi);
    v = fmaf(s.b2, v, (s.omb2 * gi) * gi);
    float big = v;
    if constexpr (AMSBOUND) {
        big = fo_max(v, vmax);
        vmax = big;
    }
    const float x = fo_min(fo_max(s.step / (sqrtf(big) + s.eps), s.lo), s.hi);
    w = fmaf(-x, m, w);
}

}  // namespace fusedopt

#endif  // FUSEDOPT_ADABOUND_CUH

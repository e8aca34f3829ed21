// AdaBound and AMSBound per element; io.fusedopt.rule.AdaBound is the reference.
#ifndef FUSEDOPT_ADABOUND_CUH
#define FUSEDOPT_ADABOUND_CUH

#include "fusedopt/float_ops.cuh"
#include "fusedopt/moments.cuh"

namespace fusedopt {

struct AdaBoundScalars : Moments {
    static constexpr int STEP = 6, LO = 7, HI = 8, K = 9;
    float step, lo, hi;

    __host__ __device__ static AdaBoundScalars load(const float* p) {
        AdaBoundScalars s{Moments::load(p)};
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
    m = first_moment(m, gi, s);
    v = second_moment(v, gi, s);
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

// Adam and AdamW per element, with the optional AMSGrad maximum; io.fusedopt.rule.Adam is the reference.
#ifndef FUSEDOPT_ADAM_CUH
#define FUSEDOPT_ADAM_CUH

#include "fusedopt/float_ops.cuh"
#include "fusedopt/moments.cuh"

namespace fusedopt {

struct AdamScalars : Moments {
    static constexpr int DECAY = 6, NEG_STEP = 7, SQRT_BC2 = 8, K = 9;
    float decay, neg_step, sqrt_bc2;

    __host__ __device__ static AdamScalars load(const float* p) {
        AdamScalars s{Moments::load(p)};
        s.decay = p[DECAY];
        s.neg_step = p[NEG_STEP];
        s.sqrt_bc2 = p[SQRT_BC2];
        return s;
    }
};

// vmax is untouched without AMSGRAD.
template <bool DECOUPLED, bool AMSGRAD>
__host__ __device__ inline void adam_update(float& w, float g, float& m, float& v, float& vmax, const AdamScalars& s) {
    const float wi = DECOUPLED ? w * s.decay : w;
    const float gi = (!DECOUPLED && s.wd != 0.0f) ? fmaf(s.wd, wi, g) : g;
    m = first_moment(m, gi, s);
    v = second_moment(v, gi, s);
    float big = v;
    if constexpr (AMSGRAD) {
        big = fo_max(v, vmax);
        vmax = big;
    }
    w = fmaf(s.neg_step, m / (sqrtf(big) / s.sqrt_bc2 + s.eps), wi);
}

}  // namespace fusedopt

#endif  // FUSEDOPT_ADAM_CUH

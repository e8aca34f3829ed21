// SGD and SGDW per element; io.fusedopt.rule.Sgd is the reference.
#ifndef FUSEDOPT_SGD_CUH
#define FUSEDOPT_SGD_CUH

#include "fusedopt/float_ops.cuh"

namespace fusedopt {

struct SgdScalars {
    static constexpr int NEG_LR = 0, WD = 1, DECAY = 2, MU = 3, OMD = 4, FIRST = 5, NESTEROV = 6, K = 7;
    float neg_lr, wd, decay, mu, omd;
    bool first, nesterov;

    __host__ __device__ static SgdScalars load(const float* p) {
        SgdScalars s;
        s.neg_lr = p[NEG_LR];
        s.wd = p[WD];
        s.decay = p[DECAY];
        s.mu = p[MU];
        s.omd = p[OMD];
        s.first = scalar_flag(p[FIRST]);
        s.nesterov = scalar_flag(p[NESTEROV]);
        return s;
    }
};

// buf is the momentum buffer; untouched without MOMENTUM.
template <bool DECOUPLED, bool MOMENTUM>
__host__ __device__ inline void sgd_update(float& w, float g, float& buf, const SgdScalars& s) {
    // fma(0, w, g) is not g for w = inf or g = -0, so a zero decay must skip the fma, as in Java.
    float d = (!DECOUPLED && s.wd != 0.0f) ? fmaf(s.wd, w, g) : g;
    if constexpr (MOMENTUM) {
        const float b = s.first ? d : fmaf(s.mu, buf, s.omd * d);
        buf = b;
        d = s.nesterov ? fmaf(s.mu, b, d) : b;
    }
    w = DECOUPLED ? fmaf(s.neg_lr, d, w * s.decay) : fmaf(s.neg_lr, d, w);
}

}  // namespace fusedopt

#endif  // FUSEDOPT_SGD_CUH

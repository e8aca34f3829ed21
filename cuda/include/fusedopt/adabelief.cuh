// AdaBelief per element, with the optional AMSGrad maximum; io.fusedopt.rule.AdaBelief is the reference.
#ifndef FUSEDOPT_ADABELIEF_CUH
#define FUSEDOPT_ADABELIEF_CUH

#include "fusedopt/float_ops.cuh"
#include "fusedopt/moments.cuh"

namespace fusedopt {

struct AdaBeliefScalars : Moments {
    static constexpr int DECAY = 6, MODE = 7, NEG_C = 8, SQRT_BC2 = 9, K = 10;
    // What the step does with the moments, chosen per group and step on the host.
    static constexpr int ADAM = 0, RECTIFIED = 1, SGD = 2, NONE = 3;
    float decay, neg_c, sqrt_bc2;
    int mode;

    __host__ __device__ static AdaBeliefScalars load(const float* p) {
        AdaBeliefScalars s{Moments::load(p)};
        s.decay = p[DECAY];
        s.mode = (int) p[MODE];
        s.neg_c = p[NEG_C];
        s.sqrt_bc2 = p[SQRT_BC2];
        return s;
    }
};

// smax is untouched without AMSGRAD.
template <bool AMSGRAD>
__host__ __device__ inline void adabelief_update(float& w, float g, float& m, float& s, float& smax,
                                                 const AdaBeliefScalars& c) {
    // The rule scales by decay only when decoupled, and decay is exactly 1 otherwise; w * 1 is w for every w but
    // a NaN's payload, so one form serves both and the kernel needs no decoupling flag. Decoupled groups carry
    // wd = 0, so the L2 term below is skipped for them as in Java.
    float wi = w * c.decay;
    const float gi = c.wd != 0.0f ? fmaf(c.wd, wi, g) : g;
    m = first_moment(m, gi, c);
    const float d = gi - m;
    s = second_moment(s, d, c) + c.eps;
    float big = s;
    if constexpr (AMSGRAD) {
        big = fo_max(s, smax);
        smax = big;
    }
    if (c.mode == AdaBeliefScalars::ADAM) {
        wi = fmaf(c.neg_c, m / (sqrtf(big) / c.sqrt_bc2 + c.eps), wi);
    } else if (c.mode == AdaBeliefScalars::RECTIFIED) {
        wi = fmaf(c.neg_c, m / (sqrtf(big) + c.eps), wi);
    } else if (c.mode == AdaBeliefScalars::SGD) {
        wi = fmaf(c.neg_c, m, wi);
    }
    w = wi;
}

}  // namespace fusedopt

#endif  // FUSEDOPT_ADABELIEF_CUH

// Lion per element; io.fusedopt.rule.Lion is the reference.
#ifndef FUSEDOPT_LION_CUH
#define FUSEDOPT_LION_CUH

#include "fusedopt/float_ops.cuh"

namespace fusedopt {

struct LionScalars {
    static constexpr int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, DECAY = 4, NEG_LR = 5, K = 6;
    float b1, omb1, b2, omb2, decay, neg_lr;

    __host__ __device__ static LionScalars load(const float* p) {
        return LionScalars{p[B1], p[OMB1], p[B2], p[OMB2], p[DECAY], p[NEG_LR]};
    }
};

// sign(c) as an exact clamp: |c| >= 2^-149 for every non-zero float, so (c 2^100) 2^49 reaches +-1; +-0 and NaN
// pass through, as Math.signum does.
__host__ __device__ inline float lion_sign(float c) {
    return fo_min(fo_max((c * 0x1p100f) * 0x1p49f, -1.0f), 1.0f);
}

// Both interpolations are moments.cuh's first-moment form, fma(b, m, (1-b) g), once with b1 and once with b2.
__host__ __device__ inline void lion_update(float& w, float g, float& m, const LionScalars& s) {
    const float dir = lion_sign(fmaf(s.b1, m, s.omb1 * g));
    w = fmaf(s.neg_lr, dir, w * s.decay);
    m = fmaf(s.b2, m, s.omb2 * g);
}

}  // namespace fusedopt

#endif  // FUSEDOPT_LION_CUH

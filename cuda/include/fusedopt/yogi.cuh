// Yogi per element; io.fusedopt.rule.Yogi is the reference.
#ifndef FUSEDOPT_YOGI_CUH
#define FUSEDOPT_YOGI_CUH

#include "fusedopt/float_ops.cuh"

namespace fusedopt {

struct YogiScalars {
    static constexpr int B1 = 0, OMB1 = 1, NEG_OMB2 = 2, EPS = 3, WD = 4, NEG_STEP = 5, SQRT_BC2 = 6, K = 7;
    float b1, omb1, neg_omb2, eps, wd, neg_step, sqrt_bc2;

    __host__ __device__ static YogiScalars load(const float* p) {
        YogiScalars s;
        s.b1 = p[B1];
        s.omb1 = p[OMB1];
        s.neg_omb2 = p[NEG_OMB2];
        s.eps = p[EPS];
        s.wd = p[WD];
        s.neg_step = p[NEG_STEP];
        s.sqrt_bc2 = p[SQRT_BC2];
        return s;
    }
};

__host__ __device__ inline void yogi_update(float& w, float g, float& m, float& v, const YogiScalars& s) {
    const float gi = s.wd != 0.0f ? fmaf(s.wd, w, g) : g;
    m = fmaf(s.b1, m, s.omb1 * gi);
    const float q = gi * gi;
    // sign(v - q) * q as a clamp, as in Java (Yogi.java says why it is exact).
    const float u = fo_min(fo_max((v - q) * 0x1p26f, -q), q);
    v = fmaf(s.neg_omb2, u, v);
    w = fmaf(s.neg_step, m / (sqrtf(v) / s.sqrt_bc2 + s.eps), w);
}

}  // namespace fusedopt

#endif  // FUSEDOPT_YOGI_CUH

// Schedule-Free AdamW per element; io.fusedopt.rule.ScheduleFreeAdamW is the reference.
#ifndef FUSEDOPT_SCHEDULE_FREE_CUH
#define FUSEDOPT_SCHEDULE_FREE_CUH

#include <math.h>

namespace fusedopt {

struct ScheduleFreeScalars {
    static constexpr int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, BC2 = 4, EPS = 5, WD = 6, NEG_LR = 7, C = 8, OMC = 9,
                         FIRST = 10, K = 11;
    float b1, omb1, b2, omb2, bc2, eps, wd, neg_lr, c, omc;
    bool first;

    __host__ __device__ static ScheduleFreeScalars load(const float* p) {
        return ScheduleFreeScalars{p[B1], p[OMB1], p[B2],     p[OMB2], p[BC2], p[EPS],
                                   p[WD], p[NEG_LR], p[C], p[OMC], p[FIRST] != 0.0f};
    }
};

// y is the parameter; z starts as y at the first step, whatever the slot holds.
__host__ __device__ inline void schedule_free_adamw_update(float& y, float g, float& z, float& v,
                                                           const ScheduleFreeScalars& s) {
    const float zi = s.first ? y : z;
    v = fmaf(s.b2, v, (s.omb2 * g) * g);
    float u = g / (sqrtf(v / s.bc2) + s.eps);
    if (s.wd != 0.0f) {
        u = fmaf(s.wd, y, u);
    }
    const float zn = fmaf(s.neg_lr, u, zi);
    const float x = fmaf(-s.omb1, zi, y) / s.b1;
    const float xn = fmaf(s.c, zn, s.omc * x);
    y = fmaf(s.b1, xn, s.omb1 * zn);
    z = zn;
}

}  // namespace fusedopt

#endif  // FUSEDOPT_SCHEDULE_FREE_CUH

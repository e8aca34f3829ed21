// The scalar head and the two moment updates shared by the Adam-family rules (Adam, RAdam, NAdam, AdaBelief,
// AdaBound, LAMB, SWATS). io.fusedopt.rule.GroupedRule is the reference: momentHead writes the head, and each Java
// rule spells the two updates out in its loop, with the same operations in the same order as here.
#ifndef FUSEDOPT_MOMENTS_CUH
#define FUSEDOPT_MOMENTS_CUH

#include <math.h>

namespace fusedopt {

// [b1, 1-b1, b2, 1-b2, eps, wd] at the start of a group's scalars (GroupedRule.Moments). A rule's scalars derive
// from this struct and place their own fields from index 6 on.
struct Moments {
    static constexpr int B1 = 0, OMB1 = 1, B2 = 2, OMB2 = 3, EPS = 4, WD = 5;
    float b1, omb1, b2, omb2, eps, wd;

    __host__ __device__ static Moments load(const float* p) {
        Moments s;
        s.b1 = p[B1];
        s.omb1 = p[OMB1];
        s.b2 = p[B2];
        s.omb2 = p[OMB2];
        s.eps = p[EPS];
        s.wd = p[WD];
        return s;
    }
};

// The first moment, m = b1 m + (1-b1) g: one product, then one fused multiply-add.
__host__ __device__ inline float first_moment(float m, float g, const Moments& s) {
    return fmaf(s.b1, m, s.omb1 * g);
}

// The second moment, v = b2 v + (1-b2) g^2, rounded as ((1-b2) g) g before the fused multiply-add. AdaBelief passes
// g - m for g.
__host__ __device__ inline float second_moment(float v, float g, const Moments& s) {
    return fmaf(s.b2, v, (s.omb2 * g) * g);
}

}  // namespace fusedopt

#endif  // FUSEDOPT_MOMENTS_CUH

// RAdam per element; io.fusedopt.rule.RAdam is the reference.
#ifndef FUSEDOPT_RADAM_CUH
#define FUSEDOPT_RADAM_CUH

#include "fusedopt/float_ops.cuh"
#include "fusedopt/moments.cuh"

namespace fusedopt {

struct RAdamScalars : Moments {
    static constexpr int RECT = 6, NEG_C = 7, K = 8;
    float neg_c;
    bool rect;

    __host__ __device__ static RAdamScalars load(const float* p) {
        RAdamScalars s{Moments::load(p)};
        s.rect = scalar_flag(p[RECT]);
        s.neg_c = p[NEG_C];
        return s;
    }
};

__host__ __device__ inline void radam_update(float& w, float g, float& m, float& v, const RAdamScalars& s) {
    const float gi = s.wd != 0.0f ? fmaf(s.wd, w, g) : g;
    m = first_moment(m, gi, s);
    v = second_moment(v, gi, s);
    w = s.rect ? fmaf(s.neg_c, m / (sqrtf(v) + s.eps), w) : fmaf(s.neg_c, m, w);
}

}  // namespace fusedopt

#endif  // FUSEDOPT_RADAM_CUH

// AdaGrad per element; io.fusedopt.rule.Adagrad is the reference.
#ifndef FUSEDOPT_ADAGRAD_CUH
#define FUSEDOPT_ADAGRAD_CUH

#include "fusedopt/float_ops.cuh"

namespace fusedopt {

struct AdagradScalars {
    static constexpr int NEG_CLR = 0, WD = 1, EPS = 2, K = 3;
    float neg_clr, wd, eps;

    __host__ __device__ static AdagradScalars load(const float* p) {
        AdagradScalars s;
        s.neg_clr = p[NEG_CLR];
        s.wd = p[WD];
        s.eps = p[EPS];
        return s;
    }
};

__host__ __device__ inline void adagrad_update(float& w, float g, float& sum, const AdagradScalars& s) {
    const float gi = s.wd != 0.0f ? fmaf(s.wd, w, g) : g;
    sum = fmaf(gi, gi, sum);
    w = fmaf(s.neg_clr, gi / (sqrtf(sum) + s.eps), w);
}

}  // namespace fusedopt

#endif  // FUSEDOPT_ADAGRAD_CUH

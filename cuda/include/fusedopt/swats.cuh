// SWATS per element and its per-tensor switch test; io.fusedopt.rule.Swats is the reference.
#ifndef FUSEDOPT_SWATS_CUH
#define FUSEDOPT_SWATS_CUH

#include "fusedopt/float_ops.cuh"
#include "fusedopt/moments.cuh"

namespace fusedopt {

struct SwatsScalars : Moments {
    static constexpr int STEP = 6, K = 7;
    float step;

    __host__ __device__ static SwatsScalars load(const float* p) {
        SwatsScalars s{Moments::load(p)};
        s.step = p[STEP];
        return s;
    }
};

// The per-tensor state, in doubles: [lambda, Lambda, phase (0 Adam, 1 SGD), coef].
struct SwatsState {
    static constexpr int LAMBDA = 0, BIG_LAMBDA = 1, PHASE = 2, COEF = 3, WIDTH = 4;
};

// The finish scalars of a group, in doubles.
struct SwatsFinish {
    static constexpr int K = 5;
    double b1, b2, bc2, eps, t;

    __host__ __device__ static SwatsFinish load(const double* p) {
        SwatsFinish f;
        f.b1 = p[0];
        f.b2 = p[1];
        f.bc2 = p[2];
        f.eps = p[3];
        f.t = p[4];
        return f;
    }
};

__host__ __device__ inline bool swats_sgd_phase(const double* state) {
    return state[SwatsState::PHASE] != 0;
}

// The SGD-phase step is rounded to float before it is negated.
__host__ __device__ inline float swats_neg_coef(const double* state) {
    return -(float) state[SwatsState::COEF];
}

// Adam phase; pp and pg accumulate p*p and p*g for the tensor's projection.
__host__ __device__ inline void swats_adam_update(float& w, float g, float& m, float& a, const SwatsScalars& s,
                                                 float& pp, float& pg) {
    const float gi = s.wd != 0.0f ? fmaf(s.wd, w, g) : g;
    m = first_moment(m, gi, s);
    a = second_moment(a, gi, s);
    const float p = -(s.step * (m / (sqrtf(a) + s.eps)));
    w = w + p;
    pp = fmaf(p, p, pp);
    pg = fmaf(p, gi, pg);
}

// SGD phase, with v the momentum buffer.
__host__ __device__ inline void swats_sgd_update(float& w, float g, float& v, float neg_coef, const SwatsScalars& s) {
    const float gi = s.wd != 0.0f ? fmaf(s.wd, w, g) : g;
    v = fmaf(s.b1, v, gi);
    w = fmaf(neg_coef, v, w);
}

// Swats.finishTensor: folds a tensor's sums of p*p and p*g into its state, in double, in the Java order.
__host__ __device__ inline void swats_finish(double pp, double pg, const SwatsFinish& f, double* state) {
    if (state[SwatsState::PHASE] != 0 || pg == 0.0) {
        return;
    }
    const double gamma = pp / -pg;
    const double lambda = f.b2 * state[SwatsState::LAMBDA] + (1.0 - f.b2) * gamma;
    const double big_lambda = lambda / f.bc2;
    state[SwatsState::LAMBDA] = lambda;
    state[SwatsState::BIG_LAMBDA] = big_lambda;
    if (f.t > 1.0 && fabs(big_lambda - gamma) < f.eps && big_lambda > 0.0) {
        state[SwatsState::PHASE] = 1.0;
        state[SwatsState::COEF] = (1.0 - f.b1) * big_lambda;
    }
}

}  // namespace fusedopt

#endif  // FUSEDOPT_SWATS_CUH

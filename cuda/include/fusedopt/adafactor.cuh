// Adafactor per element, per statistic and per tensor; io.fusedopt.rule.Adafactor is the reference and its class
// comment lists the operation order.
#ifndef FUSEDOPT_ADAFACTOR_CUH
#define FUSEDOPT_ADAFACTOR_CUH

#include <math.h>

namespace fusedopt {

// The float scalars of a group: [eps, weight_decay_rate, momentum, 1 - momentum, lr, coef from the tensor state].
struct AdafactorScalars {
    static constexpr int K = 6;
    float eps, wdr, mom, omm, lr;
    bool use_ts;

    __host__ __device__ static AdafactorScalars load(const float* p) {
        return AdafactorScalars{p[0], p[1], p[2], p[3], p[4], p[5] != 0.0f};
    }
};

// The double scalars of a group: [decay, 1 - decay, clipping threshold, parameter scale (0/1), lr, min scale].
struct AdafactorFinish {
    static constexpr int K = 6;
    double bh, omb, thr, pscale, lr, eps2;

    __host__ __device__ static AdafactorFinish load(const double* p) {
        return AdafactorFinish{p[0], p[1], p[2], p[3], p[4], p[5]};
    }
};

// One row of the geometry table (Rule.GEOMETRY_* and Adafactor's indices).
struct AdafactorGeometry {
    static constexpr int WIDTH = 16;
    enum : int {
        OFFSET = 0, SIDE = 1, SCRATCH = 2, WORK = 3, FIRST_WORK = 4, N = 5, FACTORED = 6, R_INNER = 7, A = 8,
        D1 = 9, B = 10, D2 = 11, CC = 12, NI = 13, NO = 14, S_SIZE = 15
    };
};

// Where the inner and outer statistics of a factored tensor start in its part of slot v and of the scratch: R first.
__host__ __device__ inline long long af_inner_at(const long long* g) {
    return g[AdafactorGeometry::R_INNER] != 0 ? 0 : g[AdafactorGeometry::NO];
}

__host__ __device__ inline long long af_outer_at(const long long* g) {
    return g[AdafactorGeometry::R_INNER] != 0 ? g[AdafactorGeometry::NI] : 0;
}

// G = g * g + eps, rounded after each operation.
__host__ __device__ inline float af_square(float g, float eps) {
    return g * g + eps;
}

// A statistic's new value from its old one and the sum of its n terms, in double.
__host__ __device__ inline float af_blend(float old, float sum, long long n, double bh, double omb) {
    return (float) (bh * (double) old + omb * ((double) sum / (double) n));
}

// An unfactored element's second moment.
__host__ __device__ inline float af_blend_element(float v, float G, double bh, double omb) {
    return (float) (bh * (double) v + omb * (double) G);
}

// q = n / d and r = n % d for 0 <= n < 2^53 and d >= 1, through one double division and an exact correction: the
// quotient of the rounded division is within one of the true one. (The 64-bit integer division is a long
// subroutine on the GPU, whose registers would spill.)
__host__ __device__ inline void af_divmod(long long n, long long d, long long& q, long long& r) {
    q = (long long) ((double) n / (double) d);
    r = n - q * d;
    if (r < 0) {
        q -= 1;
        r += d;
    } else if (r >= d) {
        q += 1;
        r -= d;
    }
}

// The inner and outer statistic of element e of a tensor of 2^32 elements or more.
__host__ __device__ inline void af_indices_wide(const long long* geo, long long e, long long& inner,
                                                long long& outer) {
    typedef AdafactorGeometry G;
    const long long d1 = geo[G::D1], b = geo[G::B], d2 = geo[G::D2], cc = geo[G::CC];
    long long q, ci, i2, bi, i1, ai;
    af_divmod(e, cc, q, ci);
    af_divmod(q, d2, q, i2);
    af_divmod(q, b, q, bi);
    af_divmod(q, d1, ai, i1);
    inner = ((ai * d1 + i1) * b + bi) * cc + ci;
    outer = ((ai * b + bi) * d2 + i2) * cc + ci;
}

// The unscaled direction of element e (from the tensor's first element) with gradient g.
__host__ __device__ inline float af_direction(const long long* geo, float g, long long e, const float* v,
                                              const float* scratch) {
    typedef AdafactorGeometry G;
    if (geo[G::FACTORED] == 0) {
        return g / sqrtf(v[geo[G::SIDE] + e]);
    }
    long long inner, outer;
    if (geo[G::N] <= 0xffffffffLL) {
        // 32-bit index arithmetic where the tensor allows it: 64-bit division is a long subroutine on the GPU.
        const unsigned d1 = (unsigned) geo[G::D1], b = (unsigned) geo[G::B], d2 = (unsigned) geo[G::D2],
                       cc = (unsigned) geo[G::CC];
        const unsigned ue = (unsigned) e;
        const unsigned ci = ue % cc;
        unsigned q = ue / cc;
        const unsigned i2 = q % d2;
        q /= d2;
        const unsigned bi = q % b;
        q /= b;
        const unsigned i1 = q % d1, ai = q / d1;
        inner = ((ai * d1 + i1) * b + bi) * cc + ci;
        outer = ((ai * b + bi) * d2 + i2) * cc + ci;
    } else {
        af_indices_wide(geo, e, inner, outer);
    }
    const float* f = scratch + geo[G::SCRATCH];
    return (g * f[af_inner_at(geo) + inner]) * f[af_outer_at(geo) + outer];
}

// Java's Math.max(double, double): a NaN first operand wins, then a NaN second; +0 beats -0.
__host__ __device__ inline double af_max(double a, double b) {
    if (a != a) {
        return a;
    }
    if (a == 0.0 && b == 0.0 && signbit(a)) {
        return b;
    }
    return a >= b ? a : b;
}

// Adafactor.finishTensor: the step coefficient from the sums of u*u and w*w over a tensor of n elements.
__host__ __device__ inline double af_coef(double sum_uu, double sum_ww, long long length, const AdafactorFinish& f) {
    const double n = (double) length;
    const double clip = f.thr > 0 ? af_max(1.0, sqrt(sum_uu / n) / f.thr) : 1.0;
    const double scale = f.pscale != 0.0 ? af_max(sqrt(sum_ww / n), f.eps2) : 1.0;
    return f.lr * scale / clip;
}

// The update of one element from its direction u.
__host__ __device__ inline void af_update(float& w, float u, float& m, float coef, const AdafactorScalars& s) {
    float x = u * coef;
    if (s.mom > 0.0f) {
        x = fmaf(s.mom, m, s.omm * x);
        m = x;
    }
    if (s.wdr != 0.0f) {
        x = fmaf(s.wdr, w, x);
    }
    w = w - x;
}

}  // namespace fusedopt

#endif  // FUSEDOPT_ADAFACTOR_CUH

// Float helpers shared by the per-element rules. Each one mirrors a helper of the Java rules exactly, so that
// the device and the CPU backend agree bit for bit.
#ifndef FUSEDOPT_FLOAT_OPS_CUH
#define FUSEDOPT_FLOAT_OPS_CUH

#include <math.h>

namespace fusedopt {

// Java's Math.max(float, float), which the Java rules use because C2 vectorises it: a NaN first operand wins,
// then a NaN second operand; +0 beats -0. (fmaxf would return the operand that is not NaN.)
__host__ __device__ inline float fo_max(float a, float b) {
    if (a != a) {
        return a;
    }
    if (a == 0.0f && b == 0.0f && signbit(a)) {
        return b;
    }
    return a >= b ? a : b;
}

// Java's Math.min(float, float): NaNs as fo_max; -0 beats +0.
__host__ __device__ inline float fo_min(float a, float b) {
    if (a != a) {
        return a;
    }
    if (a == 0.0f && b == 0.0f && signbit(b)) {
        return b;
    }
    return a <= b ? a : b;
}

// A 0/1 flag carried in the float scalar table, read as the Java rules read it.
__host__ __device__ inline bool scalar_flag(float x) {
    return x != 0.0f;
}

}  // namespace fusedopt

#endif  // FUSEDOPT_FLOAT_OPS_CUH

// Float helpers shared by the per-element rules. Each one mirrors a helper of the Java rules exactly, so that
// the device and the CPU backend agree bit for bit.
#ifndef FUSEDOPT_FLOAT_OPS_CUH
#define FUSEDOPT_FLOAT_OPS_CUH

#include <math.h>
#include <string.h>

namespace fusedopt {

// GroupedRule.maxNan: unlike fmaxf, a NaN in the first operand wins, as in torch.maximum.
__host__ __device__ inline float fo_max(float a, float b) {
    return (a > b || a != a) ? a : b;
}

// GroupedRule.minNan.
__host__ __device__ inline float fo_min(float a, float b) {
    return (a < b || a != a) ? a : b;
}

// Java's Float.NaN (0x7fc00000); 0.0f / 0.0f would give the sign of whichever hardware folds it.
__host__ __device__ inline float quiet_nan() {
    const unsigned int bits = 0x7fc00000u;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

// A 0/1 flag carried in the float scalar table, read as the Java rules read it.
__host__ __device__ inline bool scalar_flag(float x) {
    return x != 0.0f;
}

}  // namespace fusedopt

#endif  // FUSEDOPT_FLOAT_OPS_CUH

// Lookahead's synchronisation per element (Zhang et al. 2019), applied after the inner rule's update in the same
// pass; io.fusedopt.cpu.CpuStepProgram is the reference.
#ifndef FUSEDOPT_LOOKAHEAD_CUH
#define FUSEDOPT_LOOKAHEAD_CUH

#include "fusedopt/float_ops.cuh"

namespace fusedopt {

__host__ __device__ inline void lookahead_sync(float& w, float& slow, float alpha) {
    w = fmaf(alpha, w - slow, slow);
    slow = w;
}

}  // namespace fusedopt

#endif  // FUSEDOPT_LOOKAHEAD_CUH

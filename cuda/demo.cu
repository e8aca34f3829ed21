// Entries of the demo MLP's device-resident training step (io.fusedopt.demo.DeviceMlp). The GEMMs run in cuBLAS;
// these are the element-wise and per-row parts. One thread per element (or row, or column), 256 per block.
#include "fusedopt/demo.cuh"

using namespace fusedopt::demo;

namespace {
__device__ __forceinline__ long long global_index() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}
}  // namespace

extern "C" __global__ void __launch_bounds__(kBlock)
demo_gather(const float* __restrict__ features, const int* __restrict__ labels, const int* __restrict__ idx,
            int rows, int cols, float* __restrict__ x, int* __restrict__ y) {
    gather(features, labels, idx, rows, cols, x, y, global_index());
}

extern "C" __global__ void __launch_bounds__(kBlock)
demo_bias_act(float* __restrict__ y, const float* __restrict__ b, int rows, int cols, int relu) {
    bias_act(y, b, rows, cols, relu, global_index());
}

extern "C" __global__ void __launch_bounds__(kBlock)
demo_relu_backward(float* __restrict__ d, const float* __restrict__ act, int n) {
    relu_backward(d, act, n, global_index());
}

extern "C" __global__ void __launch_bounds__(kBlock)
demo_softmax_xent(const float* __restrict__ logits, const int* __restrict__ labels, int rows, int classes,
                  float scale, float* __restrict__ dlogits, float* __restrict__ row_loss) {
    softmax_xent_row(logits, labels, rows, classes, scale, dlogits, row_loss, (int)global_index());
}

extern "C" __global__ void __launch_bounds__(kBlock)
demo_bias_grad(const float* __restrict__ d, int rows, int cols, float* __restrict__ gb) {
    bias_grad(d, rows, cols, gb, (int)global_index());
}

// Adds the rows' losses, in ascending order, to *loss_sum and the correctly classified rows to *correct. One
// thread: a batch has at most a few hundred rows, and the fixed order keeps the epoch's loss deterministic.
extern "C" __global__ void __launch_bounds__(kBlock)
demo_tally(const float* __restrict__ row_loss, const float* __restrict__ logits, const int* __restrict__ labels,
           int rows, int classes, double* __restrict__ loss_sum, int* __restrict__ correct) {
    if (global_index() != 0) return;
    double s = 0.0;
    int c = 0;
    for (int r = 0; r < rows; r++) {
        s += (double)row_loss[r];
        c += row_correct(logits, labels, classes, r);
    }
    *loss_sum += s;
    *correct += c;
}

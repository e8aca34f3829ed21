// Element-wise parts of the demo MLP's training step (the matrix products run in cuBLAS). Row-major [rows, cols]
// activations; every sum runs in a fixed order, so a step is deterministic for a given cuBLAS.
#pragma once

#include <math.h>

namespace fusedopt {
namespace demo {

constexpr int kBlock = 256;

// Copies the feature rows and labels of samples idx[0..rows) into x and y.
__device__ __forceinline__ void gather(const float* features, const int* labels, const int* idx, int rows, int cols,
                                       float* x, int* y, long long i) {
    const long long total = (long long)rows * cols;
    if (i >= total) return;
    const long long r = i / cols;
    const long long c = i - r * cols;
    const long long src = (long long)idx[r];
    x[i] = features[src * cols + c];
    if (c == 0) y[r] = labels[src];
}

// y[r, c] += b[c], then max(y, 0) when relu != 0 (NaN passes through, as in the Java model).
__device__ __forceinline__ void bias_act(float* y, const float* b, int rows, int cols, int relu, long long i) {
    const long long total = (long long)rows * cols;
    if (i >= total) return;
    const int c = (int)(i % cols);
    float v = y[i] + b[c];
    if (relu != 0 && v < 0.0f) v = 0.0f;
    y[i] = v;
}

// d[i] = 0 where the forward activation act[i] (a ReLU output) is not positive.
__device__ __forceinline__ void relu_backward(float* d, const float* act, int n, long long i) {
    if (i >= n) return;
    if (!(act[i] > 0.0f)) d[i] = 0.0f;
}

// One row of softmax cross-entropy: dlogits = (softmax - onehot) * scale, row_loss = logsumexp - logit[label].
__device__ __forceinline__ void softmax_xent_row(const float* logits, const int* labels, int rows, int classes,
                                                 float scale, float* dlogits, float* row_loss, int r) {
    if (r >= rows) return;
    const long long o = (long long)r * classes;
    const float* z = logits + o;
    float m = z[0];
    for (int j = 1; j < classes; j++) m = fmaxf(m, z[j]);
    float sum = 0.0f;
    for (int j = 0; j < classes; j++) sum += expf(z[j] - m);
    const float lse = logf(sum);
    const int y = labels[r];
    row_loss[r] = lse - (z[y] - m);
    const float inv = 1.0f / sum;
    for (int j = 0; j < classes; j++) {
        const float p = expf(z[j] - m) * inv;
        dlogits[o + j] = (p - (j == y ? 1.0f : 0.0f)) * scale;
    }
}

// gb[c] = sum over r (ascending) of d[r, c].
__device__ __forceinline__ void bias_grad(const float* d, int rows, int cols, float* gb, int c) {
    if (c >= cols) return;
    float s = 0.0f;
    for (int r = 0; r < rows; r++) s += d[(long long)r * cols + c];
    gb[c] = s;
}

// 1 when the first largest logit of row r is its label's, else 0.
__device__ __forceinline__ int row_correct(const float* logits, const int* labels, int classes, int r) {
    const float* z = logits + (long long)r * classes;
    int best = 0;
    float m = z[0];
    for (int j = 1; j < classes; j++) {
        if (z[j] > m) {
            m = z[j];
            best = j;
        }
    }
    return best == labels[r] ? 1 : 0;
}

}  // namespace demo
}  // namespace fusedopt

// Kernels exercised by io.fusedopt.emu.StandInDriverTest. They are written as
// ordinary CUDA: nvcc turns them into the PTX (committed under test/ptx) that
// the test loads and the stand-in executes. Some use C++ linkage on purpose.

// Every thread of a 2-D grid of 2-D blocks reports its coordinates.
extern "C" __global__ void emu_coords2d(int* out, int width, int height) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    int* o = out + 6 * (y * width + x);
    o[0] = threadIdx.x;
    o[1] = threadIdx.y;
    o[2] = blockIdx.x;
    o[3] = blockIdx.y;
    o[4] = blockDim.x * 1000 + blockDim.y;
    o[5] = gridDim.x * 1000 + gridDim.y;
}

// Warp intrinsics, including a partial last warp when blockDim.x % 32 != 0.
extern "C" __global__ void emu_warp_ops(unsigned* info, float* f, double* d, long long* ll) {
    unsigned t = threadIdx.x;
    unsigned g = blockIdx.x * blockDim.x + t;
    unsigned lane = t % 32;
    unsigned active = __activemask();
    unsigned ballot = __ballot_sync(active, t & 1);
    int any = __any_sync(active, lane == 5);
    int all = __all_sync(active, lane < 20);
    __syncwarp(active);
    float v = static_cast<float>(g + 1);
    float s = v;
    for (int off = 16; off > 0; off >>= 1) {
        float o = __shfl_down_sync(active, s, off);
        if (lane + off < 32 && ((active >> (lane + off)) & 1u)) s += o;
    }
    info[5 * g + 0] = active;
    info[5 * g + 1] = ballot;
    info[5 * g + 2] = static_cast<unsigned>(any);
    info[5 * g + 3] = static_cast<unsigned>(all);
    info[5 * g + 4] = lane;
    f[4 * g + 0] = s;
    f[4 * g + 1] = __shfl_sync(active, v, 0);
    f[4 * g + 2] = __shfl_up_sync(active, v, 1);
    f[4 * g + 3] = __shfl_xor_sync(active, v, 1, 8);
    d[g] = __shfl_down_sync(active, static_cast<double>(g) * 0.5, 1);
    ll[g] = __shfl_sync(active, static_cast<long long>(g) << 33, 3, 4);
}

// Grid-stride partial sums, reduced per warp with shuffles and across warps
// through shared memory; also accumulates a grand total with atomics.
__global__ void emu_block_sum(const float* __restrict__ x, int n, float* block_sums, float* total,
                              unsigned* blocks_done) {
    __shared__ float partial[32];
    float s = 0.0f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) s += x[i];
    unsigned lane = threadIdx.x & 31u;
    unsigned warp = threadIdx.x >> 5;
    for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
    if (lane == 0) partial[warp] = s;
    __syncthreads();
    if (warp == 0) {
        unsigned warps = (blockDim.x + 31) / 32;
        float t = lane < warps ? partial[lane] : 0.0f;
        for (int off = 16; off > 0; off >>= 1) t += __shfl_down_sync(0xffffffffu, t, off);
        if (lane == 0) {
            block_sums[blockIdx.x] = t;
            atomicAdd(total, t);
            atomicAdd(blocks_done, 1u);
        }
    }
}

// Classic shared-memory tree reduction over dynamic shared memory.
extern "C" __global__ void emu_tree_sum(const float* x, int n, float* block_sums) {
    extern __shared__ float sdata[];
    unsigned t = threadIdx.x;
    float s = 0.0f;
    for (int i = blockIdx.x * blockDim.x + t; i < n; i += gridDim.x * blockDim.x) s += x[i];
    sdata[t] = s;
    __syncthreads();
    for (unsigned k = blockDim.x / 2; k > 0; k >>= 1) {
        if (t < k) sdata[t] += sdata[t + k];
        __syncthreads();
    }
    if (t == 0) block_sums[blockIdx.x] = sdata[0];
}

// All extern __shared__ arrays of a kernel start at the same address.
extern "C" __global__ void emu_dynamic_alias(int* out) {
    extern __shared__ int ibuf[];
    extern __shared__ float fbuf[];
    unsigned t = threadIdx.x;
    ibuf[t] = static_cast<int>(t) * 3;
    __syncthreads();
    out[t] = __float_as_int(fbuf[(t + 1) % blockDim.x]);
}

extern "C" __global__ void emu_atomics(const int* v, int n, int* isum, unsigned* umax, int* imin,
                                       unsigned long long* usum, double* dsum, float* fcount, unsigned* bits,
                                       int* winners, int* cas_target) {
    int gid = blockIdx.x * blockDim.x + threadIdx.x;
    for (int i = gid; i < n; i += gridDim.x * blockDim.x) {
        atomicAdd(isum, v[i]);
        atomicMax(umax, static_cast<unsigned>(v[i]));
        atomicMin(imin, v[i] - 500);
        atomicAdd(usum, static_cast<unsigned long long>(v[i]));
        atomicAdd(dsum, static_cast<double>(v[i]));
        atomicAdd(fcount, 1.0f);
        atomicOr(bits, 1u << (v[i] & 31));
    }
    if (atomicCAS(cas_target, -1, gid) == -1) atomicAdd(winners, 1);
}

// Grid-stride y = a*x + y with an explicit fused multiply-add.
__global__ void emu_axpy(float* __restrict__ y, const float* __restrict__ x, float a, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) y[i] = fmaf(a, x[i], y[i]);
}

// One thread per element, no synchronisation.
extern "C" __global__ void emu_adamw(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                     float* __restrict__ v, float lr, float beta1, float beta2, float eps,
                                     float weight_decay, float bias1, float bias2, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float gi = g[i];
    float mi = fmaf(beta1, m[i], (1.0f - beta1) * gi);
    float vi = fmaf(beta2, v[i], (1.0f - beta2) * gi * gi);
    m[i] = mi;
    v[i] = vi;
    float mhat = mi / bias1;
    float vhat = vi / bias2;
    float pi = p[i] * (1.0f - lr * weight_decay);
    p[i] = pi - lr * mhat / (sqrtf(vhat) + eps);
}

template <typename T>
__global__ void emu_fill(T* out, T value, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = value + static_cast<T>(i);
}
template __global__ void emu_fill<float>(float*, float, int);
template __global__ void emu_fill<double>(double*, double, int);

// Narrow and wide scalar parameters arrive intact.
extern "C" __global__ void emu_scalar_params(unsigned char c, short s, long long l, double d, float f,
                                             unsigned long long* out) {
    out[0] = c;
    out[1] = static_cast<unsigned long long>(static_cast<long long>(s));
    out[2] = static_cast<unsigned long long>(l);
    out[3] = static_cast<unsigned long long>(__double_as_longlong(d));
    out[4] = __float_as_uint(f);
}

__device__ float emu_scale = 2.0f;

extern "C" __global__ void emu_use_global(float* out) { out[threadIdx.x] = emu_scale * threadIdx.x; }

extern "C" __global__ void __launch_bounds__(64) emu_bounded(int* out) { out[threadIdx.x] = 1; }

// __syncthreads_count and friends, and a 3-D block.
extern "C" __global__ void emu_block_votes(int* out) {
    unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    int count = __syncthreads_count(t % 3 == 0);
    int all = __syncthreads_and(t < 1000);
    int any = __syncthreads_or(t == 7);
    if (t == 0) {
        out[0] = count;
        out[1] = all;
        out[2] = any;
    }
}

#include <cuda_bf16.h>
#include <cuda_fp16.h>

// f32 to f16 and bf16 in two rounding modes and back, with 16-bit stores and loads: the conversions that
// half-precision parameter and gradient storage will use.
extern "C" __global__ void emu_half_convert(const float* in, unsigned short* bits, float* back, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = in[i];
    bits[4 * i + 0] = __half_as_ushort(__float2half_rn(x));
    bits[4 * i + 1] = __half_as_ushort(__float2half_rz(x));
    bits[4 * i + 2] = __bfloat16_as_ushort(__float2bfloat16_rn(x));
    bits[4 * i + 3] = __bfloat16_as_ushort(__float2bfloat16_rz(x));
    back[2 * i + 0] = __half2float(__ushort_as_half(bits[4 * i + 0]));
    back[2 * i + 1] = __bfloat162float(__ushort_as_bfloat16(bits[4 * i + 2]));
}

// Kernels that misbehave on purpose: the stand-in must report them as
// failed launches (or refuse to launch them) instead of hanging or crashing.

// Threads beyond n leave before the barrier the others wait at.
extern "C" __global__ void emu_early_return_barrier(float* out, int n) {
    __shared__ float s[128];
    int t = threadIdx.x;
    if (t >= n) return;
    s[t] = static_cast<float>(t);
    __syncthreads();
    out[t] = s[(t + 1) % n];
}

// Half of a warp waits in a shuffle for lanes that went to a block barrier.
extern "C" __global__ void emu_divergent_sync(int* out) {
    int lane = threadIdx.x & 31;
    if (lane < 16) {
        out[threadIdx.x] = __shfl_sync(0xffffffffu, lane, 0);
    } else {
        __syncthreads();
        out[threadIdx.x] = lane;
    }
}

struct EmuParams {
    float scale;
    int n;
};

// A struct passed by value: the PTX shows an aggregate .b8 parameter.
extern "C" __global__ void emu_struct_param(EmuParams p, float* out) { out[0] = p.scale * p.n; }

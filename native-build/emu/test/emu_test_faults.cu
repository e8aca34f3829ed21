// Kernels that misbehave on purpose: the stand-in must report them as failed
// launches naming the kernel, the PTX line and the address, instead of
// hanging, crashing or computing garbage.

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

// A struct passed by value: the PTX shows an aggregate .b8 parameter (its bytes are copied as given).
extern "C" __global__ void emu_struct_param(EmuParams p, float* out) { out[0] = p.scale * p.n; }

// dst[0] = src[i]: with i past the end of src, or src freed, the load is an illegal address.
extern "C" __global__ void emu_load_at(float* dst, const float* src, int i) { dst[0] = src[i]; }

// Every thread writes the same shared word with no barrier in between: a write-write race.
extern "C" __global__ void emu_shared_race(float* out) {
    __shared__ float s[32];
    s[0] = static_cast<float>(threadIdx.x);
    __syncthreads();
    out[threadIdx.x] = s[0];
}

// Only the first warp writes its shared slot; the second warp reads slots nobody wrote.
extern "C" __global__ void emu_shared_uninitialised(float* out) {
    __shared__ float s[64];
    unsigned t = threadIdx.x;
    if (t < 32) s[t] = static_cast<float>(t);
    __syncthreads();
    out[t] = s[t];
}

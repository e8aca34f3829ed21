// The launch constants and the arena walker shared by every kernel.
//
// A kernel runs one block of BLOCK threads per chunk of the chunk table, grid-striding over the chunks. Inside a
// chunk, thread j takes float4 number q = j + BLOCK k (elements 4q .. 4q+3) while q < L/4, then the up to three
// tail elements go one by one to the thread that owns their float4 slot. Element i of a chunk therefore always
// lands in accumulator i % 4 of thread (i / 4) % BLOCK, in increasing i: lane i % LANES of Reduce.java.
#ifndef FUSEDOPT_LAUNCH_CUH
#define FUSEDOPT_LAUNCH_CUH

#include <type_traits>

#include "fusedopt/lookahead.cuh"

namespace fusedopt {

// Mirrors io.fusedopt.LaunchConfig; both backends' reduction orders are built on these values.
constexpr int BLOCK = 256;
constexpr int VEC = 4;
constexpr int CHUNK = 1 << 15;
constexpr int LANES = BLOCK * VEC;
constexpr int WARP = 32;
constexpr int WARPS = BLOCK / WARP;
constexpr int ALIGN = 64;
static_assert(CHUNK % LANES == 0, "a chunk is a whole number of block-wide float4 sweeps");
static_assert(ALIGN % VEC == 0, "aligned chunk offsets keep float4 accesses 16-byte aligned");

// One record of the chunk table. offset is the absolute arena index of the chunk's first element, a multiple of
// ALIGN; length is at most CHUNK; only a tensor's last chunk may be shorter. w and g are the device addresses of
// the chunk's first parameter and gradient when the caller owns that memory (a registered tensor, the pointer
// table of the multi-tensor step), 0 when the store's buffer holds them at offset; the state slots always sit at
// offset of their arena buffers.
struct ChunkDesc {
    long long offset;
    int length;
    int tensor;
    unsigned long long w;
    unsigned long long g;
};
static_assert(sizeof(ChunkDesc) == 32, "the host writes 32-byte chunk records");

// The chunk table and the tensor-to-group map, as every arena kernel receives them.
struct Arena {
    const ChunkDesc* chunks;
    int num_chunks;
    const int* tensor_group;  // null for kernels that ignore groups
};

// One chunk as a block sees it. w and g as in ChunkDesc; vec is false when a caller-owned w or g is not 16-byte
// aligned, and the chunk then takes the scalar path (arena chunks always start 16-byte aligned).
struct ChunkRef {
    long long index;
    long long base;
    int length;
    int tensor;
    int group;
    unsigned long long w;
    unsigned long long g;
    bool vec;
};

template <class Body>
__device__ __forceinline__ void for_each_chunk(const Arena& arena, Body&& body) {
    for (long long c = blockIdx.x; c < arena.num_chunks; c += gridDim.x) {
        const ChunkDesc d = arena.chunks[c];
        const int group = arena.tensor_group != nullptr ? arena.tensor_group[d.tensor] : 0;
        body(ChunkRef{c, d.offset, d.length, d.tensor, group, d.w, d.g, ((d.w | d.g) & 15u) == 0});
    }
}

// The pointer through which op.apply's arena index i reaches element i - ch.base of the chunk in a buffer the
// chunk may address by its own pointer (own, from ChunkRef::w or ::g): the arena buffer itself when own is 0, else
// the caller's address moved back by ch.base elements. Every op keeps indexing by arena position, as the state
// slots are placed; the subtraction is done on the integer address, and only element ch.base + j is ever read.
template <class P>
__device__ __forceinline__ P chunk_view(unsigned long long own, P arena, long long base) {
    if (own == 0) {
        return arena;
    }
    return reinterpret_cast<P>(own - (unsigned long long) base * sizeof(*arena));
}

// Grid-stride over tensors, one thread each, for the per-tensor finalize kernels.
template <class Body>
__device__ __forceinline__ void for_each_tensor(int num_tensors, Body&& body) {
    const long long stride = (long long) blockDim.x * gridDim.x;
    for (long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x; t < num_tensors; t += stride) {
        body(t);
    }
}

// The row of a group in a per-group scalar table.
template <class Scalars>
__device__ __forceinline__ Scalars group_scalars(const float* table, int group) {
    return Scalars::load(table + (long long) group * Scalars::K);
}

// N consecutive elements of one buffer: a float4 on the fast path, one float in the tail.
template <int N>
struct Frag {
    float v[N];
};

template <int N>
__device__ __forceinline__ Frag<N> load_frag(const float* p, long long i) {
    static_assert(N == VEC || N == 1, "the walker moves float4s or single floats");
    Frag<N> f;
    if constexpr (N == VEC) {
        const float4 q = *reinterpret_cast<const float4*>(p + i);
        f.v[0] = q.x;
        f.v[1] = q.y;
        f.v[2] = q.z;
        f.v[3] = q.w;
    } else {
        f.v[0] = p[i];
    }
    return f;
}

template <int N>
__device__ __forceinline__ void store_frag(float* p, long long i, const Frag<N>& f) {
    static_assert(N == VEC || N == 1, "the walker moves float4s or single floats");
    if constexpr (N == VEC) {
        float4 q;
        q.x = f.v[0];
        q.y = f.v[1];
        q.z = f.v[2];
        q.w = f.v[3];
        *reinterpret_cast<float4*>(p + i) = q;
    } else {
        p[i] = f.v[0];
    }
}

// Calls op.apply<VEC>(i, 0) for each float4 of the chunk owned by this thread and op.apply<1>(i, i % 4) for each
// tail element it owns; i is the absolute arena index, the second argument the accumulator of its first element.
// A chunk that is not 16-byte aligned (!ch.vec) has no float4 part: all of it goes through the scalar loop, each
// float4 slot as four apply<1> calls to the thread that owns the slot, so the same elements reach the same
// accumulators in the same order and sums and results do not depend on alignment.
template <class Op>
__device__ __forceinline__ void walk_chunk(const ChunkRef& ch, Op& op) {
    const long long quads = ch.vec ? ch.length / VEC : 0;
    for (long long q = threadIdx.x; q < quads; q += BLOCK) {
        op.template apply<VEC>(ch.base + q * VEC, 0);
    }
    // This thread's first slot from quads on: slot s belongs to thread s % BLOCK.
    const long long first = quads + (threadIdx.x + BLOCK - quads % BLOCK) % BLOCK;
#pragma unroll 1
    for (long long s = first; s * VEC < ch.length; s += BLOCK) {
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
            if (s * VEC + k < ch.length) {
                op.template apply<1>(ch.base + s * VEC + k, k);
            }
        }
    }
}

// What an element pass does besides calling the rule: write w and the state slots back, accumulate two sums per
// lane, move Lookahead's slow weights.
enum PassMode : unsigned { kStore = 1u, kReduce = 2u, kLookahead = 4u };

// The state slots a pass moves, in the rule's slot order. P is const float* for read-only passes.
template <int S, class P = float*>
struct Slots {
    P p[S > 0 ? S : 1];
};

struct Lookahead {
    float* slow;
    float alpha;
};

// A thread's reduction accumulators: a[c] and b[c] hold lanes 4j + c of thread j.
struct Lanes {
    float a[VEC];
    float b[VEC];
};

// Loads w, g and the slots, applies fn to each element, then (by MODE) stores, accumulates and syncs Lookahead.
// fn(w, g, x) or, with kReduce, fn(w, g, x, lane_a, lane_b), where x holds the element's S slot values.
template <unsigned MODE, class P, int S, class Fn>
struct ElementOp {
    P w;
    const float* g;
    Slots<S, P> slots;
    Lookahead la;
    Fn fn;
    Lanes acc;

    template <int N>
    __device__ __forceinline__ void apply(long long i, int lane) {
        Frag<N> wf = load_frag<N>(w, i);
        const Frag<N> gf = load_frag<N>(g, i);
        Frag<N> sf[S > 0 ? S : 1];
#pragma unroll
        for (int k = 0; k < S; ++k) {
            sf[k] = load_frag<N>(slots.p[k], i);
        }
        Frag<N> lf{};
        if constexpr ((MODE & kLookahead) != 0) {
            lf = load_frag<N>(la.slow, i);
        }
#pragma unroll
        for (int c = 0; c < N; ++c) {
            float x[S > 0 ? S : 1];
#pragma unroll
            for (int k = 0; k < S; ++k) {
                x[k] = sf[k].v[c];
            }
            if constexpr ((MODE & kReduce) != 0) {
                fn(wf.v[c], gf.v[c], x, acc.a[lane + c], acc.b[lane + c]);
            } else {
                fn(wf.v[c], gf.v[c], x);
            }
#pragma unroll
            for (int k = 0; k < S; ++k) {
                sf[k].v[c] = x[k];
            }
            if constexpr ((MODE & kLookahead) != 0) {
                lookahead_sync(wf.v[c], lf.v[c], la.alpha);
            }
        }
        if constexpr ((MODE & kStore) != 0) {
            store_frag<N>(w, i, wf);
#pragma unroll
            for (int k = 0; k < S; ++k) {
                store_frag<N>(slots.p[k], i, sf[k]);
            }
            if constexpr ((MODE & kLookahead) != 0) {
                store_frag<N>(la.slow, i, lf);
            }
        }
    }
};

// Runs one element pass over a chunk; returns this thread's accumulators (zero unless MODE has kReduce).
template <unsigned MODE, class P, int S, class Fn>
__device__ __forceinline__ Lanes walk_elements(const ChunkRef& ch, P w, const float* g, const Slots<S, P>& slots,
                                               const Lookahead& la, const Fn& fn) {
    static_assert((MODE & kStore) == 0 || !std::is_const<std::remove_pointer_t<P>>::value,
                  "a storing pass needs writable buffers");
    static_assert((MODE & (kStore | kLookahead)) != kLookahead, "the Lookahead sync stores");
    ElementOp<MODE, P, S, Fn> op{chunk_view(ch.w, w, ch.base), chunk_view(ch.g, g, ch.base), slots, la, fn,
                                 Lanes{}};
    walk_chunk(ch, op);
    return op.acc;
}

// The pass of the rules without a reduction: make(chunk) returns the element function for the chunk's group, so
// the group's scalars are read once per chunk.
template <unsigned MODE, int S, class Make>
__device__ __forceinline__ void update_arena(const Arena& arena, float* w, const float* g, const Slots<S>& slots,
                                             const Lookahead& la, Make make) {
    for_each_chunk(arena, [&](const ChunkRef& ch) { walk_elements<MODE>(ch, w, g, slots, la, make(ch)); });
}

}  // namespace fusedopt

#endif  // FUSEDOPT_LAUNCH_CUH

// The launch constants and the arena walker shared by every kernel.
//
// A kernel runs one block of BLOCK threads per chunk of the chunk table, grid-striding over the chunks. Inside a
// chunk, thread j takes vector number q = j + BLOCK k (elements 4q .. 4q+3) while q < L/4, then the up to three
// tail elements go one by one to the thread that owns their vector slot. Element i of a chunk therefore always
// lands in accumulator i % 4 of thread (i / 4) % BLOCK, in increasing i: lane i % LANES of Reduce.java. Passes
// over 16-bit buffers that do not reduce take 8 elements per vector instead (16-byte loads of halves).
#ifndef FUSEDOPT_LAUNCH_CUH
#define FUSEDOPT_LAUNCH_CUH

#include <type_traits>

#include "fusedopt/dtype.cuh"
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
// ALIGN; length is at most CHUNK; only a tensor's last chunk may be shorter.
struct ChunkDesc {
    long long offset;
    int length;
    int tensor;
};
static_assert(sizeof(ChunkDesc) == 16, "the host writes 16-byte chunk records");

// The chunk table and the tensor-to-group map, as every arena kernel receives them.
struct Arena {
    const ChunkDesc* chunks;
    int num_chunks;
    const int* tensor_group;  // null for kernels that ignore groups
};

// One chunk as a block sees it.
struct ChunkRef {
    long long index;
    long long base;
    int length;
    int tensor;
    int group;
};

template <class Body>
__device__ __forceinline__ void for_each_chunk(const Arena& arena, Body&& body) {
    for (long long c = blockIdx.x; c < arena.num_chunks; c += gridDim.x) {
        const ChunkDesc d = arena.chunks[c];
        const int group = arena.tensor_group != nullptr ? arena.tensor_group[d.tensor] : 0;
        body(ChunkRef{c, d.offset, d.length, d.tensor, group});
    }
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

// The element types of one regime's buffers (io.fusedopt.backend.Precision): the weights the rule updates, the
// gradients, the state slots, and the model copy written from the weights (void: none). STOCHASTIC rounds the
// weights to bfloat16 stochastically. Math is float32 whatever the types: loads widen exactly, stores round.
template <class W, class G, class S, class M = void, bool STOCHASTIC = false>
struct Storage {
    using Wt = W;
    using Gt = G;
    using St = S;
    using Mt = M;
    static constexpr bool kMaster = !std::is_void<M>::value;
    static constexpr bool kStochastic = STOCHASTIC;
    static constexpr bool kAllF32 = std::is_same<W, float>::value && std::is_same<G, float>::value &&
                                    std::is_same<S, float>::value && !kMaster;
    static_assert(!STOCHASTIC || std::is_same<W, Bf16>::value, "stochastic rounding stores bfloat16 weights");
};

// The regimes, named as the kernel entries' suffixes.
namespace regime {
using f32 = Storage<float, float, float>;
using bf16 = Storage<Bf16, Bf16, Bf16>;
using fp16 = Storage<Fp16, Fp16, Fp16>;
using bf16_master = Storage<float, Bf16, float, Bf16>;
using fp16_master = Storage<float, Fp16, float, Fp16>;
using bf16_master_bf16s = Storage<float, Bf16, Bf16, Bf16>;
using bf16_sr = Storage<Bf16, Bf16, Bf16, void, true>;
}  // namespace regime

// What a storing pass writes besides the weights and slots: the model copy, and stochastic rounding's counters.
template <class St>
struct Out {
    std::conditional_t<St::kMaster, typename St::Mt*, void*> model;
    unsigned long long seed;
    unsigned long long step;
};

// N consecutive elements of one buffer as float32: one or two 16-byte vectors (8 halves, or 4 or 8 floats), 8
// bytes (4 halves), or one element in the tail.
template <int N>
struct Frag {
    float v[N];
};

template <class T>
__device__ __forceinline__ void unpack2(uint32_t word, float& lo, float& hi) {
    lo = to_f32(T{static_cast<uint16_t>(word & 0xFFFFu)});
    hi = to_f32(T{static_cast<uint16_t>(word >> 16)});
}

template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    return static_cast<uint32_t>(from_f32<T>(lo).bits) | (static_cast<uint32_t>(from_f32<T>(hi).bits) << 16);
}

template <int N, class T>
__device__ __forceinline__ Frag<N> load_frag(const T* p, long long i) {
    static_assert(N == 2 * VEC || N == VEC || N == 1, "the walker moves 8, 4 or single elements");
    Frag<N> f;
    if constexpr (N == 1) {
        f.v[0] = to_f32(p[i]);
    } else if constexpr (std::is_same<T, float>::value) {
#pragma unroll
        for (int h = 0; h < N / VEC; ++h) {
            const float4 q = *reinterpret_cast<const float4*>(p + i + h * VEC);
            f.v[h * VEC + 0] = q.x;
            f.v[h * VEC + 1] = q.y;
            f.v[h * VEC + 2] = q.z;
            f.v[h * VEC + 3] = q.w;
        }
    } else if constexpr (N == VEC) {
        const uint2 q = *reinterpret_cast<const uint2*>(p + i);
        unpack2<T>(q.x, f.v[0], f.v[1]);
        unpack2<T>(q.y, f.v[2], f.v[3]);
    } else {
        const uint4 q = *reinterpret_cast<const uint4*>(p + i);
        unpack2<T>(q.x, f.v[0], f.v[1]);
        unpack2<T>(q.y, f.v[2], f.v[3]);
        unpack2<T>(q.z, f.v[4], f.v[5]);
        unpack2<T>(q.w, f.v[6], f.v[7]);
    }
    return f;
}

template <int N, class T>
__device__ __forceinline__ void store_frag(T* p, long long i, const Frag<N>& f) {
    static_assert(N == 2 * VEC || N == VEC || N == 1, "the walker moves 8, 4 or single elements");
    if constexpr (N == 1) {
        p[i] = from_f32<T>(f.v[0]);
    } else if constexpr (std::is_same<T, float>::value) {
#pragma unroll
        for (int h = 0; h < N / VEC; ++h) {
            float4 q;
            q.x = f.v[h * VEC + 0];
            q.y = f.v[h * VEC + 1];
            q.z = f.v[h * VEC + 2];
            q.w = f.v[h * VEC + 3];
            *reinterpret_cast<float4*>(p + i + h * VEC) = q;
        }
    } else if constexpr (N == VEC) {
        *reinterpret_cast<uint2*>(p + i) = make_uint2(pack2<T>(f.v[0], f.v[1]), pack2<T>(f.v[2], f.v[3]));
    } else {
        *reinterpret_cast<uint4*>(p + i) = make_uint4(pack2<T>(f.v[0], f.v[1]), pack2<T>(f.v[2], f.v[3]),
                                                      pack2<T>(f.v[4], f.v[5]), pack2<T>(f.v[6], f.v[7]));
    }
}

// Stores bfloat16 weights rounded stochastically, element i drawing sr_bits(seed, step, i).
template <int N>
__device__ __forceinline__ void store_frag_stochastic(Bf16* p, long long i, const Frag<N>& f,
                                                      unsigned long long seed, unsigned long long step) {
    uint16_t b[N];
#pragma unroll
    for (int c = 0; c < N; ++c) {
        b[c] = f32_to_bf16_stochastic(f.v[c], sr_bits(seed, step, static_cast<unsigned long long>(i + c)));
    }
    if constexpr (N == 1) {
        p[i] = Bf16{b[0]};
    } else {
        uint32_t word[N / 2];
#pragma unroll
        for (int c = 0; c < N / 2; ++c) {
            word[c] = static_cast<uint32_t>(b[2 * c]) | (static_cast<uint32_t>(b[2 * c + 1]) << 16);
        }
        if constexpr (N == VEC) {
            *reinterpret_cast<uint2*>(p + i) = make_uint2(word[0], word[1]);
        } else {
            *reinterpret_cast<uint4*>(p + i) = make_uint4(word[0], word[1], word[2], word[3]);
        }
    }
}

// Calls op.apply<WIDTH>(i, 0) for each WIDTH-element vector of the chunk owned by this thread and
// op.apply<1>(i, i % WIDTH) for each tail element it owns; i is the absolute arena index, the second argument the
// accumulator of its first element. Reducing passes use WIDTH = VEC, whose lane order Reduce.java replays; passes
// over 16-bit buffers that do not reduce use 2 VEC, so each 16-bit load is 16 bytes.
template <int WIDTH = VEC, class Op>
__device__ __forceinline__ void walk_chunk(const ChunkRef& ch, Op& op) {
    static_assert(WIDTH == VEC || WIDTH == 2 * VEC, "4- or 8-element vectors");
    const long long vecs = ch.length / WIDTH;
    for (long long q = threadIdx.x; q < vecs; q += BLOCK) {
        op.template apply<WIDTH>(ch.base + q * WIDTH, 0);
    }
    const long long tail = vecs * WIDTH;
    if (tail < ch.length && threadIdx.x == vecs % BLOCK) {
        if constexpr (WIDTH == VEC) {
            // Unrolled, so a reducing pass indexes its accumulators with constants (registers).
#pragma unroll
            for (int k = 0; k < WIDTH - 1; ++k) {
                if (tail + k < ch.length) {
                    op.template apply<1>(ch.base + tail + k, k);
                }
            }
        } else {
            // Not a reducing pass: one copy of the scalar path keeps the entry small.
#pragma unroll 1
            for (int k = 0; k < WIDTH - 1; ++k) {
                if (tail + k < ch.length) {
                    op.template apply<1>(ch.base + tail + k, 0);
                }
            }
        }
    }
}

// What an element pass does besides calling the rule: write w and the state slots back, accumulate two sums per
// lane, move Lookahead's slow weights.
enum PassMode : unsigned { kStore = 1u, kReduce = 2u, kLookahead = 4u };

// The state slots a pass moves, in the rule's slot order. P is a const pointer for read-only passes.
template <int S, class P = float*>
struct Slots {
    P p[S > 0 ? S : 1];
};

// Lookahead's slow weights, in the weights' type, and its alpha.
template <class T = float>
struct LookaheadT {
    T* slow;
    float alpha;
};
using Lookahead = LookaheadT<float>;

// A thread's reduction accumulators: a[c] and b[c] hold lanes 4j + c of thread j.
struct Lanes {
    float a[VEC];
    float b[VEC];
};

template <bool WRITES, class T>
using BufferPtr = std::conditional_t<WRITES, T*, const T*>;

// Loads w, g and the slots, applies fn to each element, then (by MODE) stores, accumulates and syncs Lookahead;
// a storing pass of a master regime also writes the rounded weights into the model copy.
// fn(w, g, x) or, with kReduce, fn(w, g, x, lane_a, lane_b), where x holds the element's S slot values.
template <unsigned MODE, class St, int S, class Fn>
struct ElementOp {
    static constexpr bool kWrites = (MODE & kStore) != 0;
    BufferPtr<kWrites, typename St::Wt> w;
    const typename St::Gt* g;
    Slots<S, BufferPtr<kWrites, typename St::St>> slots;
    LookaheadT<typename St::Wt> la;
    Out<St> out;
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
                static_assert(N <= VEC, "a reducing pass walks 4-element vectors");
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
        if constexpr (kWrites) {
            if constexpr (St::kStochastic) {
                store_frag_stochastic<N>(w, i, wf, out.seed, out.step);
            } else {
                store_frag<N>(w, i, wf);
            }
#pragma unroll
            for (int k = 0; k < S; ++k) {
                store_frag<N>(slots.p[k], i, sf[k]);
            }
            if constexpr ((MODE & kLookahead) != 0) {
                store_frag<N>(la.slow, i, lf);
            }
            if constexpr (St::kMaster) {
                store_frag<N>(out.model, i, wf);
            }
        }
    }
};

// Runs one element pass over a chunk; returns this thread's accumulators (zero unless MODE has kReduce).
template <unsigned MODE, class St, int S, class Fn>
__device__ __forceinline__ Lanes walk_elements(const ChunkRef& ch,
                                               BufferPtr<(MODE & kStore) != 0, typename St::Wt> w,
                                               const typename St::Gt* g,
                                               const Slots<S, BufferPtr<(MODE & kStore) != 0, typename St::St>>& slots,
                                               const LookaheadT<typename St::Wt>& la, const Out<St>& out,
                                               const Fn& fn) {
    static_assert((MODE & (kStore | kLookahead)) != kLookahead, "the Lookahead sync stores");
    constexpr int WIDTH = ((MODE & kReduce) != 0 || St::kAllF32) ? VEC : 2 * VEC;
    ElementOp<MODE, St, S, Fn> op{w, g, slots, la, out, fn, Lanes{}};
    walk_chunk<WIDTH>(ch, op);
    return op.acc;
}

// Everything an update entry receives, typed by its regime.
template <class St, int S>
struct Update {
    Arena arena;
    typename St::Wt* w;
    const typename St::Gt* g;
    Slots<S, typename St::St*> slots;
    const float* scalars;
    const double* tensor_state;
    float* partials;
    LookaheadT<typename St::Wt> la;
    Out<St> out;
};

// Everything a norm entry receives (read-only buffers and the partials).
template <class St, int S>
struct Norm {
    Arena arena;
    const typename St::Wt* w;
    const typename St::Gt* g;
    Slots<S, const typename St::St*> slots;
    const float* scalars;
    float* partials;
};

// The pass of the rules without a reduction: make(chunk) returns the element function for the chunk's group, so
// the group's scalars are read once per chunk.
template <unsigned MODE, class St, int S, class Make>
__device__ __forceinline__ void update_arena(const Update<St, S>& u, Make make) {
    for_each_chunk(u.arena, [&](const ChunkRef& ch) {
        walk_elements<MODE, St>(ch, u.w, u.g, u.slots, u.la, u.out, make(ch));
    });
}

}  // namespace fusedopt

#endif  // FUSEDOPT_LAUNCH_CUH

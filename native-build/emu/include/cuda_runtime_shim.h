// Force-included (g++ -include cuda_runtime_shim.h) when a CUDA kernel source
// is compiled for the host so that the fusedopt CPU stand-in for libcuda.so.1
// can run it. It maps the CUDA C++ device dialect onto plain C++17: each CUDA
// thread is a fiber of the stand-in, thread/block coordinates are thread-local
// variables owned by the stand-in, and everything that needs the other
// threads of a warp or block (barriers, shuffles, votes) is a call into it.
//
// Arithmetic is ordinary IEEE single/double arithmetic; compile with
// -ffp-contract=off so that only explicit fmaf()/__fmaf_rn() fuse, which is
// what nvcc --fmad=false does on the device.
#ifndef FUSEDOPT_CUDA_RUNTIME_SHIM_H
#define FUSEDOPT_CUDA_RUNTIME_SHIM_H

#ifndef __cplusplus
#error "cuda_runtime_shim.h must be compiled as C++ (g++ -x c++)"
#endif

// Standard headers first: some of them use attribute spellings such as
// __noinline__ that the macros below would otherwise rewrite.
#include <math.h>

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>

#define FUSEDOPT_CUDA_EMU 1
#ifndef __CUDACC__
#define __CUDACC__ 1
#endif

#define __global__ __attribute__((visibility("default")))
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __builtin_align__(n) __attribute__((aligned(n)))
#define __grid_constant__
// A block's threads all run on one OS thread, one block at a time per OS
// thread, so thread-local storage is exactly per-block storage. At block scope
// thread_local implies static; "extern __shared__ T x[]" becomes an extern
// thread-local array that the stand-in's build script defines (all such names
// of a kernel library alias one buffer, as on the device).
#define __shared__ thread_local

// ---- vector types -----------------------------------------------------------
#define FUSEDOPT_EMU_VEC1(T, N) \
    struct N##1 { T x; };
#define FUSEDOPT_EMU_VEC2(T, N, A) \
    struct __attribute__((aligned(A))) N##2 { T x, y; };
#define FUSEDOPT_EMU_VEC3(T, N) \
    struct N##3 { T x, y, z; };
#define FUSEDOPT_EMU_VEC4(T, N, A) \
    struct __attribute__((aligned(A))) N##4 { T x, y, z, w; };
#define FUSEDOPT_EMU_MAKERS(T, N)                                                                  \
    inline N##1 make_##N##1(T x) { return N##1{x}; }                                               \
    inline N##2 make_##N##2(T x, T y) { return N##2{x, y}; }                                       \
    inline N##3 make_##N##3(T x, T y, T z) { return N##3{x, y, z}; }                               \
    inline N##4 make_##N##4(T x, T y, T z, T w) { return N##4{x, y, z, w}; }
#define FUSEDOPT_EMU_VECTORS(T, N, A2, A4) \
    FUSEDOPT_EMU_VEC1(T, N)                \
    FUSEDOPT_EMU_VEC2(T, N, A2)            \
    FUSEDOPT_EMU_VEC3(T, N)                \
    FUSEDOPT_EMU_VEC4(T, N, A4)            \
    FUSEDOPT_EMU_MAKERS(T, N)

FUSEDOPT_EMU_VECTORS(signed char, char, 2, 4)
FUSEDOPT_EMU_VECTORS(unsigned char, uchar, 2, 4)
FUSEDOPT_EMU_VECTORS(short, short, 4, 8)
FUSEDOPT_EMU_VECTORS(unsigned short, ushort, 4, 8)
FUSEDOPT_EMU_VECTORS(int, int, 8, 16)
FUSEDOPT_EMU_VECTORS(unsigned int, uint, 8, 16)
FUSEDOPT_EMU_VECTORS(long, long, 16, 16)
FUSEDOPT_EMU_VECTORS(unsigned long, ulong, 16, 16)
FUSEDOPT_EMU_VECTORS(long long, longlong, 16, 16)
FUSEDOPT_EMU_VECTORS(unsigned long long, ulonglong, 16, 16)
FUSEDOPT_EMU_VECTORS(float, float, 8, 16)
FUSEDOPT_EMU_VECTORS(double, double, 16, 16)

#undef FUSEDOPT_EMU_VEC1
#undef FUSEDOPT_EMU_VEC2
#undef FUSEDOPT_EMU_VEC3
#undef FUSEDOPT_EMU_VEC4
#undef FUSEDOPT_EMU_MAKERS
#undef FUSEDOPT_EMU_VECTORS

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

// ---- thread coordinates -------------------------------------------------------
// Defined in the stand-in (libcuda.so.1); every kernel library links to it.
extern "C" {
extern __thread uint3 fusedopt_emu_threadIdx;
extern __thread uint3 fusedopt_emu_blockIdx;
extern __thread uint3 fusedopt_emu_blockDim;
extern __thread uint3 fusedopt_emu_gridDim;

int fusedopt_emu_block_sync(int op, int predicate);
unsigned long long fusedopt_emu_warp_op(int op, unsigned mask, unsigned long long value, int arg, int width);
unsigned fusedopt_emu_activemask(void);
}

#define threadIdx (static_cast<const uint3&>(fusedopt_emu_threadIdx))
#define blockIdx (static_cast<const uint3&>(fusedopt_emu_blockIdx))
#define blockDim (static_cast<const uint3&>(fusedopt_emu_blockDim))
#define gridDim (static_cast<const uint3&>(fusedopt_emu_gridDim))
static constexpr int warpSize = 32;

// Operation codes shared with the stand-in (src/exec.cpp).
enum {
    FUSEDOPT_EMU_BAR_PLAIN = 0,
    FUSEDOPT_EMU_BAR_COUNT = 1,
    FUSEDOPT_EMU_BAR_AND = 2,
    FUSEDOPT_EMU_BAR_OR = 3,
};
enum {
    FUSEDOPT_EMU_WARP_SYNC = 0,
    FUSEDOPT_EMU_SHFL_IDX = 1,
    FUSEDOPT_EMU_SHFL_UP = 2,
    FUSEDOPT_EMU_SHFL_DOWN = 3,
    FUSEDOPT_EMU_SHFL_XOR = 4,
    FUSEDOPT_EMU_BALLOT = 5,
    FUSEDOPT_EMU_ANY = 6,
    FUSEDOPT_EMU_ALL = 7,
    FUSEDOPT_EMU_MATCH_ANY = 8,
    FUSEDOPT_EMU_MATCH_ALL = 9,
    FUSEDOPT_EMU_REDUCE_ADD = 10,
    FUSEDOPT_EMU_REDUCE_MIN_U = 11,
    FUSEDOPT_EMU_REDUCE_MAX_U = 12,
    FUSEDOPT_EMU_REDUCE_MIN_S = 13,
    FUSEDOPT_EMU_REDUCE_MAX_S = 14,
    FUSEDOPT_EMU_REDUCE_AND = 15,
    FUSEDOPT_EMU_REDUCE_OR = 16,
    FUSEDOPT_EMU_REDUCE_XOR = 17,
};

// ---- block and warp synchronisation ----------------------------------------------
inline void __syncthreads() { fusedopt_emu_block_sync(FUSEDOPT_EMU_BAR_PLAIN, 1); }
inline int __syncthreads_count(int p) { return fusedopt_emu_block_sync(FUSEDOPT_EMU_BAR_COUNT, p); }
inline int __syncthreads_and(int p) { return fusedopt_emu_block_sync(FUSEDOPT_EMU_BAR_AND, p); }
inline int __syncthreads_or(int p) { return fusedopt_emu_block_sync(FUSEDOPT_EMU_BAR_OR, p); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { fusedopt_emu_warp_op(FUSEDOPT_EMU_WARP_SYNC, mask, 0, 0, 32); }
inline unsigned __activemask() { return fusedopt_emu_activemask(); }

namespace fusedopt_emu_detail {
template <class T>
inline unsigned long long to_bits(T v) {
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "warp operations move at most 64 bits");
    unsigned long long bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    return bits;
}
template <class T>
inline T from_bits(unsigned long long bits) {
    T v;
    std::memcpy(&v, &bits, sizeof(T));
    return v;
}
template <class T>
inline T shuffle(int op, unsigned mask, T var, int arg, int width) {
    return from_bits<T>(fusedopt_emu_warp_op(op, mask, to_bits(var), arg, width));
}
}  // namespace fusedopt_emu_detail

template <class T>
inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
    return fusedopt_emu_detail::shuffle(FUSEDOPT_EMU_SHFL_IDX, mask, var, srcLane, width);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
    return fusedopt_emu_detail::shuffle(FUSEDOPT_EMU_SHFL_UP, mask, var, static_cast<int>(delta), width);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
    return fusedopt_emu_detail::shuffle(FUSEDOPT_EMU_SHFL_DOWN, mask, var, static_cast<int>(delta), width);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
    return fusedopt_emu_detail::shuffle(FUSEDOPT_EMU_SHFL_XOR, mask, var, laneMask, width);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
    return static_cast<unsigned>(fusedopt_emu_warp_op(FUSEDOPT_EMU_BALLOT, mask, predicate != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int predicate) {
    return static_cast<int>(fusedopt_emu_warp_op(FUSEDOPT_EMU_ANY, mask, predicate != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int predicate) {
    return static_cast<int>(fusedopt_emu_warp_op(FUSEDOPT_EMU_ALL, mask, predicate != 0, 0, 32));
}
inline int __uni_sync(unsigned mask, int predicate) {
    int any = __any_sync(mask, predicate);
    int all = __all_sync(mask, predicate);
    return any == all;
}
template <class T>
inline unsigned __match_any_sync(unsigned mask, T value) {
    return static_cast<unsigned>(
        fusedopt_emu_warp_op(FUSEDOPT_EMU_MATCH_ANY, mask, fusedopt_emu_detail::to_bits(value), 0, 32));
}
template <class T>
inline unsigned __match_all_sync(unsigned mask, T value, int* pred) {
    unsigned long long r =
        fusedopt_emu_warp_op(FUSEDOPT_EMU_MATCH_ALL, mask, fusedopt_emu_detail::to_bits(value), 0, 32);
    *pred = static_cast<int>(r >> 32);
    return static_cast<unsigned>(r);
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned v) {
    return static_cast<unsigned>(fusedopt_emu_warp_op(FUSEDOPT_EMU_REDUCE_ADD, mask, v, 0, 32));
}
inline int __reduce_add_sync(unsigned mask, int v) {
    return static_cast<int>(__reduce_add_sync(mask, static_cast<unsigned>(v)));
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v) {
    return static_cast<unsigned>(fusedopt_emu_warp_op(FUSEDOPT_EMU_REDUCE_MIN_U, mask, v, 0, 32));
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v) {
    return static_cast<unsigned>(fusedopt_emu_warp_op(FUSEDOPT_EMU_REDUCE_MAX_U, mask, v, 0, 32));
}
inline int __reduce_min_sync(unsigned mask, int v) {
    return static_cast<int>(fusedopt_emu_warp_op(FUSEDOPT_EMU_REDUCE_MIN_S, mask, static_cast<unsigned>(v), 0, 32));
}
inline int __reduce_max_sync(unsigned mask, int v) {
    return static_cast<int>(fusedopt_emu_warp_op(FUSEDOPT_EMU_REDUCE_MAX_S, mask, static_cast<unsigned>(v), 0, 32));
}
inline unsigned __reduce_and_sync(unsigned mask, unsigned v) {
    return static_cast<unsigned>(fusedopt_emu_warp_op(FUSEDOPT_EMU_REDUCE_AND, mask, v, 0, 32));
}
inline unsigned __reduce_or_sync(unsigned mask, unsigned v) {
    return static_cast<unsigned>(fusedopt_emu_warp_op(FUSEDOPT_EMU_REDUCE_OR, mask, v, 0, 32));
}
inline unsigned __reduce_xor_sync(unsigned mask, unsigned v) {
    return static_cast<unsigned>(fusedopt_emu_warp_op(FUSEDOPT_EMU_REDUCE_XOR, mask, v, 0, 32));
}

// ---- memory fences and cache-hinted accesses --------------------------------------
// Blocks of one launch can run on different OS threads, so fences are real.
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
template <class T> inline T __ldca(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline T __ldlu(const T* p) { return *p; }
template <class T> inline T __ldcv(const T* p) { return *p; }
template <class T> inline void __stwb(T* p, T v) { *p = v; }
template <class T> inline void __stcg(T* p, T v) { *p = v; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
template <class T> inline void __stwt(T* p, T v) { *p = v; }

// ---- atomics ---------------------------------------------------------------
namespace fusedopt_emu_detail {
// Floating-point and min/max atomics have no single x86 instruction; a CAS loop
// on the bit pattern gives the same result as the device's atomic unit.
template <class T, class Bits, class F>
inline T cas_update(T* address, F update) {
    static_assert(sizeof(T) == sizeof(Bits), "bit width");
    Bits* word = reinterpret_cast<Bits*>(address);
    Bits expected = __atomic_load_n(word, __ATOMIC_RELAXED);
    while (true) {
        T old;
        std::memcpy(&old, &expected, sizeof(T));
        T next = update(old);
        Bits desired;
        std::memcpy(&desired, &next, sizeof(T));
        if (__atomic_compare_exchange_n(word, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            return old;
    }
}
}  // namespace fusedopt_emu_detail

#define FUSEDOPT_EMU_INT_ATOMICS(T)                                                                         \
    inline T atomicAdd(T* a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }                   \
    inline T atomicSub(T* a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); }                   \
    inline T atomicExch(T* a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }                 \
    inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); }                   \
    inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }                     \
    inline T atomicXor(T* a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); }                   \
    inline T atomicCAS(T* a, T compare, T v) {                                                             \
        __atomic_compare_exchange_n(a, &compare, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);            \
        return compare;                                                                                    \
    }                                                                                                      \
    inline T atomicMin(T* a, T v) {                                                                        \
        return fusedopt_emu_detail::cas_update<T, T>(a, [v](T old) { return old < v ? old : v; });          \
    }                                                                                                      \
    inline T atomicMax(T* a, T v) {                                                                        \
        return fusedopt_emu_detail::cas_update<T, T>(a, [v](T old) { return old > v ? old : v; });          \
    }

FUSEDOPT_EMU_INT_ATOMICS(int)
FUSEDOPT_EMU_INT_ATOMICS(unsigned int)
FUSEDOPT_EMU_INT_ATOMICS(long long)
FUSEDOPT_EMU_INT_ATOMICS(unsigned long long)
#undef FUSEDOPT_EMU_INT_ATOMICS

inline float atomicAdd(float* a, float v) {
    return fusedopt_emu_detail::cas_update<float, uint32_t>(a, [v](float old) { return old + v; });
}
inline double atomicAdd(double* a, double v) {
    return fusedopt_emu_detail::cas_update<double, uint64_t>(a, [v](double old) { return old + v; });
}
inline float atomicExch(float* a, float v) {
    return fusedopt_emu_detail::cas_update<float, uint32_t>(a, [v](float) { return v; });
}
inline unsigned int atomicInc(unsigned int* a, unsigned int limit) {
    return fusedopt_emu_detail::cas_update<unsigned, unsigned>(
        a, [limit](unsigned old) { return old >= limit ? 0u : old + 1u; });
}
inline unsigned int atomicDec(unsigned int* a, unsigned int limit) {
    return fusedopt_emu_detail::cas_update<unsigned, unsigned>(
        a, [limit](unsigned old) { return (old == 0u || old > limit) ? limit : old - 1u; });
}

// ---- arithmetic intrinsics --------------------------------------------------------
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
inline double __drcp_rn(double a) { return 1.0 / a; }
inline double __dsqrt_rn(double a) { return sqrt(a); }
// The device versions of these are approximations; the host ones are the
// correctly rounded (or libm) results, so bit-exact comparisons with a GPU
// must not rely on them.
inline float rsqrtf(float a) { return 1.0f / sqrtf(a); }
inline double rsqrt(double a) { return 1.0 / sqrt(a); }
inline float __frsqrt_rn(float a) { return 1.0f / sqrtf(a); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float a) { return expf(a); }
inline float __exp10f(float a) { return powf(10.0f, a); }
inline float __logf(float a) { return logf(a); }
inline float __log2f(float a) { return log2f(a); }
inline float __log10f(float a) { return log10f(a); }
inline float __powf(float a, float b) { return powf(a, b); }
inline float __sinf(float a) { return sinf(a); }
inline float __cosf(float a) { return cosf(a); }
inline float __tanf(float a) { return tanf(a); }
inline void __sincosf(float a, float* s, float* c) { *s = sinf(a); *c = cosf(a); }
inline float __saturatef(float a) { return a != a ? 0.0f : (a < 0.0f ? 0.0f : (a > 1.0f ? 1.0f : a)); }
inline float exp10f(float a) { return powf(10.0f, a); }

// CUDA's global min/max overloads (the float ones have fminf semantics: a NaN
// operand yields the other operand).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline unsigned int min(int a, unsigned int b) { return min(static_cast<unsigned>(a), b); }
inline unsigned int min(unsigned int a, int b) { return min(a, static_cast<unsigned>(b)); }
inline unsigned int max(int a, unsigned int b) { return max(static_cast<unsigned>(a), b); }
inline unsigned int max(unsigned int a, int b) { return max(a, static_cast<unsigned>(b)); }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline double min(float a, double b) { return fmin(a, b); }
inline double min(double a, float b) { return fmin(a, b); }
inline double max(float a, double b) { return fmax(a, b); }
inline double max(double a, float b) { return fmax(a, b); }

// ---- bit and conversion intrinsics -----------------------------------------------
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline unsigned int __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline long long __double_as_longlong(double d) { long long l; std::memcpy(&l, &d, 8); return l; }
inline double __longlong_as_double(long long l) { double d; std::memcpy(&d, &l, 8); return d; }
inline int __double2hiint(double d) { return static_cast<int>(__double_as_longlong(d) >> 32); }
inline int __double2loint(double d) { return static_cast<int>(__double_as_longlong(d)); }
inline double __hiloint2double(int hi, int lo) {
    return __longlong_as_double(static_cast<long long>((static_cast<unsigned long long>(static_cast<unsigned>(hi)) << 32) |
                                                       static_cast<unsigned>(lo)));
}
inline int __float2int_rn(float f) { return static_cast<int>(nearbyintf(f)); }
inline int __float2int_rz(float f) { return static_cast<int>(f); }
inline int __float2int_rd(float f) { return static_cast<int>(floorf(f)); }
inline int __float2int_ru(float f) { return static_cast<int>(ceilf(f)); }
inline unsigned int __float2uint_rn(float f) { return static_cast<unsigned>(nearbyintf(f)); }
inline unsigned int __float2uint_rz(float f) { return static_cast<unsigned>(f); }
inline float __int2float_rn(int i) { return static_cast<float>(i); }
inline float __uint2float_rn(unsigned int i) { return static_cast<float>(i); }
inline float __double2float_rn(double d) { return static_cast<float>(d); }
inline int __double2int_rn(double d) { return static_cast<int>(nearbyint(d)); }
inline int __double2int_rz(double d) { return static_cast<int>(d); }
inline long long __float2ll_rn(float f) { return static_cast<long long>(nearbyintf(f)); }
inline long long __double2ll_rn(double d) { return static_cast<long long>(nearbyint(d)); }
inline double __ll2double_rn(long long l) { return static_cast<double>(l); }
inline float __ll2float_rn(long long l) { return static_cast<float>(l); }

inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned int __brev(unsigned int x) {
    unsigned r = 0;
    for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
inline unsigned long long __brevll(unsigned long long x) {
    return (static_cast<unsigned long long>(__brev(static_cast<unsigned>(x))) << 32) | __brev(static_cast<unsigned>(x >> 32));
}
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<long long>(a) * b) >> 32); }
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline long long __mul64hi(long long a, long long b) { return static_cast<long long>((static_cast<__int128>(a) * b) >> 64); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
inline int __mul24(int a, int b) { return ((a << 8) >> 8) * ((b << 8) >> 8); }
inline unsigned int __umul24(unsigned int a, unsigned int b) { return (a & 0xffffffu) * (b & 0xffffffu); }
inline unsigned int __funnelshift_l(unsigned lo, unsigned hi, unsigned shift) {
    unsigned long long v = (static_cast<unsigned long long>(hi) << 32) | lo;
    return static_cast<unsigned>((v << (shift & 31u)) >> 32);
}
inline unsigned int __funnelshift_r(unsigned lo, unsigned hi, unsigned shift) {
    unsigned long long v = (static_cast<unsigned long long>(hi) << 32) | lo;
    return static_cast<unsigned>(v >> (shift & 31u));
}

inline long long clock64() { return static_cast<long long>(__builtin_ia32_rdtsc()); }
inline void __nanosleep(unsigned) {}

#endif

// The 16-bit storage types and their conversions to and from float32: widening as integer bit arithmetic, the same
// operations as io.fusedopt.core.DtypeConversions; narrowing on the device as the ISA's cvt.rn.{bf16,f16}.f32
// (sm_80 and later), whose results the bit arithmetic (kept for the host) reproduces. So the CPU and every GPU
// (and the PTX stand-in, which executes those cvt forms) store the same bits. Widening is exact; narrowing rounds to nearest, ties to even, overflows to infinity and gives the
// canonical NaN 0x7FFF for every NaN. Stochastic rounding to bfloat16 adds 16 random bits below the kept
// mantissa and truncates.
#ifndef FUSEDOPT_DTYPE_CUH
#define FUSEDOPT_DTYPE_CUH

#include <cstdint>

namespace fusedopt {

// A bfloat16 or float16 element as the arena stores it: 16 bits, one type each so loads pick the right widening.
struct Bf16 {
    uint16_t bits;
};
struct Fp16 {
    uint16_t bits;
};
static_assert(sizeof(Bf16) == 2 && sizeof(Fp16) == 2, "16-bit storage types");

constexpr uint16_t kCanonicalNan = 0x7FFF;

__host__ __device__ __forceinline__ uint32_t f32_bits(float x) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(x);
#else
    union { float f; uint32_t u; } c{x};
    return c.u;
#endif
}

__host__ __device__ __forceinline__ float f32_from_bits(uint32_t b) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(b);
#else
    union { uint32_t u; float f; } c{b};
    return c.f;
#endif
}

__host__ __device__ __forceinline__ float bf16_to_f32(uint32_t h) { return f32_from_bits(h << 16); }

__host__ __device__ __forceinline__ uint16_t f32_to_bf16(float x) {
#ifdef __CUDA_ARCH__
    // One instruction with the same result as the bit arithmetic below (round to nearest even, NaN -> 0x7FFF).
    uint16_t r;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(x));
    return r;
#endif
    const uint32_t b = f32_bits(x);
    if ((b & 0x7FFFFFFFu) > 0x7F800000u) return kCanonicalNan;
    return static_cast<uint16_t>((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

// random's low 16 bits decide: the result rounds up with the probability of the dropped fraction.
__host__ __device__ __forceinline__ uint16_t f32_to_bf16_stochastic(float x, uint32_t random) {
    const uint32_t b = f32_bits(x);
    const uint32_t a = b & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return kCanonicalNan;
    if (a == 0x7F800000u) return static_cast<uint16_t>(b >> 16);
    return static_cast<uint16_t>((b + (random & 0xFFFFu)) >> 16);
}

__host__ __device__ __forceinline__ float fp16_to_f32(uint32_t h) {
    const uint32_t sign = (h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1Fu;
    const uint32_t m = h & 0x3FFu;
    if (e == 0) {
        // m * 2^-24 is exact in float32.
        return f32_from_bits(sign | f32_bits(static_cast<float>(m) * 5.9604644775390625e-8f));
    }
    if (e == 31) return f32_from_bits(sign | 0x7F800000u | (m << 13));
    return f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));
}

__host__ __device__ __forceinline__ uint16_t f32_to_fp16(float x) {
#ifdef __CUDA_ARCH__
    // One instruction with the same result as the bit arithmetic below (nearest even, overflow to infinity,
    // subnormals kept, NaN -> 0x7FFF).
    uint16_t r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(x));
    return r;
#endif
    const uint32_t b = f32_bits(x);
    const uint32_t sign = (b >> 16) & 0x8000u;
    const uint32_t a = b & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return kCanonicalNan;
    if (a >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // |x| >= 65520: infinity
    if (a >= 0x38800000u) {
        const uint32_t r = a - 0x38000000u;
        return static_cast<uint16_t>(sign | ((r + 0xFFFu + ((r >> 13) & 1u)) >> 13));
    }
    if (a <= 0x33000000u) return static_cast<uint16_t>(sign);  // at most 2^-25: the tie goes to zero
    const uint32_t e = a >> 23;
    const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    const uint32_t s = 126u - e;
    uint32_t q = m >> s;
    const uint32_t rem = m & ((1u << s) - 1u);
    const uint32_t half = 1u << (s - 1u);
    if (rem > half || (rem == half && (q & 1u) != 0u)) ++q;
    return static_cast<uint16_t>(sign | q);
}

// to_f32 / from_f32 per storage type: float passes through.
__host__ __device__ __forceinline__ float to_f32(float x) { return x; }
__host__ __device__ __forceinline__ float to_f32(Bf16 x) { return bf16_to_f32(x.bits); }
__host__ __device__ __forceinline__ float to_f32(Fp16 x) { return fp16_to_f32(x.bits); }

template <class T>
__host__ __device__ __forceinline__ T from_f32(float x);
template <>
__host__ __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <>
__host__ __device__ __forceinline__ Bf16 from_f32<Bf16>(float x) { return Bf16{f32_to_bf16(x)}; }
template <>
__host__ __device__ __forceinline__ Fp16 from_f32<Fp16>(float x) { return Fp16{f32_to_fp16(x)}; }

// The counter-based generator of stochastic rounding: 32 bits from (seed, step, element index), the same on every
// backend and whatever thread or grid runs the element (io.fusedopt.core.StochasticRounding mirrors it).
__host__ __device__ __forceinline__ uint32_t sr_bits(uint64_t seed, uint64_t step, uint64_t index) {
    uint64_t z = seed ^ (step * 0x9E3779B97F4A7C15ull) ^ (index * 0xD1B54A32D192ED03ull);
    z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDull;
    z = (z ^ (z >> 33)) * 0xC4CEB9FE1A85EC53ull;
    z ^= z >> 33;
    return static_cast<uint32_t>(z);
}

}  // namespace fusedopt

#endif  // FUSEDOPT_DTYPE_CUH

// The interpreter shared by interp_warp.cpp (blocks, warps, barriers, the grid),
// interp_execute.cpp (instruction dispatch, float arithmetic), interp_arith.cpp (integer
// arithmetic, comparisons, conversions) and interp_memory.cpp (loads, stores, atomics and
// their checks). Internal to the stand-in, like everything in namespace emu.
#ifndef FUSEDOPT_EMU_INTERP_INTERNAL_H
#define FUSEDOPT_EMU_INTERP_INTERNAL_H

#include <cfenv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "ptx.h"

namespace emu {


constexpr uint32_t kCanonicalNaN32 = 0x7fffffffu;
constexpr uint64_t kCanonicalNaN64 = 0x7fffffffffffffffull;

inline float as_f32(uint64_t b) { uint32_t w = static_cast<uint32_t>(b); float f; std::memcpy(&f, &w, 4); return f; }
inline double as_f64(uint64_t b) { double d; std::memcpy(&d, &b, 8); return d; }
inline uint64_t bits32(float f) {
    uint32_t w;
    std::memcpy(&w, &f, 4);
    return w;
}
inline uint64_t bits64(double d) { uint64_t b; std::memcpy(&b, &d, 8); return b; }
// Float results: every NaN becomes the canonical NaN, as the GPU's arithmetic units produce it.
inline uint64_t fres32(float f) { return std::isnan(f) ? kCanonicalNaN32 : bits32(f); }
inline uint64_t fres64(double d) { return std::isnan(d) ? kCanonicalNaN64 : bits64(d); }
inline float ftz32(float f) { return std::fpclassify(f) == FP_SUBNORMAL ? std::copysign(0.0f, f) : f; }

// Fixed-size accesses: a memcpy of a variable length into a 64-bit local defeats store forwarding.
inline uint64_t load_n(const uint8_t* q, int n) {
    switch (n) {
        case 1: return *q;
        case 2: { uint16_t v; std::memcpy(&v, q, 2); return v; }
        case 4: { uint32_t v; std::memcpy(&v, q, 4); return v; }
        default: { uint64_t v; std::memcpy(&v, q, 8); return v; }
    }
}
inline void store_n(uint8_t* q, int n, uint64_t v) {
    switch (n) {
        case 1: *q = static_cast<uint8_t>(v); break;
        case 2: { uint16_t w = static_cast<uint16_t>(v); std::memcpy(q, &w, 2); break; }
        case 4: { uint32_t w = static_cast<uint32_t>(v); std::memcpy(q, &w, 4); break; }
        default: std::memcpy(q, &v, 8);
    }
}

inline uint64_t mask_of(int bytes) { return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1; }
inline int64_t sext(uint64_t v, int bytes) {
    if (bytes >= 8) return static_cast<int64_t>(v);
    int sh = 64 - 8 * bytes;
    return static_cast<int64_t>(v << sh) >> sh;
}

inline int fe_mode(uint8_t rnd) {
    switch (rnd) {
        case R_RZ: case R_RZI: return FE_TOWARDZERO;
        case R_RM: case R_RMI: return FE_DOWNWARD;
        case R_RP: case R_RPI: return FE_UPWARD;
        default: return FE_TONEAREST;
    }
}

// Sets the host rounding mode for one instruction and restores it.
struct Rounding {
    int saved = -1;
    explicit Rounding(uint8_t rnd) {
        int m = fe_mode(rnd);
        if (m != FE_TONEAREST) { saved = std::fegetround(); std::fesetround(m); }
    }
    ~Rounding() { if (saved >= 0) std::fesetround(saved); }
};

// Rounds a double to a binary float with `ebits` exponent and `mbits` fraction bits (f16: 5/10,
// bf16: 8/7) in the given mode; NaN becomes the canonical 0x7fff, as cvt does on the device.
inline uint32_t to_small_float(double x, int ebits, int mbits, uint8_t rnd, bool sat) {
    const uint32_t exp_mask = (1u << ebits) - 1, nan = 0x7fffu;
    if (std::isnan(x)) return sat ? 0 : nan;
    if (sat) x = x < 0 ? 0.0 : (x > 1 ? 1.0 : x);
    uint32_t sign = std::signbit(x) ? 1u << (ebits + mbits) : 0;
    double a = std::fabs(x);
    if (a == 0) return sign;
    const int bias = (1 << (ebits - 1)) - 1;
    uint32_t inf = sign | (exp_mask << mbits), maxfin = sign | ((exp_mask - 1) << mbits) | ((1u << mbits) - 1);
    bool up_away = (rnd == R_RP && !sign) || (rnd == R_RM && sign);
    bool toward_zero = rnd == R_RZ || (rnd == R_RP && sign) || (rnd == R_RM && !sign);
    if (std::isinf(a)) return inf;
    int e;
    std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1)
    int exp = std::max(e - 1, 1 - bias);
    double q = std::ldexp(a, mbits - exp);  // exact: scaling by a power of two
    double r;
    if (toward_zero) r = std::trunc(q);
    else if (up_away) r = std::ceil(q);
    else r = std::nearbyint(q);  // ties to even (the default host mode)
    uint64_t m = static_cast<uint64_t>(r);
    if (m >> (mbits + 1)) { m >>= 1; exp++; }
    if (exp > bias) return toward_zero ? maxfin : inf;
    if (m < (1ull << mbits)) return sign | static_cast<uint32_t>(m);  // subnormal or zero
    return sign | (static_cast<uint32_t>(exp + bias) << mbits) | static_cast<uint32_t>(m - (1ull << mbits));
}

inline double from_f16(uint32_t h) {
    int s = (h >> 15) & 1, e = (h >> 10) & 31, f = h & 1023;
    double v;
    if (e == 0) v = std::ldexp(f, -24);
    else if (e == 31) v = f ? NAN : INFINITY;
    else v = std::ldexp(f + 1024, e - 25);
    return s ? -v : v;
}
inline double from_bf16(uint32_t b) { return as_f32(static_cast<uint64_t>(b & 0xffff) << 16); }

struct Shadow {
    uint32_t w_epoch = 0, r_epoch = 0, init_epoch = 0;
    uint16_t w_tid = 0, r_tid = 0;
    uint16_t w_wep = 0, r_wep = 0;
    uint8_t r_multi = 0;
};

struct Warp {
    uint32_t pc = 0;
    uint32_t mask = 0;    // lanes executing code[pc] together
    uint32_t exist = 0;   // lanes that are threads of the block
    uint32_t exited = 0;
    uint32_t at_bar = 0;  // lanes waiting at a block barrier (their lane_pc is past it)
    uint16_t wep = 0;     // bar.warp.sync count, orders shared accesses within the warp
    uint32_t lane_pc[32];
};

class Launch {
public:
    Launch(const Function& fn, const LaunchConfig& cfg, const std::vector<MemRange>& mem, std::string& msg)
        : fn_(fn), p_(*fn.entry.program), cfg_(cfg), mem_(mem), msg_(msg) {}

    CUresult run(std::atomic<uint64_t>& next, std::atomic<bool>& stop, uint64_t& failed_block);

private:
    const Function& fn_;
    const Program& p_;
    const LaunchConfig& cfg_;
    const std::vector<MemRange>& mem_;
    std::string& msg_;
    std::vector<uint8_t> params_;
    unsigned nthreads_ = 0, nwarps_ = 0;
    int nregs_ = 1;
    size_t shared_size_ = 0;
    struct Buffers {
        std::vector<uint8_t> shared;
        std::vector<Shadow> shadow;
        std::vector<uint64_t> regs;
        std::vector<Warp> warps;
    };
    uint8_t* shared_ = nullptr;
    Shadow* shadow_ = nullptr;
    uint64_t* regs_ = nullptr;
    Warp* warps_ = nullptr;
    unsigned ctaid_[3] = {0, 0, 0};
    uint32_t epoch_ = 0, block_epoch_ = 0;  // barrier intervals, counted over the whole launch
    const MemRange* last_ = nullptr;
    uint64_t* R_ = nullptr;  // registers of the running warp: R_[slot * 32 + lane]
    unsigned w_ = 0;         // the running warp
    uint64_t clock_ = 0;

    CUresult report(CUresult code, const Insn& in, int lane, const std::string& what);

    uint64_t sreg(uint8_t s, int lane);

    inline uint64_t raw(const Operand& o, int l) {
        switch (o.kind) {
            case K_REG: return o.negate ? (R_[o.reg * 32 + l] == 0) : R_[o.reg * 32 + l];
            case K_IMM: return o.imm;
            case K_SREG: return sreg(o.sreg, l);
            default: return 0;
        }
    }
    const VecOperand& vec(const Operand& o) const { return p_.vectors[o.imm]; }
    inline uint64_t vec_elem(const Operand& o, int k, int l) const {
        const VecOperand& v = vec(o);
        return v.slot[k] >= 0 ? R_[v.slot[k] * 32 + l] : (v.slot[k] == kVecImm ? v.imm[k] : 0);
    }
    inline void put(const Operand& o, int l, uint64_t v) {
        if (o.kind == K_REG) R_[o.reg * 32 + l] = v;
    }
    inline bool pred(int slot, int l) { return R_[slot * 32 + l] != 0; }

    const MemRange* find(uintptr_t a, size_t n);

    std::string describe_global(uintptr_t a, size_t n);

    uint8_t* locate(const Insn& in, int l, uint64_t a, size_t n, bool store, uint8_t space, CUresult& err,
                    bool& is_shared);

    CUresult check_shared(const Insn& in, int l, size_t off, size_t n, bool store, bool atomic);

    bool reselect(Warp& w);
    void park(Warp& w);

    CUresult block();

    CUresult release_barrier();

    CUresult check_members(Warp& w, const Insn& in, uint32_t em, uint32_t members, const char* what);

    CUresult run_warp(unsigned wi);

    // ---- instructions ----------------------------------------------------------------------------------
#define LANES(em) for (uint32_t mm_ = (em); mm_; mm_ &= mm_ - 1) if (int l = __builtin_ctz(mm_); true)

    CUresult execute(Warp& w, const Insn& in, uint32_t em);

    template <class F>
    static F flush(F v, bool ftz) {
        if constexpr (sizeof(F) == 4) return ftz ? ftz32(v) : v;
        else return v;
    }
    template <class F>
    static F get(uint64_t b) {
        if constexpr (sizeof(F) == 4) return as_f32(b);
        else return as_f64(b);
    }
    template <class F>
    static uint64_t res(F v) {
        if constexpr (sizeof(F) == 4) return fres32(v);
        else return fres64(v);
    }
    template <class F>
    static uint64_t bitsof(F v) {
        if constexpr (sizeof(F) == 4) return bits32(v);
        else return bits64(v);
    }

    // Register or immediate: float operands are never special registers.
    inline uint64_t ri(const Operand& o, int l) const { return o.kind == K_REG ? R_[o.reg * 32 + l] : o.imm; }

    bool fast_f32(const Insn& in, uint32_t em);

    template <class F>
    CUresult float_op(const Insn& in, uint32_t em);

    CUresult int_op(const Insn& in, uint32_t em, int nb, bool sgn);

    CUresult compare(const Insn& in, uint32_t em);

    CUresult convert(const Insn& in, uint32_t em);

    CUresult memory(const Insn& in, uint32_t em);

    CUresult atomic(const Insn& in, uint32_t em);
};

}  // namespace emu

#endif

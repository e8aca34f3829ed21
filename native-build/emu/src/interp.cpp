// Executes decoded PTX (ptx.h) the way a GPU schedules it, as far as results
// can tell: blocks one after another; within a block, warps of 32 lanes in
// lockstep, a warp running until all its lanes wait at a barrier or exit.
// Divergent lanes are parked and the lanes with the lowest program counter
// run first, so lanes meet again where the branches join. Every global access
// is checked against the live allocations, every shared access for bounds,
// races between barriers and reads of never-written bytes; the first problem
// stops the launch with a report naming the kernel, the PTX line and the
// address. IEEE rules and their sources: native-build/emu/README.md.
// Launch holds one worker's state of a launch: operands, memory accesses and their checks,
// scheduling and barriers, then the instructions.
#include <cfenv>
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

namespace {

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
inline uint32_t to_small_float(double x, int ebits, int mbits, uint8_t rnd) {
    const uint32_t exp_mask = (1u << ebits) - 1, nan = 0x7fffu;
    if (std::isnan(x)) return nan;
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

// What the race and initialisation checks know of one shared byte: its last write (barrier interval,
// thread, bar.warp.sync count), which also tells whether this block has written it, and its last read.
struct Shadow {
    uint32_t w_epoch = 0, r_epoch = 0;
    uint16_t w_tid = 0, r_tid = 0;
    uint16_t w_wep = 0, r_wep = 0;
    uint8_t r_multi = 0;  // read by more than one thread in r_epoch
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

// Atomics of blocks running on different worker threads take turns under this lock.
std::mutex g_atomic_mu;

class Launch {
public:
    Launch(const Function& fn, const LaunchConfig& cfg, const std::vector<MemRange>& mem, std::string& msg)
        : fn_(fn), p_(*fn.entry.program), cfg_(cfg), mem_(mem), msg_(msg) {}

    // Runs the blocks whose linear index this worker takes from `next`, until all are taken or
    // another worker failed. Returns the first failure with the index of its block in failed_block.
    CUresult run(std::atomic<uint64_t>& next, std::atomic<bool>& stop, uint64_t& failed_block) {
        const PtxEntry& e = fn_.entry;
        params_.assign(e.param_bytes + 8, 0);
        for (size_t i = 0; i < e.params.size(); i++)
            std::memcpy(params_.data() + e.params[i].offset, cfg_.args[i], e.params[i].bytes);
        nthreads_ = cfg_.block[0] * cfg_.block[1] * cfg_.block[2];
        nwarps_ = (nthreads_ + 31) / 32;
        nregs_ = std::max(1, p_.num_regs);
        shared_size_ = p_.static_shared + cfg_.dynamic_smem;
        // Buffers are kept per thread between launches: allocating them afresh costs page faults on
        // every launch, which dominates the many tiny launches of a training loop.
        thread_local Buffers buffers;
        buffers.shared.resize(shared_size_ + 16);
        buffers.shadow.assign(shared_size_ + 16, Shadow());
        size_t nreg_words = static_cast<size_t>(nwarps_) * nregs_ * 32;
        if (buffers.regs.size() < nreg_words) buffers.regs.resize(nreg_words);
        buffers.warps.resize(nwarps_);
        shared_ = buffers.shared.data();
        shadow_ = buffers.shadow.data();
        regs_ = buffers.regs.data();
        warps_ = buffers.warps.data();
        const uint64_t total = static_cast<uint64_t>(cfg_.grid[0]) * cfg_.grid[1] * cfg_.grid[2];
        for (uint64_t b; !stop.load(std::memory_order_relaxed) && (b = next.fetch_add(1)) < total;) {
            ctaid_[0] = static_cast<unsigned>(b % cfg_.grid[0]);
            ctaid_[1] = static_cast<unsigned>((b / cfg_.grid[0]) % cfg_.grid[1]);
            ctaid_[2] = static_cast<unsigned>(b / (static_cast<uint64_t>(cfg_.grid[0]) * cfg_.grid[1]));
            if (CUresult r = block()) {
                failed_block = b;
                stop.store(true);
                return r;
            }
        }
        return OK;
    }

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

    // ---- reports ---------------------------------------------------------------------------------------
    CUresult report(CUresult code, const Insn& in, int lane, const std::string& what) {
        unsigned t = w_ * 32 + static_cast<unsigned>(lane);
        unsigned tx = t % cfg_.block[0], ty = (t / cfg_.block[0]) % cfg_.block[1],
                 tz = t / (cfg_.block[0] * cfg_.block[1]);
        size_t idx = static_cast<size_t>(&in - p_.code.data());
        char buf[256];
        std::snprintf(buf, sizeof buf, "kernel %s, PTX line %d `%s`, block (%u,%u,%u) thread (%u,%u,%u): ",
                      p_.entry.c_str(), in.line, idx < p_.lines.size() ? p_.lines[idx].c_str() : "?", ctaid_[0],
                      ctaid_[1], ctaid_[2], tx, ty, tz);
        msg_ = buf + what;
        return code;
    }

    // ---- operands --------------------------------------------------------------------------------------
    uint64_t sreg(uint8_t s, int lane) {
        unsigned t = w_ * 32 + static_cast<unsigned>(lane);
        switch (s) {
            case SR_TID_X: return t % cfg_.block[0];
            case SR_TID_Y: return (t / cfg_.block[0]) % cfg_.block[1];
            case SR_TID_Z: return t / (cfg_.block[0] * cfg_.block[1]);
            case SR_NTID_X: return cfg_.block[0];
            case SR_NTID_Y: return cfg_.block[1];
            case SR_NTID_Z: return cfg_.block[2];
            case SR_CTAID_X: return ctaid_[0];
            case SR_CTAID_Y: return ctaid_[1];
            case SR_CTAID_Z: return ctaid_[2];
            case SR_NCTAID_X: return cfg_.grid[0];
            case SR_NCTAID_Y: return cfg_.grid[1];
            default: return cfg_.grid[2];  // SR_NCTAID_Z
        }
    }

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

    // ---- memory: global and shared accesses and their checks (bounds, freed memory, alignment, shared-memory
    // races and uninitialised reads): ld, st, atom -------------------------------------------------------
    // Where a global access of n bytes at a lands; null when it is not inside one live allocation.
    const MemRange* find(uintptr_t a, size_t n) {
        if (last_ != nullptr && a >= last_->lo && a + n <= last_->hi && !last_->freed) return last_;
        auto it = std::upper_bound(mem_.begin(), mem_.end(), a, [](uintptr_t v, const MemRange& r) { return v < r.lo; });
        if (it == mem_.begin()) return nullptr;
        --it;
        if (a + n <= it->hi && !it->freed) { last_ = &*it; return last_; }
        return nullptr;
    }

    std::string describe_global(uintptr_t a, size_t n) {
        auto it = std::upper_bound(mem_.begin(), mem_.end(), a, [](uintptr_t v, const MemRange& r) { return v < r.lo; });
        char buf[256];
        if (it != mem_.begin()) {
            --it;
            if (a < it->hi && it->freed) {
                std::snprintf(buf, sizeof buf, "use after free: 0x%llx is %llu bytes into a %llu-byte allocation at 0x%llx "
                              "that was freed", (unsigned long long)a, (unsigned long long)(a - it->lo),
                              (unsigned long long)(it->hi - it->lo), (unsigned long long)it->lo);
                return buf;
            }
            if (!it->freed) {
                std::snprintf(buf, sizeof buf, "out of bounds: [0x%llx, +%zu) ends %llu bytes past the end of the "
                              "%llu-byte allocation at 0x%llx", (unsigned long long)a, n,
                              (unsigned long long)(a + n - it->hi), (unsigned long long)(it->hi - it->lo),
                              (unsigned long long)it->lo);
                return buf;
            }
        }
        std::snprintf(buf, sizeof buf, "out of bounds: 0x%llx is not inside any live device allocation",
                      (unsigned long long)a);
        return buf;
    }

    // Resolves the memory of one lane's access: host pointer, or null after reporting.
    uint8_t* locate(const Insn& in, int l, uint64_t a, size_t n, bool store, uint8_t space, CUresult& err,
                    bool& is_shared) {
        const char* kind = store ? "store" : "load";
        is_shared = false;
        if ((a & (n - 1)) != 0 && space != S_PARAM) {  // n is a power of two
            char buf[160];
            std::snprintf(buf, sizeof buf, "misaligned %zu-byte %s at 0x%llx", n, kind, (unsigned long long)a);
            err = report(E_MISALIGNED_ADDRESS, in, l, buf);
            return nullptr;
        }
        if (space == S_PARAM) {
            if (store || a + n > params_.size()) { err = report(E_ILLEGAL_ADDRESS, in, l, "parameter access out of range"); return nullptr; }
            return params_.data() + a;
        }
        if (space == S_GENERIC && a >= kSharedWindow && a < kSharedWindow + kSharedWindowSize) {
            a -= kSharedWindow;
            space = S_SHARED;
        }
        if (space == S_SHARED) {
            if (a >= kSharedWindow) a -= kSharedWindow;
            if (a + n > shared_size_) {
                char buf[200];
                std::snprintf(buf, sizeof buf, "shared-memory %s of %zu bytes at offset %llu is out of bounds (the block "
                              "has %zu bytes of shared memory)", kind, n, (unsigned long long)a, shared_size_);
                err = report(E_ILLEGAL_ADDRESS, in, l, buf);
                return nullptr;
            }
            is_shared = true;
            return shared_ + a;
        }
        if (find(a, n) == nullptr) {
            err = report(E_ILLEGAL_ADDRESS, in, l, std::string("global ") + kind + " of " + std::to_string(n) +
                                                      " bytes: " + describe_global(a, n));
            return nullptr;
        }
        return reinterpret_cast<uint8_t*>(a);
    }

    // Race and initialisation checks of one lane's shared access of n bytes at offset off.
    CUresult check_shared(const Insn& in, int l, size_t off, size_t n, bool store, bool atomic) {
        uint16_t tid = static_cast<uint16_t>(w_ * 32 + l);
        uint16_t wep = warps_[w_].wep;
        auto ordered = [&](uint16_t other, uint16_t other_wep) {
            return other == tid || (other / 32 == tid / 32 && other_wep != wep);
        };
        for (size_t k = 0; k < n; k++) {
            Shadow& s = shadow_[off + k];
            bool mine = s.w_epoch >= block_epoch_;  // stamps of earlier blocks do not count
            if (!store || atomic) {
                if (!mine)
                    return report(E_LAUNCH_FAILED, in, l, "read of uninitialised shared memory at offset " +
                                                             std::to_string(off + k) + " (never written in this block)");
                if (mine && s.w_epoch == epoch_ && !ordered(s.w_tid, s.w_wep) && !atomic)
                    return report(E_LAUNCH_FAILED, in, l, "shared-memory race: offset " + std::to_string(off + k) +
                                                             " read after thread " + std::to_string(s.w_tid) +
                                                             " wrote it with no barrier in between");
                if (s.r_epoch == epoch_ && s.r_tid != tid) s.r_multi = 1;
                else if (s.r_epoch != epoch_) s.r_multi = 0;
                s.r_tid = tid;
                s.r_epoch = epoch_;
                s.r_wep = wep;
            }
            if (store) {
                if (!atomic && mine && s.w_epoch == epoch_ && !ordered(s.w_tid, s.w_wep))
                    return report(E_LAUNCH_FAILED, in, l, "shared-memory race: offset " + std::to_string(off + k) +
                                                             " written by thread " + std::to_string(s.w_tid) +
                                                             " and this thread with no barrier in between");
                if (!atomic && s.r_epoch == epoch_ && s.r_epoch >= block_epoch_ &&
                    (s.r_multi || !ordered(s.r_tid, s.r_wep)))
                    return report(E_LAUNCH_FAILED, in, l, "shared-memory race: offset " + std::to_string(off + k) +
                                                             " written after thread " + std::to_string(s.r_tid) +
                                                             " read it with no barrier in between");
                s.w_epoch = epoch_;
                s.w_tid = tid;
                s.w_wep = wep;
            }
        }
        return OK;
    }

    // ---- scheduling ------------------------------------------------------------------------------------
    // Picks the runnable lanes with the lowest program counter; false when none can run.
    bool reselect(Warp& w) {
        uint32_t runnable = w.exist & ~w.exited & ~w.at_bar;
        if (runnable == 0) { w.mask = 0; return false; }
        uint32_t best = UINT32_MAX;
        for (uint32_t m = runnable; m; m &= m - 1) best = std::min(best, w.lane_pc[__builtin_ctz(m)]);
        uint32_t mask = 0;
        for (uint32_t m = runnable; m; m &= m - 1) {
            int l = __builtin_ctz(m);
            if (w.lane_pc[l] == best) mask |= 1u << l;
        }
        w.pc = best;
        w.mask = mask;
        return true;
    }
    void park(Warp& w) {
        for (uint32_t m = w.mask; m; m &= m - 1) w.lane_pc[__builtin_ctz(m)] = w.pc;
    }

    CUresult block() {
        block_epoch_ = ++epoch_;
        // Uninitialised shared memory reads as NaN where the checks are not the point.
        fill_nan_pattern(shared_, shared_size_);
        // Registers are not cleared: nvcc's PTX writes every register before reading it, and clearing
        // them for every block of a large grid would cost more than running most blocks.
        for (unsigned i = 0; i < nwarps_; i++) {
            Warp& w = warps_[i];
            w = Warp();
            unsigned n = std::min(32u, nthreads_ - i * 32);
            w.exist = n == 32 ? ~0u : (1u << n) - 1;
            w.mask = w.exist;
            w.pc = 0;
        }
        for (;;) {
            for (unsigned i = 0; i < nwarps_; i++) {
                if (warps_[i].mask == 0) continue;
                if (CUresult r = run_warp(i)) return r;
            }
            unsigned waiting = 0, exited = 0;
            const Insn* bar = nullptr;
            for (unsigned i = 0; i < nwarps_; i++) {
                Warp& w = warps_[i];
                waiting += __builtin_popcount(w.at_bar);
                exited += __builtin_popcount(w.exited);
                if (w.at_bar && bar == nullptr) bar = &p_.code[w.lane_pc[__builtin_ctz(w.at_bar)] - 1];
            }
            if (waiting == 0) return OK;
            if (exited > 0) {
                w_ = 0;
                return report(E_LAUNCH_FAILED, *bar, 0, std::to_string(exited) + " of " + std::to_string(nthreads_) +
                                                           " threads exited without reaching this bar.sync "
                                                           "(__syncthreads); the others wait for them");
            }
            if (CUresult r = release_barrier()) return r;
        }
    }

    CUresult release_barrier() {
        // bar.red: every waiting thread contributes its predicate; all get the block's result.
        const Insn* red = nullptr;
        uint64_t count = 0;
        bool all = true, any = false;
        for (unsigned i = 0; i < nwarps_; i++) {
            Warp& w = warps_[i];
            R_ = regs_ + static_cast<size_t>(i) * nregs_ * 32;
            w_ = i;
            for (uint32_t m = w.at_bar; m; m &= m - 1) {
                int l = __builtin_ctz(m);
                const Insn& in = p_.code[w.lane_pc[l] - 1];
                if (in.op != OP_BAR_RED) continue;
                if (red != nullptr && red != &in)
                    return report(E_LAUNCH_FAILED, in, l, "threads wait at different bar.red instructions");
                red = &in;
                bool v = raw(in.o[in.nops - 1], l) != 0;
                count += v;
                all = all && v;
                any = any || v;
            }
        }
        for (unsigned i = 0; i < nwarps_; i++) {
            Warp& w = warps_[i];
            R_ = regs_ + static_cast<size_t>(i) * nregs_ * 32;
            if (red != nullptr) {
                uint64_t v = red->sub == X_POPC ? count : (red->sub == X_AND ? all : any);
                for (uint32_t m = w.at_bar; m; m &= m - 1) put(red->o[0], __builtin_ctz(m), v);
            }
            w.at_bar = 0;
            reselect(w);
        }
        epoch_++;
        return OK;
    }

    // Lanes of membermask that cannot take part in a warp-synchronous instruction with the executing lanes.
    CUresult check_members(Warp& w, const Insn& in, uint32_t em, uint32_t members, const char* what) {
        uint32_t needed = members & w.exist & ~w.exited;
        uint32_t missing = needed & ~em;
        if (missing != 0 || (em & ~members) != 0) {
            char buf[240];
            std::snprintf(buf, sizeof buf, "%s with membermask 0x%08x is executed by lanes 0x%08x; lanes 0x%08x are "
                          "elsewhere (diverged or at a barrier), so the warp can never continue",
                          what, members, em, missing);
            return report(E_LAUNCH_FAILED, in, __builtin_ctz(em), buf);
        }
        return OK;
    }

    CUresult run_warp(unsigned wi) {
        Warp& w = warps_[wi];
        w_ = wi;
        R_ = regs_ + static_cast<size_t>(wi) * nregs_ * 32;
        const Insn* code = p_.code.data();
        while (w.mask != 0) {
            const Insn& in = code[w.pc];
            // Parked lanes first: usually there are none, a branch the host predicts well.
            if ((w.exist & ~w.exited & ~w.at_bar & ~w.mask) != 0 && in.is_target) {
                park(w);
                uint32_t before = w.mask;
                reselect(w);
                if (w.mask != before || &code[w.pc] != &in) continue;
            }
            uint32_t em = w.mask;
            if (in.guard >= 0) {
                uint32_t g = 0;
                for (uint32_t m = em; m; m &= m - 1) {
                    int l = __builtin_ctz(m);
                    if (pred(in.guard, l) != in.guard_negated) g |= 1u << l;
                }
                em = g;
            }
            switch (in.op) {
                case OP_BRA: {
                    if (em == w.mask) { w.pc = static_cast<uint32_t>(in.target); break; }
                    if (em == 0) { w.pc++; break; }
                    for (uint32_t m = w.mask; m; m &= m - 1) {
                        int l = __builtin_ctz(m);
                        w.lane_pc[l] = (em >> l) & 1 ? static_cast<uint32_t>(in.target) : w.pc + 1;
                    }
                    reselect(w);
                    break;
                }
                case OP_RET: {
                    w.exited |= em;
                    uint32_t rest = w.mask & ~em;
                    if (rest) { w.mask = rest; w.pc++; }
                    else { w.mask = 0; park(w); reselect(w); }
                    break;
                }
                case OP_BAR: case OP_BAR_RED: {
                    // bar.sync a{, b}; bar.red.op d, a{, b}, c
                    const int first = in.op == OP_BAR_RED ? 1 : 0;
                    const bool counted = in.op == OP_BAR_RED ? in.nops == 4 : in.nops == 2;
                    if (counted && (in.o[first + 1].kind != K_IMM || in.o[first + 1].imm != nthreads_))
                        return report(E_NOT_SUPPORTED, in, __builtin_ctz(em | 1),
                                      "bar.sync with a thread count other than the block's is not supported");
                    if (in.o[first].kind != K_IMM || in.o[first].imm != 0)
                        return report(E_NOT_SUPPORTED, in, __builtin_ctz(em | 1), "only barrier 0 is supported");
                    for (uint32_t m = em; m; m &= m - 1) w.lane_pc[__builtin_ctz(m)] = w.pc + 1;
                    w.at_bar |= em;
                    uint32_t rest = w.mask & ~em;
                    if (rest) { w.mask = rest; w.pc++; }
                    else { w.mask = 0; reselect(w); }
                    break;
                }
                default:
                    if (em != 0) {
                        if (CUresult r = execute(w, in, em)) return r;
                    }
                    w.pc++;
            }
        }
        return OK;
    }

    // ---- instructions ----------------------------------------------------------------------------------
#define LANES(em) for (uint32_t mm_ = (em); mm_; mm_ &= mm_ - 1) if (int l = __builtin_ctz(mm_); true)

    CUresult execute(Warp& w, const Insn& in, uint32_t em) {
        const int nb = ty_bytes(in.t);
        const uint64_t msk = mask_of(nb);
        const bool sgn = ty_signed(in.t);
        const Operand* o = in.o;
        switch (in.op) {
            case OP_MOV: {
                if (o[1].kind == K_VEC) {  // pack
                    int part = nb / o[1].count * 8;
                    LANES(em) {
                        uint64_t v = 0;
                        for (int k = 0; k < o[1].count; k++)
                            v |= (vec_elem(o[1], k, l) & mask_of(part / 8)) << (k * part);
                        put(o[0], l, v);
                    }
                } else if (o[0].kind == K_VEC) {  // unpack
                    int part = nb / o[0].count * 8;
                    LANES(em) {
                        uint64_t v = raw(o[1], l);
                        for (int k = 0; k < o[0].count; k++)
                            if (vec(o[0]).slot[k] >= 0) R_[vec(o[0]).slot[k] * 32 + l] = (v >> (k * part)) & mask_of(part / 8);
                    }
                } else if (in.t == Ty::pred) {
                    LANES(em) put(o[0], l, raw(o[1], l) != 0);
                } else {
                    LANES(em) put(o[0], l, raw(o[1], l) & msk);
                }
                return OK;
            }
            case OP_ADD: case OP_SUB: case OP_MUL: case OP_MAD: case OP_FMA: case OP_DIV: case OP_MIN:
            case OP_MAX: case OP_REM: case OP_ABS: case OP_NEG: case OP_SQRT: case OP_RCP: case OP_EX2:
                if (in.t == Ty::f32) return float_op<float>(in, em);
                if (in.t == Ty::f64) return float_op<double>(in, em);
                return int_op(in, em, nb, sgn);
            case OP_AND: case OP_OR: case OP_XOR:
                LANES(em) {
                    uint64_t a = raw(o[1], l), b = raw(o[2], l), r;
                    r = in.op == OP_AND ? a & b : in.op == OP_OR ? a | b : a ^ b;
                    put(o[0], l, in.t == Ty::pred ? (r & 1) : r & msk);
                }
                return OK;
            case OP_NOT:
                LANES(em) put(o[0], l, in.t == Ty::pred ? !raw(o[1], l) : ~raw(o[1], l) & msk);
                return OK;
            case OP_SHL: case OP_SHR:
                LANES(em) {
                    uint64_t a = raw(o[1], l) & msk;
                    uint32_t b = static_cast<uint32_t>(raw(o[2], l));
                    unsigned bits = static_cast<unsigned>(nb * 8);
                    uint64_t r;
                    if (in.op == OP_SHL) r = b >= bits ? 0 : (a << b) & msk;
                    else if (sgn) r = static_cast<uint64_t>(sext(a, nb) >> std::min(b, bits - 1)) & msk;
                    else r = b >= bits ? 0 : a >> b;
                    put(o[0], l, r);
                }
                return OK;
            case OP_SETP: return compare(in, em);
            case OP_SELP:
                LANES(em) put(o[0], l, (raw(o[3], l) != 0 ? raw(o[1], l) : raw(o[2], l)) & msk);
                return OK;
            case OP_CVT: return convert(in, em);
            case OP_CVTA:
                LANES(em) {
                    uint64_t a = raw(o[1], l);
                    if (in.space == S_SHARED) a = (in.flags & F_TO) ? a - kSharedWindow : a + kSharedWindow;
                    put(o[0], l, a & msk);
                }
                return OK;
            case OP_LD: case OP_ST: return memory(in, em);
            case OP_ATOM: return atomic(in, em);
            case OP_ACTIVEMASK:
                LANES(em) put(o[0], l, em);
                return OK;
            case OP_BAR_WARP: {
                uint32_t members = static_cast<uint32_t>(raw(o[0], __builtin_ctz(em)));
                if (CUresult r = check_members(w, in, em, members, "bar.warp.sync (__syncwarp)")) return r;
                w.wep++;
                return OK;
            }
            case OP_VOTE: {
                uint32_t members = static_cast<uint32_t>(raw(o[2], __builtin_ctz(em)));
                if (CUresult r = check_members(w, in, em, members, "vote.sync")) return r;
                uint32_t ballot = 0;
                LANES(em) if (raw(o[1], l) != 0) ballot |= 1u << l;
                uint64_t r;
                switch (in.sub) {
                    case X_ALL: r = ballot == em; break;
                    case X_ANY: r = ballot != 0; break;
                    case X_UNI: r = ballot == 0 || ballot == em; break;
                    default: r = ballot;
                }
                LANES(em) put(o[0], l, r);
                return OK;
            }
            case OP_SHFL: {
                uint32_t members = static_cast<uint32_t>(raw(o[4], __builtin_ctz(em)));
                if (CUresult r = check_members(w, in, em, members, "shfl.sync")) return r;
                uint64_t src[32];
                LANES(w.exist & ~w.exited) src[l] = raw(o[1], l) & 0xffffffffu;
                const Operand& d = o[0];
                LANES(em) {
                    uint32_t b = static_cast<uint32_t>(raw(o[2], l)) & 31, c = static_cast<uint32_t>(raw(o[3], l));
                    uint32_t seg = (c >> 8) & 31, clamp = c & 31;
                    uint32_t lane = static_cast<uint32_t>(l), max_lane = (lane & seg) | (clamp & ~seg),
                             min_lane = lane & seg;
                    int64_t j;
                    bool ok;
                    switch (in.sub) {
                        case X_UP: j = static_cast<int64_t>(lane) - b; ok = j >= max_lane; break;
                        case X_DOWN: j = lane + b; ok = j <= max_lane; break;
                        case X_BFLY: j = lane ^ b; ok = j <= max_lane; break;
                        default: j = min_lane | (b & ~seg); ok = j <= max_lane; break;
                    }
                    if (!ok) j = lane;
                    // A source lane outside the executing set gives no defined value; the lane keeps its own.
                    uint64_t v = (em >> j) & 1 ? src[j] : src[l];
                    if (d.kind == K_VEC) {
                        if (vec(d).slot[0] >= 0) R_[vec(d).slot[0] * 32 + l] = v;
                        if (vec(d).slot[1] >= 0) R_[vec(d).slot[1] * 32 + l] = ok;
                    } else {
                        put(d, l, v);
                    }
                }
                return OK;
            }
            default: {
                size_t idx = static_cast<size_t>(&in - p_.code.data());
                return report(E_ILLEGAL_INSTRUCTION, in, __builtin_ctz(em), "not executable: " + p_.lines[idx]);
            }
        }
    }

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

    // The common f32 forms (round to nearest, no .ftz, register or immediate operands)
    // without the general path's per-lane mode checks. False when the instruction is not one of them.
    bool fast_f32(const Insn& in, uint32_t em) {
        if ((in.rnd != R_NONE && in.rnd != R_RN) || (in.flags & F_FTZ) || in.o[0].kind != K_REG) return false;
        const Operand* o = in.o;
        uint64_t* d = R_ + o[0].reg * 32;
        switch (in.op) {
            case OP_ADD: LANES(em) d[l] = fres32(as_f32(ri(o[1], l)) + as_f32(ri(o[2], l))); return true;
            case OP_SUB: LANES(em) d[l] = fres32(as_f32(ri(o[1], l)) - as_f32(ri(o[2], l))); return true;
            case OP_MUL: LANES(em) d[l] = fres32(as_f32(ri(o[1], l)) * as_f32(ri(o[2], l))); return true;
            case OP_DIV: LANES(em) d[l] = fres32(as_f32(ri(o[1], l)) / as_f32(ri(o[2], l))); return true;
            case OP_FMA: case OP_MAD:
                LANES(em) d[l] = fres32(std::fma(as_f32(ri(o[1], l)), as_f32(ri(o[2], l)), as_f32(ri(o[3], l))));
                return true;
            case OP_SQRT: LANES(em) d[l] = fres32(std::sqrt(as_f32(ri(o[1], l)))); return true;
            default: return false;
        }
    }

    template <class F>
    CUresult float_op(const Insn& in, uint32_t em) {
        if constexpr (sizeof(F) == 4) {
            if (fast_f32(in, em)) return OK;
        }
        const Operand* o = in.o;
        const bool ftz = (in.flags & F_FTZ) != 0;  // no .sat: the reader allows it on cvt only
        Rounding rounding(in.rnd);
        auto fin = [&](F r) -> uint64_t { return res(flush(r, ftz)); };
        switch (in.op) {
            case OP_ADD: LANES(em) put(o[0], l, fin(flush(get<F>(raw(o[1], l)), ftz) + flush(get<F>(raw(o[2], l)), ftz))); break;
            case OP_SUB: LANES(em) put(o[0], l, fin(flush(get<F>(raw(o[1], l)), ftz) - flush(get<F>(raw(o[2], l)), ftz))); break;
            case OP_MUL: LANES(em) put(o[0], l, fin(flush(get<F>(raw(o[1], l)), ftz) * flush(get<F>(raw(o[2], l)), ftz))); break;
            case OP_FMA: case OP_MAD:
                LANES(em) put(o[0], l, fin(std::fma(flush(get<F>(raw(o[1], l)), ftz), flush(get<F>(raw(o[2], l)), ftz),
                                                    flush(get<F>(raw(o[3], l)), ftz))));
                break;
            case OP_DIV: LANES(em) put(o[0], l, fin(flush(get<F>(raw(o[1], l)), ftz) / flush(get<F>(raw(o[2], l)), ftz))); break;
            case OP_SQRT: LANES(em) put(o[0], l, fin(std::sqrt(flush(get<F>(raw(o[1], l)), ftz)))); break;
            case OP_RCP: LANES(em) put(o[0], l, fin(F(1) / flush(get<F>(raw(o[1], l)), ftz))); break;
            case OP_EX2: LANES(em) put(o[0], l, fin(std::exp2(flush(get<F>(raw(o[1], l)), ftz)))); break;
            case OP_ABS: case OP_NEG: {
                // Sign-bit operations: NaN payloads pass through as the hardware does.
                const uint64_t sign = sizeof(F) == 4 ? 0x80000000ull : 0x8000000000000000ull;
                LANES(em) {
                    uint64_t b = bitsof(flush(get<F>(raw(o[1], l)), ftz));
                    put(o[0], l, in.op == OP_ABS ? b & ~sign : b ^ sign);
                }
                break;
            }
            case OP_MIN: case OP_MAX:
                LANES(em) {
                    F a = flush(get<F>(raw(o[1], l)), ftz), b = flush(get<F>(raw(o[2], l)), ftz);
                    bool an = std::isnan(a), bn = std::isnan(b);
                    F r;
                    if (an || bn) {
                        if ((in.flags & F_NANMODE) || (an && bn)) r = get<F>(sizeof(F) == 4 ? kCanonicalNaN32 : kCanonicalNaN64);
                        else r = an ? b : a;
                    } else if (a == b) {
                        // -0 is below +0 for min and max.
                        bool neg = in.op == OP_MIN ? (std::signbit(a) || std::signbit(b)) : (std::signbit(a) && std::signbit(b));
                        r = std::copysign(a, neg ? F(-1) : F(1));
                    } else {
                        r = in.op == OP_MIN ? (a < b ? a : b) : (a > b ? a : b);
                    }
                    put(o[0], l, res(r));
                }
                break;
            default: return report(E_ILLEGAL_INSTRUCTION, in, __builtin_ctz(em), "unsupported float operation");
        }
        return OK;
    }

    CUresult int_op(const Insn& in, uint32_t em, int nb, bool sgn) {
        const Operand* o = in.o;
        const uint64_t msk = mask_of(nb);
        const bool wide = (in.flags & F_WIDE) != 0, hi = (in.flags & F_HI) != 0;
        const int out_bytes = wide ? nb * 2 : nb;
        auto val = [&](const Operand& op, int l) -> int64_t {
            uint64_t v = raw(op, l) & msk;
            return sgn ? sext(v, nb) : static_cast<int64_t>(v);
        };
        auto product = [&](int64_t a, int64_t b) -> uint64_t {
            if (sgn) {
                __int128 p = static_cast<__int128>(a) * b;
                if (wide) return static_cast<uint64_t>(p) & mask_of(out_bytes);
                if (hi) return static_cast<uint64_t>(p >> (nb * 8)) & msk;
                return static_cast<uint64_t>(p) & msk;
            }
            unsigned __int128 p = static_cast<unsigned __int128>(static_cast<uint64_t>(a)) * static_cast<uint64_t>(b);
            if (wide) return static_cast<uint64_t>(p) & mask_of(out_bytes);
            if (hi) return static_cast<uint64_t>(p >> (nb * 8)) & msk;
            return static_cast<uint64_t>(p) & msk;
        };
        if (o[0].kind == K_REG && (in.op == OP_ADD || in.op == OP_SUB)) {  // the address arithmetic of every kernel
            uint64_t* d = R_ + o[0].reg * 32;
            if (in.op == OP_ADD) { LANES(em) d[l] = (raw(o[1], l) + raw(o[2], l)) & msk; }
            else { LANES(em) d[l] = (raw(o[1], l) - raw(o[2], l)) & msk; }
            return OK;
        }
        switch (in.op) {  // no .sat: the reader refuses it on integer arithmetic
            case OP_ADD: LANES(em) put(o[0], l, (raw(o[1], l) + raw(o[2], l)) & msk); break;
            case OP_SUB: LANES(em) put(o[0], l, (raw(o[1], l) - raw(o[2], l)) & msk); break;
            case OP_MUL: LANES(em) put(o[0], l, product(val(o[1], l), val(o[2], l))); break;
            case OP_MAD:
                LANES(em) {
                    uint64_t p = product(val(o[1], l), val(o[2], l));
                    put(o[0], l, (p + raw(o[3], l)) & mask_of(out_bytes));
                }
                break;
            case OP_DIV: case OP_REM:
                LANES(em) {
                    int64_t a = val(o[1], l), b = val(o[2], l);
                    uint64_t r;
                    // Division by zero has no defined result in PTX; never trap on the host.
                    if (b == 0) r = in.op == OP_DIV ? msk : static_cast<uint64_t>(a) & msk;
                    else if (sgn && b == -1) r = in.op == OP_DIV ? static_cast<uint64_t>(-static_cast<uint64_t>(a)) & msk : 0;
                    else if (sgn) r = static_cast<uint64_t>(in.op == OP_DIV ? a / b : a % b) & msk;
                    else r = (in.op == OP_DIV ? static_cast<uint64_t>(a) / static_cast<uint64_t>(b)
                                              : static_cast<uint64_t>(a) % static_cast<uint64_t>(b)) & msk;
                    put(o[0], l, r);
                }
                break;
            case OP_MIN: LANES(em) put(o[0], l, static_cast<uint64_t>(std::min(val(o[1], l), val(o[2], l), [&](int64_t x, int64_t y) { return sgn ? x < y : static_cast<uint64_t>(x) < static_cast<uint64_t>(y); })) & msk); break;
            case OP_MAX: LANES(em) put(o[0], l, static_cast<uint64_t>(std::max(val(o[1], l), val(o[2], l), [&](int64_t x, int64_t y) { return sgn ? x < y : static_cast<uint64_t>(x) < static_cast<uint64_t>(y); })) & msk); break;
            case OP_ABS: LANES(em) { int64_t a = val(o[1], l); put(o[0], l, static_cast<uint64_t>(a < 0 ? -static_cast<uint64_t>(a) : a) & msk); } break;
            case OP_NEG: LANES(em) put(o[0], l, (-static_cast<uint64_t>(val(o[1], l))) & msk); break;
            default: return report(E_ILLEGAL_INSTRUCTION, in, __builtin_ctz(em), "unsupported integer operation");
        }
        return OK;
    }

    CUresult compare(const Insn& in, uint32_t em) {
        const Operand* o = in.o;
        Ty t = in.t;
        int nb = ty_bytes(t);
        uint64_t msk = mask_of(nb);
        bool sgn = ty_signed(t), flt = t == Ty::f32 || t == Ty::f64;
        LANES(em) {
            uint64_t ra = raw(o[1], l), rb = raw(o[2], l);
            // The relations of a and b (all false when unordered), which every comparison operator reads.
            bool lt, eq, gt, un = false;
            if (flt) {
                double a = t == Ty::f32 ? as_f32(ra) : as_f64(ra), b = t == Ty::f32 ? as_f32(rb) : as_f64(rb);
                if (in.flags & F_FTZ) { a = ftz32(static_cast<float>(a)); b = ftz32(static_cast<float>(b)); }
                un = std::isnan(a) || std::isnan(b);
                lt = a < b, eq = a == b, gt = a > b;
            } else {
                uint64_t ua = ra & msk, ub = rb & msk;
                bool u = !sgn || in.cmp >= C_LO;  // lo ls hi hs compare unsigned (the reader allows no later ones)
                lt = u ? ua < ub : sext(ua, nb) < sext(ub, nb);
                gt = u ? ua > ub : sext(ua, nb) > sext(ub, nb);
                eq = ua == ub;
            }
            bool r;
            switch (in.cmp) {
                case C_EQ: r = eq; break;
                case C_NE: r = !un && !eq; break;
                case C_LT: case C_LO: r = lt; break;
                case C_LE: case C_LS: r = lt || eq; break;
                case C_GT: case C_HI: r = gt; break;
                case C_GE: case C_HS: r = gt || eq; break;
                case C_EQU: r = un || eq; break;
                case C_NEU: r = un || !eq; break;
                case C_LTU: r = un || lt; break;
                case C_LEU: r = un || lt || eq; break;
                case C_GTU: r = un || gt; break;
                case C_GEU: r = un || gt || eq; break;
                case C_NUM: r = !un; break;
                default: r = un; break;  // C_NAN
            }
            bool c = in.nops == 4 ? raw(o[3], l) != 0 : false;
            auto comb = [&](bool x) {
                switch (in.boolop) {
                    case X_AND: return x && c;
                    case X_OR: return x || c;
                    case X_XOR: return x != c;
                    default: return x;
                }
            };
            if (o[0].kind == K_VEC) {
                if (vec(o[0]).slot[0] >= 0) R_[vec(o[0]).slot[0] * 32 + l] = comb(r);
                if (vec(o[0]).slot[1] >= 0) R_[vec(o[0]).slot[1] * 32 + l] = comb(!r);
            } else {
                put(o[0], l, comb(r));
            }
        }
        return OK;
    }

    CUresult convert(const Insn& in, uint32_t em) {
        const Operand* o = in.o;
        Ty dt = in.t, st = in.t2;
        int db = ty_bytes(dt), sb = ty_bytes(st);
        bool ftz = (in.flags & F_FTZ) != 0, sat = (in.flags & F_SAT) != 0;
        bool sflt = ty_float(st), dflt = ty_float(dt);
        Rounding rounding(dflt ? in.rnd : static_cast<uint8_t>(R_NONE));
        LANES(em) {
            uint64_t s = raw(o[1], l) & mask_of(sb);
            uint64_t out;
            if (sflt) {
                double v = st == Ty::f32 ? (ftz ? ftz32(as_f32(s)) : as_f32(s)) : st == Ty::f64 ? as_f64(s)
                         : from_f16(static_cast<uint32_t>(s));  // bf16 sources are refused by the reader
                if (dflt) {
                    if (in.rnd >= R_RNI) {  // round to an integral value in the same format
                        int saved = std::fegetround();
                        std::fesetround(fe_mode(in.rnd));
                        v = std::nearbyint(v);
                        std::fesetround(saved);
                    }
                    if (dt == Ty::f32) {
                        float f = static_cast<float>(v);  // rounds in the mode set above
                        if (ftz) f = ftz32(f);
                        if (sat) f = std::isnan(f) ? 0.0f : (f < 0 ? 0.0f : (f > 1 ? 1.0f : f));
                        out = fres32(f);
                    } else if (dt == Ty::f64) {
                        if (sat) v = std::isnan(v) ? 0.0 : (v < 0 ? 0.0 : (v > 1 ? 1.0 : v));
                        out = fres64(v);
                    } else {
                        uint8_t r = in.rnd == R_NONE ? static_cast<uint8_t>(R_RN) : in.rnd;
                        out = dt == Ty::f16 ? to_small_float(v, 5, 10, r) : to_small_float(v, 8, 7, r);
                    }
                } else {
                    // Float to integer: round as asked, NaN to 0, saturate to the destination's range.
                    double r;
                    switch (in.rnd) {
                        case R_RNI: r = std::nearbyint(v); break;
                        case R_RMI: r = std::floor(v); break;
                        case R_RPI: r = std::ceil(v); break;
                        default: r = std::trunc(v); break;
                    }
                    if (std::isnan(r)) out = 0;
                    else if (ty_signed(dt)) {
                        double lo = -std::ldexp(1.0, db * 8 - 1), hi = std::ldexp(1.0, db * 8 - 1);
                        int64_t iv = r <= lo ? static_cast<int64_t>(lo) : (r >= hi ? static_cast<int64_t>(hi - (db == 8 ? 1024 : 1)) : static_cast<int64_t>(r));
                        if (db == 8 && r >= hi) iv = INT64_MAX;
                        out = static_cast<uint64_t>(iv) & mask_of(db);
                    } else {
                        double hi = std::ldexp(1.0, db * 8);
                        out = r <= 0 ? 0 : (r >= hi ? mask_of(db) : static_cast<uint64_t>(r));
                    }
                }
            } else {
                bool ss = ty_signed(st);
                int64_t iv = ss ? sext(s, sb) : static_cast<int64_t>(s);
                if (dflt) {
                    if (dt == Ty::f32) out = bits32(ss ? static_cast<float>(iv) : static_cast<float>(static_cast<uint64_t>(iv)));
                    else if (dt == Ty::f64) out = bits64(ss ? static_cast<double>(iv) : static_cast<double>(static_cast<uint64_t>(iv)));
                    else {
                        double v = ss ? static_cast<double>(iv) : static_cast<double>(static_cast<uint64_t>(iv));
                        uint8_t r = in.rnd == R_NONE ? static_cast<uint8_t>(R_RN) : in.rnd;
                        out = dt == Ty::f16 ? to_small_float(v, 5, 10, r) : to_small_float(v, 8, 7, r);
                    }
                } else {
                    out = static_cast<uint64_t>(iv) & mask_of(db);  // .sat only between floats (the reader)
                    if (ty_signed(dt)) out = static_cast<uint64_t>(sext(out, db));
                }
            }
            put(o[0], l, out);
        }
        return OK;
    }

    CUresult memory(const Insn& in, uint32_t em) {
        const bool store = in.op == OP_ST;
        const Operand& addr = store ? in.o[0] : in.o[1];
        const Operand& data = store ? in.o[1] : in.o[0];
        const int eb = ty_bytes(in.t);
        const size_t n = static_cast<size_t>(eb) * in.vec;
        const bool sgn = ty_signed(in.t);
        const bool global = in.space == S_GLOBAL || in.space == S_CONST;
        LANES(em) {
            uint64_t a = (addr.reg >= 0 ? R_[addr.reg * 32 + l] : 0) + addr.imm;
            uint8_t* p;
            // The common case first: an aligned global access inside the allocation the last one hit.
            if (global && last_ != nullptr && a >= last_->lo && a + n <= last_->hi && (a & (n - 1)) == 0) {
                p = reinterpret_cast<uint8_t*>(a);
            } else if (in.space == S_SHARED && a + n <= shared_size_ && (a & (n - 1)) == 0) {  // likewise for shared
                p = shared_ + a;
                if (CUresult r = check_shared(in, l, static_cast<size_t>(a), n, store, false)) return r;
            } else {
                CUresult err = OK;
                bool is_shared = false;
                p = locate(in, l, a, n, store, in.space, err, is_shared);
                if (p == nullptr) return err;
                if (is_shared) {
                    if (CUresult r = check_shared(in, l, static_cast<size_t>(p - shared_), n, store, false)) return r;
                }
            }
            for (int k = 0; k < in.vec; k++) {
                uint8_t* q = p + k * eb;
                if (store) {
                    uint64_t v = data.kind == K_VEC ? vec_elem(data, k, l) : raw(data, l);
                    store_n(q, eb, v);
                } else {
                    uint64_t v = load_n(q, eb);
                    if (sgn) v = static_cast<uint64_t>(sext(v, eb));
                    if (data.kind == K_VEC) { if (vec(data).slot[k] >= 0) R_[vec(data).slot[k] * 32 + l] = v; }
                    else put(data, l, v);
                }
            }
        }
        return OK;
    }

    CUresult atomic(const Insn& in, uint32_t em) {
        const Operand& addr = in.o[1];
        const Operand& bop = in.o[2];
        const int nb = ty_bytes(in.t);
        const uint64_t msk = mask_of(nb);
        const bool sgn = ty_signed(in.t);
        // Lanes take their turns in lane order: one of the orders a GPU may choose.
        std::unique_lock<std::mutex> lock(g_atomic_mu, std::defer_lock);
        if (in.space != S_SHARED) lock.lock();
        LANES(em) {
            uint64_t a = (addr.reg >= 0 ? R_[addr.reg * 32 + l] : 0) + addr.imm;
            CUresult err = OK;
            bool is_shared = false;
            uint8_t* p = locate(in, l, a, static_cast<size_t>(nb), true, in.space, err, is_shared);
            if (p == nullptr) return err;
            if (is_shared) {
                if (CUresult r = check_shared(in, l, static_cast<size_t>(p - shared_), static_cast<size_t>(nb), true, true)) return r;
            }
            uint64_t old = load_n(p, nb);
            uint64_t b = raw(bop, l) & msk, r = old;
            switch (in.sub) {
                case X_ADD:
                    if (in.t == Ty::f32) r = fres32(as_f32(old) + as_f32(b));
                    else if (in.t == Ty::f64) r = fres64(as_f64(old) + as_f64(b));
                    else r = (old + b) & msk;
                    break;
                case X_MIN: case X_MAX: {  // integers only: the reader refuses float min and max
                    bool less = sgn ? sext(b, nb) < sext(old, nb) : b < old;
                    bool greater = sgn ? sext(b, nb) > sext(old, nb) : b > old;
                    r = (in.sub == X_MIN ? less : greater) ? b : old;
                    break;
                }
                case X_OR: r = old | b; break;
                case X_CAS: r = old == b ? raw(in.o[3], l) & msk : old; break;
                default: return report(E_ILLEGAL_INSTRUCTION, in, l, "unsupported atomic operation");
            }
            store_n(p, nb, r);
            put(in.o[0], l, sgn ? static_cast<uint64_t>(sext(old, nb)) : old);
        }
        return OK;
    }
};

}  // namespace

void fill_nan_pattern(void* p, size_t bytes) {
    // Quiet-NaN words (0x7FC00000 as float): never-written memory turns results into NaN.
    uint32_t word = 0x7FC00000u;
    uint8_t* b = static_cast<uint8_t*>(p);
    size_t i = 0;
    for (; i + 4 <= bytes; i += 4) std::memcpy(b + i, &word, 4);
    for (; i < bytes; i++) b[i] = reinterpret_cast<uint8_t*>(&word)[i % 4];
}

CUresult execute_grid(const Function& fn, const LaunchConfig& cfg, const std::vector<MemRange>& memory,
                      std::string& message) {
    // Blocks are independent (as on the device), so larger grids are shared out to worker threads;
    // the report of a failure is that of the failing block with the lowest index, as in a serial run.
    static const unsigned workers = [] {
        const char* env = std::getenv("FUSEDOPT_EMU_THREADS");
        long n = env != nullptr ? std::strtol(env, nullptr, 10) : static_cast<long>(std::thread::hardware_concurrency());
        return static_cast<unsigned>(std::max(1L, std::min(n, 16L)));
    }();
    const uint64_t total = static_cast<uint64_t>(cfg.grid[0]) * cfg.grid[1] * cfg.grid[2];
    const unsigned n = total >= 8 ? static_cast<unsigned>(std::min<uint64_t>(workers, total / 4)) : 1;
    std::atomic<uint64_t> next{0};
    std::atomic<bool> stop{false};
    if (n <= 1) {
        uint64_t failed = 0;
        Launch launch(fn, cfg, memory, message);
        return launch.run(next, stop, failed);
    }
    std::vector<std::string> messages(n);
    std::vector<CUresult> results(n, OK);
    std::vector<uint64_t> failed(n, UINT64_MAX);
    std::vector<std::thread> threads;
    for (unsigned k = 1; k < n; k++) {
        threads.emplace_back([&, k] {
            Launch launch(fn, cfg, memory, messages[k]);
            results[k] = launch.run(next, stop, failed[k]);
        });
    }
    {
        Launch launch(fn, cfg, memory, messages[0]);
        results[0] = launch.run(next, stop, failed[0]);
    }
    for (std::thread& t : threads) t.join();
    unsigned first = 0;
    for (unsigned k = 1; k < n; k++)
        if (failed[k] < failed[first]) first = k;
    message = messages[first];
    return results[first];
}

}  // namespace emu

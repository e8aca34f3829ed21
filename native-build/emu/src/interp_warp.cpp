// Executes decoded PTX (ptx.h) the way a GPU schedules it, as far as results
// can tell: blocks one after another; within a block, warps of 32 lanes in
// lockstep, a warp running until all its lanes wait at a barrier or exit.
// Divergent lanes are parked and the lanes with the lowest program counter
// run first, so lanes meet again where the branches join. Every global access
// is checked against the live allocations, every shared access for bounds,
// races between barriers and reads of never-written bytes; the first problem
// stops the launch with a report naming the kernel, the PTX line and the
// address. IEEE rules and their sources: native-build/emu/README.md.
// This file: running blocks and warps, barriers, reports and the grid (execute_grid).
#include "interp_internal.h"

namespace emu {

// Runs the blocks whose linear index this worker takes from `next`, until all are taken or
// another worker failed. Returns the first failure with the index of its block in failed_block.
CUresult Launch::run(std::atomic<uint64_t>& next, std::atomic<bool>& stop, uint64_t& failed_block) {
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

// ---- reports ---------------------------------------------------------------------------------------
CUresult Launch::report(CUresult code, const Insn& in, int lane, const std::string& what) {
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
uint64_t Launch::sreg(uint8_t s, int lane) {
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
        case SR_NCTAID_Z: return cfg_.grid[2];
        case SR_LANEID: return static_cast<unsigned>(lane);
        case SR_WARPID: return w_;
        case SR_NWARPID: return nwarps_;
        case SR_LANEMASK_EQ: return 1u << lane;
        case SR_LANEMASK_LT: return (1u << lane) - 1;
        case SR_LANEMASK_LE: return static_cast<uint32_t>((2ull << lane) - 1);
        case SR_LANEMASK_GT: return ~static_cast<uint32_t>((2ull << lane) - 1);
        case SR_LANEMASK_GE: return ~((1u << lane) - 1);
        case SR_CLOCK: case SR_CLOCK64: return clock_++;
        case SR_GLOBALTIMER:
            return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now().time_since_epoch()).count());
        case SR_DYN_SMEM: return cfg_.dynamic_smem;
        case SR_TOTAL_SMEM: return shared_size_;
        case SR_WARPSIZE: return 32;
        default: return 0;
    }
}

// ---- scheduling ------------------------------------------------------------------------------------
// Picks the runnable lanes with the lowest program counter; false when none can run.
bool Launch::reselect(Warp& w) {
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

void Launch::park(Warp& w) {
    for (uint32_t m = w.mask; m; m &= m - 1) w.lane_pc[__builtin_ctz(m)] = w.pc;
}

CUresult Launch::block() {
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

CUresult Launch::release_barrier() {
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
CUresult Launch::check_members(Warp& w, const Insn& in, uint32_t em, uint32_t members, const char* what) {
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

CUresult Launch::run_warp(unsigned wi) {
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

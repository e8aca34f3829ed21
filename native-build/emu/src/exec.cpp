// Runs host-compiled kernels the way the device would schedule them, as far
// as results are concerned: the grid's blocks are shared out to a small pool
// of OS threads; within a block every CUDA thread is a fiber on the OS thread
// that owns the block, so __shared__ (thread-local) storage is per block and
// barriers and warp operations are rendezvous between fibers.
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <type_traits>

#include "emu_internal.h"

struct EmuUint3 {
    unsigned x, y, z;
};

// The kernel-visible coordinates. The shim declares them with the same
// layout (uint3) and reads them directly, which is far cheaper than a call.
extern "C" {
__attribute__((visibility("default"))) __thread EmuUint3 fusedopt_emu_threadIdx;
__attribute__((visibility("default"))) __thread EmuUint3 fusedopt_emu_blockIdx;
__attribute__((visibility("default"))) __thread EmuUint3 fusedopt_emu_blockDim;
__attribute__((visibility("default"))) __thread EmuUint3 fusedopt_emu_gridDim;

void emu_switch_context(void** save_sp, void* target_sp) __attribute__((visibility("hidden")));
void emu_fiber_trampoline() __attribute__((visibility("hidden")));
void emu_fiber_main(void* fiber) __attribute__((visibility("hidden"), noreturn));
}

namespace emu {
namespace {

// Operation codes; must match cuda_runtime_shim.h.
enum { BAR_PLAIN = 0, BAR_COUNT = 1, BAR_AND = 2, BAR_OR = 3 };
enum {
    W_SYNC = 0, W_SHFL_IDX = 1, W_SHFL_UP = 2, W_SHFL_DOWN = 3, W_SHFL_XOR = 4, W_BALLOT = 5, W_ANY = 6,
    W_ALL = 7, W_MATCH_ANY = 8, W_MATCH_ALL = 9, W_RED_ADD = 10, W_RED_MIN_U = 11, W_RED_MAX_U = 12,
    W_RED_MIN_S = 13, W_RED_MAX_S = 14, W_RED_AND = 15, W_RED_OR = 16, W_RED_XOR = 17, W_OP_COUNT = 18
};

const char* warp_op_name(int op) {
    static const char* const names[] = {
        "__syncwarp", "__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync", "__ballot_sync",
        "__any_sync", "__all_sync", "__match_any_sync", "__match_all_sync", "__reduce_add_sync",
        "__reduce_min_sync", "__reduce_max_sync", "__reduce_min_sync", "__reduce_max_sync",
        "__reduce_and_sync", "__reduce_or_sync", "__reduce_xor_sync"};
    return op >= 0 && op < W_OP_COUNT ? names[op] : "warp operation";
}

enum FiberState : uint8_t { F_READY, F_RUNNING, F_WAIT_BAR, F_WAIT_WARP, F_DONE };

struct Fiber {
    void* sp = nullptr;
    char* stack_hi = nullptr;
    FiberState state = F_DONE;
    unsigned tid[3] = {0, 0, 0};
    unsigned lane = 0;
    unsigned warp = 0;
    int op = 0;
    unsigned mask = 0;
    uint64_t value = 0;
    int arg = 0;
    int width = 32;
    uint64_t result = 0;
};

// The arguments of a launch, decoded once and placed where the x86-64 System V
// calling convention expects them: the first six integer/pointer arguments in
// general registers, the first eight float/double ones in SSE registers (a
// float in the low half), the rest in 8-byte stack slots in order. Calling the
// kernel through a prototype with exactly that many register and stack
// parameters then delivers every argument where the kernel's own prototype
// looks for it, and is several times cheaper per CUDA thread than ffi_call.
// Narrow integers are pre-extended as the caller must. Kernels with more
// stack arguments than kStackSlots go through libffi.
constexpr int kStackSlots = 16;

typedef void (*RegisterKernel)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, double, double, double,
                               double, double, double, double, double, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t,
                               uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t,
                               uint64_t, uint64_t);

struct PackedCall {
    bool packed = false;
    uint64_t gp[6] = {};
    double sse[8] = {};
    uint64_t stack[kStackSlots] = {};
};

template <class T>
uint64_t load_extended(const void* src) {
    T v;
    std::memcpy(&v, src, sizeof v);
    return static_cast<uint64_t>(static_cast<typename std::conditional<std::is_signed<T>::value, int64_t, uint64_t>::type>(v));
}

bool pack_call(const Function& fn, void** args, PackedCall& out) {
    int ngp = 0, nsse = 0, nstack = 0;
    for (size_t i = 0; i < fn.entry.params.size(); i++) {
        const void* src = args[i];
        uint64_t bits = 0;
        bool sse = false;
        switch (fn.entry.params[i].kind) {
            case ParamKind::U8: bits = load_extended<uint8_t>(src); break;
            case ParamKind::S8: bits = load_extended<int8_t>(src); break;
            case ParamKind::U16: bits = load_extended<uint16_t>(src); break;
            case ParamKind::S16: bits = load_extended<int16_t>(src); break;
            case ParamKind::U32: bits = load_extended<uint32_t>(src); break;
            case ParamKind::S32: bits = load_extended<int32_t>(src); break;
            case ParamKind::U64:
            case ParamKind::S64: std::memcpy(&bits, src, 8); break;
            case ParamKind::F32: bits = load_extended<uint32_t>(src); sse = true; break;
            case ParamKind::F64: std::memcpy(&bits, src, 8); sse = true; break;
            default: return false;
        }
        if (sse && nsse < 8) {
            std::memcpy(&out.sse[nsse++], &bits, 8);
        } else if (!sse && ngp < 6) {
            out.gp[ngp++] = bits;
        } else if (nstack < kStackSlots) {
            out.stack[nstack++] = bits;
        } else {
            return false;
        }
    }
    out.packed = true;
    return true;
}

struct GridRun {
    PackedCall call;
    const Function* fn = nullptr;
    const LaunchConfig* cfg = nullptr;
    bool fibers = true;
    uint64_t total_blocks = 0;
    std::atomic<uint64_t> next_block{0};
    std::atomic<bool> failed{false};
    std::mutex mu;
    CUresult error = OK;
    std::string message;

    void fail(CUresult code, const std::string& msg) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.load()) {
            error = code;
            message = msg;
        }
        failed.store(true);
    }
};

size_t fiber_stack_bytes() {
    static const size_t bytes = [] {
        const char* env = std::getenv("FUSEDOPT_EMU_STACK_KB");
        long kb = env ? std::atol(env) : 0;
        if (kb < 16) kb = 128;
        return static_cast<size_t>(kb) * 1024;
    }();
    return bytes;
}

struct Worker {
    void* sched_sp = nullptr;
    std::vector<Fiber*> fibers;
    std::vector<std::pair<void*, size_t>> regions;

    GridRun* run = nullptr;
    Fiber* cur = nullptr;
    bool fiber_mode = false;
    bool block_failed = false;
    unsigned nthreads = 0;
    unsigned live = 0;
    unsigned exited = 0;
    unsigned waiting_bar = 0;
    unsigned warp_wait[32] = {};
    unsigned warp_live[32] = {};   // lanes that exist and have not returned
    unsigned warp_exist[32] = {};  // lanes that exist (partial last warp)

    ~Worker() {
        for (Fiber* f : fibers) delete f;
        for (auto& r : regions) munmap(r.first, r.second);
    }

    // Each fiber stack sits above a PROT_NONE page so that an overflowing
    // kernel faults instead of silently corrupting its neighbour.
    void ensure_fibers(unsigned n) {
        const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        const size_t stack = fiber_stack_bytes();
        const size_t slot = stack + page;
        while (fibers.size() < n) {
            unsigned chunk = 64;
            size_t bytes = slot * chunk;
            void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                             -1, 0);
            if (mem == MAP_FAILED) {
                std::fprintf(stderr, "[fusedopt-emu] cannot map fiber stacks: %s\n", std::strerror(errno));
                std::abort();
            }
            regions.emplace_back(mem, bytes);
            for (unsigned i = 0; i < chunk; i++) {
                char* lo = static_cast<char*>(mem) + i * slot;
                mprotect(lo, page, PROT_NONE);
                Fiber* f = new Fiber();
                f->stack_hi = lo + slot;
                fibers.push_back(f);
            }
        }
    }
};

__thread Worker* t_worker = nullptr;

Worker& this_worker() {
    static thread_local Worker worker;
    t_worker = &worker;
    return worker;
}

// Builds the frame emu_switch_context expects to pop: six callee-saved
// registers (r12 carries the Fiber*) and the trampoline as return address,
// positioned so the trampoline's call sees a 16-byte aligned stack.
void prime_fiber(Fiber* f) {
    uintptr_t top = reinterpret_cast<uintptr_t>(f->stack_hi) & ~static_cast<uintptr_t>(15);
    void** sp = reinterpret_cast<void**>(top - 72);
    for (int i = 0; i < 9; i++) sp[i] = nullptr;
    sp[3] = f;
    sp[6] = reinterpret_cast<void*>(&emu_fiber_trampoline);
    f->sp = sp;
}

std::string block_label(const Worker& w) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "kernel %s, block (%u,%u,%u)", w.run->fn->name.c_str(), fusedopt_emu_blockIdx.x,
                  fusedopt_emu_blockIdx.y, fusedopt_emu_blockIdx.z);
    return buf;
}

std::string thread_label(const Fiber* f) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "thread (%u,%u,%u)", f->tid[0], f->tid[1], f->tid[2]);
    return buf;
}

void block_fail(Worker& w, CUresult code, const std::string& msg) {
    w.block_failed = true;
    w.run->fail(code, block_label(w) + ": " + msg);
}

[[noreturn]] void park_forever(Worker& w, Fiber* f) {
    emu_switch_context(&f->sp, w.sched_sp);
    std::abort();  // a failed block is never resumed
}

void park(Worker& w, Fiber* f) {
    emu_switch_context(&f->sp, w.sched_sp);
}

unsigned sanitize_width(int width) {
    if (width <= 0 || width > 32) return 32;
    unsigned v = static_cast<unsigned>(width);
    while (v & (v - 1)) v &= v - 1;  // round down to a power of two
    return v;
}

// Computes the results of one warp operation for the lanes in `parts`.
// Values are read from lanes[lane] for lane in parts. Reading a lane that
// does not take part (returned, or beyond a partial warp) yields the
// reader's own value: the device leaves it undefined.
void compute_warp(Fiber* const* lanes, unsigned parts) {
    const Fiber* any = lanes[__builtin_ctz(parts)];
    const int op = any->op;
    unsigned ballot = 0;
    for (unsigned b = parts; b; b &= b - 1) {
        unsigned l = static_cast<unsigned>(__builtin_ctz(b));
        if (lanes[l]->value != 0) ballot |= 1u << l;
    }
    uint32_t red = 0;
    if (op >= W_RED_ADD) {
        bool first = true;
        for (unsigned b = parts; b; b &= b - 1) {
            uint32_t v = static_cast<uint32_t>(lanes[__builtin_ctz(b)]->value);
            if (first) {
                red = v;
                first = false;
                continue;
            }
            switch (op) {
                case W_RED_ADD: red += v; break;
                case W_RED_MIN_U: red = v < red ? v : red; break;
                case W_RED_MAX_U: red = v > red ? v : red; break;
                case W_RED_MIN_S: red = static_cast<int32_t>(v) < static_cast<int32_t>(red) ? v : red; break;
                case W_RED_MAX_S: red = static_cast<int32_t>(v) > static_cast<int32_t>(red) ? v : red; break;
                case W_RED_AND: red &= v; break;
                case W_RED_OR: red |= v; break;
                case W_RED_XOR: red ^= v; break;
                default: break;
            }
        }
    }
    bool all_equal = true;
    for (unsigned b = parts; b; b &= b - 1) {
        if (lanes[__builtin_ctz(b)]->value != any->value) all_equal = false;
    }
    for (unsigned b = parts; b; b &= b - 1) {
        unsigned l = static_cast<unsigned>(__builtin_ctz(b));
        Fiber* g = lanes[l];
        unsigned w = sanitize_width(g->width);
        unsigned seg = l & ~(w - 1);
        long src = -1;
        switch (op) {
            case W_SHFL_IDX:
                src = seg | (static_cast<unsigned>(g->arg) & (w - 1));
                break;
            case W_SHFL_UP: {
                unsigned d = static_cast<unsigned>(g->arg);
                if (d <= (l & (w - 1))) src = l - d;
                break;
            }
            case W_SHFL_DOWN: {
                unsigned d = static_cast<unsigned>(g->arg);
                if (d < w && (l & (w - 1)) + d < w) src = l + d;
                break;
            }
            case W_SHFL_XOR: {
                unsigned s = l ^ static_cast<unsigned>(g->arg);
                if (s < 32 && (s & ~(w - 1)) <= seg) src = s;
                break;
            }
            default:
                break;
        }
        switch (op) {
            case W_SYNC: g->result = 0; break;
            case W_SHFL_IDX:
            case W_SHFL_UP:
            case W_SHFL_DOWN:
            case W_SHFL_XOR:
                g->result = (src >= 0 && ((parts >> src) & 1u)) ? lanes[src]->value : g->value;
                break;
            case W_BALLOT: g->result = ballot; break;
            case W_ANY: g->result = ballot != 0; break;
            case W_ALL: g->result = ballot == parts; break;
            case W_MATCH_ANY: {
                unsigned m = 0;
                for (unsigned c = parts; c; c &= c - 1) {
                    unsigned o = static_cast<unsigned>(__builtin_ctz(c));
                    if (lanes[o]->value == g->value) m |= 1u << o;
                }
                g->result = m;
                break;
            }
            case W_MATCH_ALL: g->result = all_equal ? (static_cast<uint64_t>(1) << 32) | parts : 0; break;
            default: g->result = red; break;
        }
    }
}

// Completes the warp operation `leader` waits on if every lane it names has
// arrived (or returned). Marks the participants runnable.
bool try_resolve_warp(Worker& w, Fiber* leader) {
    const unsigned warp = leader->warp;
    const unsigned live = w.warp_live[warp];
    const unsigned need = leader->mask & live;
    if (need == live && w.warp_wait[warp] < static_cast<unsigned>(__builtin_popcount(live))) return false;
    Fiber* const* lanes = &w.fibers[warp * 32];
    for (unsigned b = need; b; b &= b - 1) {
        const Fiber* g = lanes[__builtin_ctz(b)];
        if (g->state != F_WAIT_WARP || g->mask != leader->mask) return false;
        if (g->op != leader->op) {
            block_fail(w, E_LAUNCH_FAILED,
                       "lanes of warp " + std::to_string(warp) + " met at different warp operations (" +
                           warp_op_name(g->op) + " and " + warp_op_name(leader->op) + ") with the same mask");
            return false;
        }
    }
    const unsigned parts = need | (1u << leader->lane);
    compute_warp(lanes, parts);
    for (unsigned b = parts; b; b &= b - 1) lanes[__builtin_ctz(b)]->state = F_READY;
    w.warp_wait[warp] -= static_cast<unsigned>(__builtin_popcount(parts));
    return true;
}

void resolve_after_exit(Worker& w, unsigned warp) {
    bool progress = true;
    while (progress && w.warp_wait[warp] > 0 && !w.block_failed) {
        progress = false;
        for (unsigned l = 0; l < 32 && warp * 32 + l < w.nthreads; l++) {
            Fiber* g = w.fibers[warp * 32 + l];
            if (g->state == F_WAIT_WARP && try_resolve_warp(w, g)) {
                progress = true;
                break;
            }
        }
    }
}

void release_barrier(Worker& w) {
    unsigned count = 0;
    for (unsigned i = 0; i < w.nthreads; i++) {
        const Fiber* f = w.fibers[i];
        if (f->state == F_WAIT_BAR && f->value) count++;
    }
    for (unsigned i = 0; i < w.nthreads; i++) {
        Fiber* f = w.fibers[i];
        if (f->state != F_WAIT_BAR) continue;
        switch (f->op) {
            case BAR_COUNT: f->result = count; break;
            case BAR_AND: f->result = count == w.live; break;
            case BAR_OR: f->result = count > 0; break;
            default: f->result = 0; break;
        }
        f->state = F_READY;
    }
    w.waiting_bar = 0;
}

void thread_returned(Worker& w, Fiber* f) {
    f->state = F_DONE;
    w.live--;
    w.exited++;
    w.warp_live[f->warp] &= ~(1u << f->lane);
    if (w.waiting_bar > 0) {
        block_fail(w, E_LAUNCH_FAILED,
                   thread_label(f) + " returned while " + std::to_string(w.waiting_bar) +
                       " other threads of its block wait at __syncthreads(); every thread of a block must reach "
                       "each barrier");
        return;
    }
    if (w.warp_wait[f->warp] > 0) resolve_after_exit(w, f->warp);
}

void describe_deadlock(Worker& w) {
    unsigned at_bar = 0, at_warp = 0;
    std::string detail;
    for (unsigned i = 0; i < w.nthreads; i++) {
        const Fiber* f = w.fibers[i];
        if (f->state == F_WAIT_BAR) at_bar++;
        if (f->state == F_WAIT_WARP) {
            if (at_warp++ < 4) {
                char buf[160];
                std::snprintf(buf, sizeof buf, "; %s (warp %u lane %u) waits in %s with mask 0x%08x",
                              thread_label(f).c_str(), f->warp, f->lane, warp_op_name(f->op), f->mask);
                detail += buf;
            }
        }
    }
    block_fail(w, E_LAUNCH_FAILED,
               "threads can never continue: " + std::to_string(at_bar) + " wait at __syncthreads(), " +
                   std::to_string(at_warp) + " wait at warp operations, " + std::to_string(w.exited) +
                   " have returned" + detail);
}

void run_block_fibers(Worker& w, const unsigned block[3]) {
    const unsigned n = w.nthreads;
    w.live = n;
    w.exited = 0;
    w.waiting_bar = 0;
    const unsigned nwarps = (n + 31) / 32;
    for (unsigned k = 0; k < nwarps; k++) {
        unsigned lanes = n - k * 32 >= 32 ? 32 : n - k * 32;
        unsigned exist = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
        w.warp_exist[k] = exist;
        w.warp_live[k] = exist;
        w.warp_wait[k] = 0;
    }
    for (unsigned i = 0; i < n; i++) {
        Fiber* f = w.fibers[i];
        f->state = F_READY;
        f->tid[0] = i % block[0];
        f->tid[1] = (i / block[0]) % block[1];
        f->tid[2] = i / (block[0] * block[1]);
        f->lane = i & 31;
        f->warp = i >> 5;
        prime_fiber(f);
    }
    while (true) {
        bool ran = false;
        for (unsigned i = 0; i < n; i++) {
            Fiber* f = w.fibers[i];
            if (f->state != F_READY) continue;
            ran = true;
            f->state = F_RUNNING;
            w.cur = f;
            fusedopt_emu_threadIdx = EmuUint3{f->tid[0], f->tid[1], f->tid[2]};
            emu_switch_context(&w.sched_sp, f->sp);
            if (w.block_failed) return;
        }
        if (w.live == 0) return;
        if (!ran) {
            describe_deadlock(w);
            return;
        }
    }
}

// Runs one CUDA thread's kernel body to completion (or to its first wait).
inline void invoke_kernel(const GridRun& run) {
    const PackedCall& c = run.call;
    if (c.packed) {
        const uint64_t* g = c.gp;
        const double* x = c.sse;
        const uint64_t* s = c.stack;
        reinterpret_cast<RegisterKernel>(run.fn->host_fn)(g[0], g[1], g[2], g[3], g[4], g[5], x[0], x[1], x[2], x[3],
                                                          x[4], x[5], x[6], x[7], s[0], s[1], s[2], s[3], s[4], s[5],
                                                          s[6], s[7], s[8], s[9], s[10], s[11], s[12], s[13], s[14],
                                                          s[15]);
    } else {
        ffi_call(const_cast<ffi_cif*>(&run.fn->cif), FFI_FN(run.fn->host_fn), nullptr, run.cfg->args);
    }
}

void run_block_direct(Worker& w, const unsigned block[3]) {
    const GridRun& run = *w.run;
    for (unsigned z = 0; z < block[2]; z++) {
        for (unsigned y = 0; y < block[1]; y++) {
            for (unsigned x = 0; x < block[0]; x++) {
                fusedopt_emu_threadIdx = EmuUint3{x, y, z};
                invoke_kernel(run);
                if (w.block_failed) return;
            }
        }
    }
}

void run_blocks(GridRun& run) {
    Worker& w = this_worker();
    const LaunchConfig& cfg = *run.cfg;
    w.run = &run;
    w.fiber_mode = run.fibers;
    w.nthreads = cfg.block[0] * cfg.block[1] * cfg.block[2];
    fusedopt_emu_blockDim = EmuUint3{cfg.block[0], cfg.block[1], cfg.block[2]};
    fusedopt_emu_gridDim = EmuUint3{cfg.grid[0], cfg.grid[1], cfg.grid[2]};
    if (w.fiber_mode) w.ensure_fibers(w.nthreads);
    KernelLib* lib = run.fn->lib;
    const uint64_t gx = cfg.grid[0], gxy = gx * cfg.grid[1];
    while (!run.failed.load(std::memory_order_relaxed)) {
        uint64_t b = run.next_block.fetch_add(1);
        if (b >= run.total_blocks) break;
        fusedopt_emu_blockIdx = EmuUint3{static_cast<unsigned>(b % gx), static_cast<unsigned>((b / gx) % cfg.grid[1]),
                                         static_cast<unsigned>(b / gxy)};
        // Fresh dynamic shared memory holds NaN garbage, not zeros or the
        // previous block's data, so kernels that read it uninitialised show it.
        if (cfg.dynamic_smem > 0 && lib->dynamic_smem_base)
            fill_nan_pattern(lib->dynamic_smem_base(), cfg.dynamic_smem);
        w.block_failed = false;
        w.cur = nullptr;
        if (w.fiber_mode)
            run_block_fibers(w, cfg.block);
        else
            run_block_direct(w, cfg.block);
    }
    w.run = nullptr;
    w.cur = nullptr;
}

// A kernel whose PTX showed no barrier or warp instruction runs without
// fibers; if the host build does synchronise after all, results would be
// wrong, so the launch fails instead.
void direct_mode_violation(Worker& w, const char* what) {
    block_fail(w, E_LAUNCH_FAILED,
               std::string(what) +
                   " was executed, but the kernel's PTX contains no barrier or warp instruction, so the stand-in "
                   "ran its threads one after another; the host build and the PTX disagree");
}

class Pool {
public:
    explicit Pool(unsigned helpers) : helpers_(helpers) {
        for (unsigned i = 0; i < helpers; i++) std::thread([this] { loop(); }).detach();
    }

    void run(GridRun& r) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            job_ = &r;
            busy_ = helpers_;
            generation_++;
        }
        work_cv_.notify_all();
        run_blocks(r);
        std::unique_lock<std::mutex> lock(mu_);
        done_cv_.wait(lock, [this] { return busy_ == 0; });
        job_ = nullptr;
    }

private:
    void loop() {
        // Asynchronous signals belong to the JVM's own threads. Faults raised by
        // a kernel must stay deliverable, or the kernel kills the process
        // without the JVM's crash report.
        sigset_t async;
        sigfillset(&async);
        for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS}) sigdelset(&async, sig);
        pthread_sigmask(SIG_BLOCK, &async, nullptr);
        uint64_t seen = 0;
        while (true) {
            GridRun* job;
            {
                std::unique_lock<std::mutex> lock(mu_);
                work_cv_.wait(lock, [&] { return generation_ != seen; });
                seen = generation_;
                job = job_;
            }
            run_blocks(*job);
            std::lock_guard<std::mutex> lock(mu_);
            if (--busy_ == 0) done_cv_.notify_all();
        }
    }

    unsigned helpers_;
    std::mutex mu_;
    std::condition_variable work_cv_, done_cv_;
    GridRun* job_ = nullptr;
    uint64_t generation_ = 0;
    unsigned busy_ = 0;
};

unsigned worker_threads() {
    static const unsigned n = [] {
        const char* env = std::getenv("FUSEDOPT_EMU_THREADS");
        long v = env ? std::atol(env) : 0;
        if (v <= 0) {
            v = static_cast<long>(std::thread::hardware_concurrency());
            if (v <= 0) v = 1;
            if (v > 8) v = 8;
        }
        return static_cast<unsigned>(v);
    }();
    return n;
}

Pool* pool() {
    // Never destroyed: helper threads may still be parked in it at exit.
    static Pool* p = worker_threads() > 1 ? new Pool(worker_threads() - 1) : nullptr;
    return p;
}

bool force_fibers() {
    static const bool force = [] {
        const char* env = std::getenv("FUSEDOPT_EMU_FIBERS");
        return env && std::strcmp(env, "always") == 0;
    }();
    return force;
}

std::mutex g_launch_mu;

}  // namespace

void fill_nan_pattern(void* p, size_t bytes) {
    // 0x7FC00000 (the canonical float quiet NaN) in every aligned 32-bit
    // word. Read as doubles the words give 0x7FC000007FC00000, a huge finite
    // value (about 2.2e307), which is conspicuous too.
    static const unsigned char word[4] = {0x00, 0x00, 0xC0, 0x7F};
    unsigned char* c = static_cast<unsigned char*>(p);
    uintptr_t a = reinterpret_cast<uintptr_t>(c);
    for (size_t i = 0; i < bytes; i++) c[i] = word[(a + i) & 3];
}

CUresult execute_grid(const Function& fn, const LaunchConfig& cfg, std::string& message) {
    std::lock_guard<std::mutex> lock(g_launch_mu);
    GridRun run;
    run.fn = &fn;
    run.cfg = &cfg;
    run.fibers = fn.needs_fibers || force_fibers();
    run.total_blocks = static_cast<uint64_t>(cfg.grid[0]) * cfg.grid[1] * cfg.grid[2];
    static const bool use_ffi = std::getenv("FUSEDOPT_EMU_FFI") != nullptr;
    if (!use_ffi) pack_call(fn, cfg.args, run.call);
    Pool* p = pool();
    if (p != nullptr && run.total_blocks > 1)
        p->run(run);
    else
        run_blocks(run);
    if (run.failed.load()) {
        message = run.message;
        return run.error;
    }
    return OK;
}

}  // namespace emu

using namespace emu;

extern "C" void emu_fiber_main(void* p) {
    Fiber* f = static_cast<Fiber*>(p);
    Worker& w = *t_worker;
    invoke_kernel(*w.run);
    thread_returned(w, f);
    emu_switch_context(&f->sp, w.sched_sp);
    std::abort();
}

extern "C" __attribute__((visibility("default"))) int fusedopt_emu_block_sync(int op, int predicate) {
    Worker* wp = t_worker;
    const int pred = predicate != 0;
    if (wp == nullptr || wp->run == nullptr) return pred;
    Worker& w = *wp;
    if (!w.fiber_mode) {
        if (w.nthreads > 1) direct_mode_violation(w, "__syncthreads()");
        return op == BAR_COUNT ? pred : (op == BAR_PLAIN ? 0 : pred);
    }
    Fiber* f = w.cur;
    if (w.exited > 0) {
        block_fail(w, E_LAUNCH_FAILED,
                   "__syncthreads() reached by " + thread_label(f) + " after " + std::to_string(w.exited) + " of " +
                       std::to_string(w.nthreads) +
                       " threads of its block had returned; every thread of a block must reach each barrier");
        park_forever(w, f);
    }
    f->state = F_WAIT_BAR;
    f->op = op;
    f->value = static_cast<uint64_t>(pred);
    w.waiting_bar++;
    if (w.waiting_bar == w.live) {
        release_barrier(w);
        f->state = F_RUNNING;
        return static_cast<int>(f->result);
    }
    park(w, f);
    return static_cast<int>(f->result);
}

extern "C" __attribute__((visibility("default"))) unsigned long long fusedopt_emu_warp_op(int op, unsigned mask,
                                                                                        unsigned long long value,
                                                                                        int arg, int width) {
    Worker* wp = t_worker;
    if (wp == nullptr || wp->run == nullptr) return value;
    Worker& w = *wp;
    if (!w.fiber_mode) {
        // A lone thread is its own warp; anything more needs fibers.
        if (w.nthreads > 1) direct_mode_violation(w, warp_op_name(op));
        Fiber solo;
        solo.op = op;
        solo.value = value;
        solo.arg = arg;
        solo.width = width;
        Fiber* lanes[32] = {&solo};
        compute_warp(lanes, 1u);
        return solo.result;
    }
    Fiber* f = w.cur;
    const unsigned self = 1u << f->lane;
    f->op = op;
    f->mask = (mask | self) & w.warp_exist[f->warp];
    f->value = value;
    f->arg = arg;
    f->width = width;
    f->state = F_WAIT_WARP;
    w.warp_wait[f->warp]++;
    if (try_resolve_warp(w, f)) {
        f->state = F_RUNNING;
        return f->result;
    }
    if (w.block_failed) park_forever(w, f);
    park(w, f);
    return f->result;
}

extern "C" __attribute__((visibility("default"))) unsigned fusedopt_emu_activemask(void) {
    Worker* wp = t_worker;
    if (wp == nullptr || wp->run == nullptr) return 1u;
    Worker& w = *wp;
    if (!w.fiber_mode) {
        if (w.nthreads > 1) direct_mode_violation(w, "__activemask()");
        return 1u;
    }
    return w.warp_live[w.cur->warp];
}

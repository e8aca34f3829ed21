// The CUDA driver API surface of the fusedopt CPU stand-in for libcuda.so.1:
// one emulated device whose memory is host memory, synchronous streams, and
// modules whose PTX (given directly or inside a fatbin) interp.cpp executes. Behaviour that callers can
// observe (error codes, sticky launch failures, bounds of copies) follows
// the real driver; the README lists where it cannot.
#include <strings.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_set>

#include "emu_internal.h"

namespace emu {

// ---- diagnostics ------------------------------------------------------------
namespace {
std::mutex g_msg_mu;
std::string g_last_error;

bool quiet() {
    static const bool q = [] {
        const char* env = std::getenv("FUSEDOPT_EMU_QUIET");
        return env != nullptr && std::strcmp(env, "0") != 0;
    }();
    return q;
}
}  // namespace

void set_last_error(const std::string& msg) {
    std::lock_guard<std::mutex> lock(g_msg_mu);
    g_last_error = msg;
}

void note_failure(const std::string& msg) {
    set_last_error(msg);
    if (!quiet()) std::fprintf(stderr, "[fusedopt-emu] %s\n", msg.c_str());
}

// ---- counters ---------------------------------------------------------------
namespace {
std::mutex g_counter_mu;

std::vector<Counter*>& counters() {
    static auto* list = new std::vector<Counter*>();
    return *list;
}

struct CategoryName {
    const char* name;
    unsigned bits;
};
const CategoryName kCategories[] = {
    {"copy", CAT_COPY},     {"blocking_copy", CAT_BLOCKING_COPY}, {"async_copy", CAT_ASYNC_COPY},
    {"launch", CAT_LAUNCH}, {"sync", CAT_SYNC},                   {"alloc", CAT_ALLOC},
    {"free", CAT_FREE},     {"memset", CAT_MEMSET},               {"module", CAT_MODULE},
    {"cublas", CAT_CUBLAS}, {"any", ~CAT_NO_FAULT},
};

bool category_bits(const char* name, unsigned& bits) {
    for (const CategoryName& c : kCategories) {
        if (std::strcmp(c.name, name) == 0) {
            bits = c.bits;
            return true;
        }
    }
    return false;
}
}  // namespace

Counter* register_counter(const char* name, unsigned categories) {
    std::lock_guard<std::mutex> lock(g_counter_mu);
    for (Counter* c : counters()) {
        if (std::strcmp(c->name, name) == 0) return c;
    }
    Counter* c = new Counter{name, categories};
    counters().push_back(c);
    return c;
}

// ---- state ------------------------------------------------------------------
namespace {

struct Context {
    uint64_t id;
    unsigned flags = 0;
    bool primary = false;
    bool alive = true;
    CUresult sticky = OK;
    std::string sticky_reason;
};

}  // namespace

// Named in emu_internal.h (Function points back to it), so not anonymous.
struct Module {
    void* ctx = nullptr;  // the owning Context
    bool live = true;
    bool from_fatbin = false;
    PtxModule ptx;
    std::vector<Function*> functions;
};

namespace {

struct Stream {
    Context* ctx;
    unsigned flags;
    int priority;
    bool live = true;
};

struct Event {
    Context* ctx;
    unsigned flags;
    bool live = true;
    bool recorded = false;
    std::chrono::steady_clock::time_point when;
};

enum AllocKind { K_DEVICE, K_HOST, K_MANAGED };

struct Allocation {
    size_t size;
    Context* ctx;
    AllocKind kind;
    unsigned flags;
};

std::atomic<bool> g_initialized{false};
std::recursive_mutex g_mu;  // guards everything below
uint64_t g_next_ctx_id = 1;
std::unordered_set<Context*> g_contexts;
Context* g_primary = nullptr;
int g_primary_refs = 0;
unsigned g_primary_flags = 0;
std::unordered_set<Module*> g_modules;
std::unordered_set<Function*> g_functions;
std::unordered_set<Stream*> g_streams;
std::unordered_set<Event*> g_events;
std::map<uintptr_t, Allocation> g_allocs;
std::map<uintptr_t, size_t> g_module_globals;
uint64_t g_device_count = 0, g_device_bytes = 0, g_host_count = 0, g_host_bytes = 0;
std::string g_module_override;  // PTX replacing a module with the same entries (tests)
// The launch-time memory map, rebuilt only after allocations, frees or module loads changed it.
std::vector<MemRange> g_memory_map;
bool g_memory_map_stale = true;

thread_local std::vector<Context*> t_ctx_stack;

// Objects are never deleted, only marked dead: a stale handle from Java then
// reads as invalid instead of aliasing a newer object at the same address.

Context* current_context() { return t_ctx_stack.empty() ? nullptr : t_ctx_stack.back(); }

CUresult fail(CUresult code, const std::string& msg) {
    set_last_error(msg);
    return code;
}

CUresult need_init() {
    if (!g_initialized.load()) return fail(E_NOT_INITIALIZED, "cuInit has not been called");
    return OK;
}

// Most calls need a live current context and fail with the context's sticky
// error once a kernel has failed in it, as on a device.
CUresult need_context(Context*& out) {
    if (CUresult r = need_init()) return r;
    Context* c = current_context();
    if (c == nullptr || !c->alive) return fail(E_INVALID_CONTEXT, "no current CUDA context on this thread");
    if (c->sticky != OK) return fail(c->sticky, "context is unusable after an earlier failure: " + c->sticky_reason);
    out = c;
    return OK;
}

bool is_sticky_code(CUresult r) {
    switch (r) {
        case E_ILLEGAL_ADDRESS:
        case E_LAUNCH_TIMEOUT:
        case E_ASSERT:
        case E_HARDWARE_STACK_ERROR:
        case E_ILLEGAL_INSTRUCTION:
        case E_MISALIGNED_ADDRESS:
        case E_INVALID_ADDRESS_SPACE:
        case E_INVALID_PC:
        case E_LAUNCH_FAILED:
            return true;
        default:
            return false;
    }
}

void make_sticky(Context* c, CUresult code, const std::string& why) {
    if (c != nullptr && c->sticky == OK) {
        c->sticky = code;
        c->sticky_reason = why;
    }
}

size_t total_memory() {
    static const size_t total = [] {
        size_t v = size_t(8) << 30;
        if (const char* env = std::getenv("FUSEDOPT_EMU_MEMORY_BYTES")) {
            char* end = nullptr;
            unsigned long long n = std::strtoull(env, &end, 10);
            if (end != env) {
                switch (*end) {
                    case 'k': case 'K': n <<= 10; break;
                    case 'm': case 'M': n <<= 20; break;
                    case 'g': case 'G': n <<= 30; break;
                    default: break;
                }
                if (n > 0) v = static_cast<size_t>(n);
            }
        }
        return v;
    }();
    return total;
}

int sm_count() {
    static const int n = [] {
        const char* env = std::getenv("FUSEDOPT_EMU_SM_COUNT");
        int v = env ? std::atoi(env) : 0;
        return v > 0 ? v : 2;
    }();
    return n;
}

const char* const kDeviceName = "fusedopt CPU stand-in (emulated sm_90)";

// ---- allocations ----------------------------------------------------------------

CUresult allocate(Context* ctx, size_t bytes, AllocKind kind, unsigned flags, void** out, const char* what) {
    if (out == nullptr || bytes == 0) return fail(E_INVALID_VALUE, std::string(what) + ": null result pointer or zero size");
    {
        std::lock_guard<std::recursive_mutex> lock(g_mu);
        uint64_t used = g_device_bytes + g_host_bytes;
        if (bytes > total_memory() || used + bytes > total_memory())
            return fail(E_OUT_OF_MEMORY, std::string(what) + ": " + std::to_string(bytes) + " bytes requested, " +
                                             std::to_string(total_memory() - used) + " of " +
                                             std::to_string(total_memory()) + " free (FUSEDOPT_EMU_MEMORY_BYTES)");
    }
    size_t rounded = (bytes + 255) & ~static_cast<size_t>(255);
    void* p = std::aligned_alloc(256, rounded);
    if (p == nullptr) return fail(E_OUT_OF_MEMORY, std::string(what) + ": host allocation failed");
    // Uninitialised device memory is not zero on a GPU either; NaN makes
    // reads of never-written memory visible in results.
    fill_nan_pattern(p, rounded);
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    g_allocs[reinterpret_cast<uintptr_t>(p)] = Allocation{bytes, ctx, kind, flags};
    g_memory_map_stale = true;
    if (kind == K_HOST) {
        g_host_count++;
        g_host_bytes += bytes;
    } else {
        g_device_count++;
        g_device_bytes += bytes;
    }
    *out = p;
    return OK;
}

// Freed device memory is kept (NaN-filled, unreachable by copies) for a while so that a kernel that
// still uses it is reported as a use after free instead of silently reading a newer allocation.
std::deque<std::pair<uintptr_t, size_t>> g_quarantine;
size_t g_quarantine_bytes = 0;
constexpr size_t kQuarantineLimit = 64u << 20;
constexpr size_t kQuarantineEntries = 64;

void release_locked(std::map<uintptr_t, Allocation>::iterator it) {
    if (it->second.kind == K_HOST) {
        g_host_count--;
        g_host_bytes -= it->second.size;
        std::free(reinterpret_cast<void*>(it->first));
    } else {
        g_device_count--;
        g_device_bytes -= it->second.size;
        fill_nan_pattern(reinterpret_cast<void*>(it->first), it->second.size);
        g_quarantine.emplace_back(it->first, it->second.size);
        g_quarantine_bytes += it->second.size;
        while ((g_quarantine_bytes > kQuarantineLimit || g_quarantine.size() > kQuarantineEntries) &&
               !g_quarantine.empty()) {
            g_quarantine_bytes -= g_quarantine.front().second;
            std::free(reinterpret_cast<void*>(g_quarantine.front().first));
            g_quarantine.pop_front();
        }
    }
    g_allocs.erase(it);
    g_memory_map_stale = true;
}

// What kernels of this launch may touch, sorted: live allocations and module globals, and the
// quarantined ranges marked freed.
std::vector<MemRange> memory_map() {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (!g_memory_map_stale) return g_memory_map;
    g_memory_map_stale = false;
    std::vector<MemRange>& out = g_memory_map;
    out.clear();
    out.reserve(g_allocs.size() + g_module_globals.size() + g_quarantine.size());
    for (auto& [p, a] : g_allocs) out.push_back({p, p + a.size, false});
    for (auto& [p, n] : g_module_globals) out.push_back({p, p + n, false});
    for (auto& [p, n] : g_quarantine) out.push_back({p, p + n, true});
    std::sort(out.begin(), out.end(), [](const MemRange& a, const MemRange& b) { return a.lo < b.lo; });
    return out;
}

CUresult release(uintptr_t p, bool host, const char* what) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    auto it = g_allocs.find(p);
    if (it == g_allocs.end() || (it->second.kind == K_HOST) != host) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s: 0x%llx is not the start of a live %s allocation", what,
                      static_cast<unsigned long long>(p), host ? "pinned host" : "device");
        return fail(E_INVALID_VALUE, buf);
    }
    release_locked(it);
    return OK;
}

// Memory a device pointer may name: any allocation, or a module global.
bool device_range(uintptr_t p, size_t n) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    auto it = g_allocs.upper_bound(p);
    if (it != g_allocs.begin()) {
        --it;
        if (p >= it->first && p - it->first <= it->second.size && n <= it->second.size - (p - it->first)) return true;
    }
    auto gt = g_module_globals.upper_bound(p);
    if (gt != g_module_globals.begin()) {
        --gt;
        if (p >= gt->first && p - gt->first <= gt->second && n <= gt->second - (p - gt->first)) return true;
    }
    return false;
}

// For unified-addressing copies: is p inside device memory at all?
bool inside_device_memory(uintptr_t p) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    auto it = g_allocs.upper_bound(p);
    if (it != g_allocs.begin()) {
        --it;
        if (p >= it->first && p < it->first + it->second.size) return true;
    }
    auto gt = g_module_globals.upper_bound(p);
    if (gt != g_module_globals.begin()) {
        --gt;
        if (p >= gt->first && p < gt->first + gt->second) return true;
    }
    return false;
}

CUresult range_error(const char* what, const char* side, uintptr_t p, size_t n) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s: %s range [0x%llx, +%zu) is not inside one device allocation", what, side,
                  static_cast<unsigned long long>(p), n);
    return fail(E_INVALID_VALUE, buf);
}

CUresult check_stream(void* s) {
    if (s == nullptr || s == reinterpret_cast<void*>(1) || s == reinterpret_cast<void*>(2)) return OK;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Stream* st = static_cast<Stream*>(s);
    if (g_streams.count(st) == 0 || !st->live) return fail(E_INVALID_HANDLE, "invalid stream handle");
    return OK;
}

CUresult copy_d_h(void* dst, bool dst_dev, const void* src, bool src_dev, size_t n, const char* what) {
    if (n == 0) return OK;
    if (dst == nullptr || src == nullptr) return fail(E_INVALID_VALUE, std::string(what) + ": null pointer");
    if (dst_dev && !device_range(reinterpret_cast<uintptr_t>(dst), n))
        return range_error(what, "destination", reinterpret_cast<uintptr_t>(dst), n);
    if (src_dev && !device_range(reinterpret_cast<uintptr_t>(src), n))
        return range_error(what, "source", reinterpret_cast<uintptr_t>(src), n);
    std::memmove(dst, src, n);
    return OK;
}

CUresult memset_n(CUdeviceptr dst, unsigned value, size_t count, size_t width, const char* what) {
    if (count == 0) return OK;
    if (dst % width != 0) return fail(E_INVALID_VALUE, std::string(what) + ": destination is not aligned");
    if (count > SIZE_MAX / width) return fail(E_INVALID_VALUE, std::string(what) + ": size overflows");
    if (!device_range(dst, count * width)) return range_error(what, "destination", dst, count * width);
    unsigned char* p = reinterpret_cast<unsigned char*>(dst);
    if (width == 1) {
        std::memset(p, static_cast<int>(value & 0xff), count);
    } else if (width == 2) {
        uint16_t v = static_cast<uint16_t>(value);
        for (size_t i = 0; i < count; i++) std::memcpy(p + 2 * i, &v, 2);
    } else {
        uint32_t v = value;
        for (size_t i = 0; i < count; i++) std::memcpy(p + 4 * i, &v, 4);
    }
    return OK;
}

// ---- contexts -------------------------------------------------------------------

void destroy_context_resources_locked(Context* c) {
    for (auto it = g_allocs.begin(); it != g_allocs.end();) {
        auto next = std::next(it);
        if (it->second.ctx == c) release_locked(it);
        it = next;
    }
    for (Module* m : g_modules) {
        if (m->ctx == c && m->live) {
            m->live = false;
            for (Function* f : m->functions) f->live = false;
        }
    }
    for (Stream* s : g_streams)
        if (s->ctx == c) s->live = false;
    for (Event* e : g_events)
        if (e->ctx == c) e->live = false;
}

Context* new_context(unsigned flags, bool primary) {
    Context* c = new Context();
    c->id = g_next_ctx_id++;
    c->flags = flags;
    c->primary = primary;
    g_contexts.insert(c);
    return c;
}

bool live_context(Context* c) { return c != nullptr && g_contexts.count(c) != 0 && c->alive; }

// ---- modules --------------------------------------------------------------------

CUresult load_module(const char* image, size_t max_len, Module** out, const char* what) {
    Context* ctx;
    if (CUresult r = need_context(ctx)) return r;
    if (out == nullptr || image == nullptr) return fail(E_INVALID_VALUE, std::string(what) + ": null argument");
    // Byte-wise (short-circuiting) so that a short PTX string is never over-read.
    const unsigned char* u = reinterpret_cast<const unsigned char*>(image);
    bool elf = u[0] == 0x7f && u[1] == 'E' && u[2] == 'L' && u[3] == 'F';
    bool fatbin = u[0] == 0x50 && u[1] == 0xED && u[2] == 0x55 && u[3] == 0xBA;
    bool fatbin_wrapper = u[0] == 0xB1 && u[1] == 0x43 && u[2] == 0x62 && u[3] == 0x46;
    if (elf)
        return fail(E_INVALID_IMAGE, std::string(what) + ": a cubin holds only SASS, which the CPU stand-in cannot "
                                                         "execute; load a fatbin with PTX, or the PTX");
    std::string text;
    std::string err;
    if (fatbin || fatbin_wrapper) {
        if (max_len < 16) return fail(E_INVALID_IMAGE, std::string(what) + ": truncated fatbin");
        CUresult r = fatbin_ptx(u, text, err);
        if (r != OK) return fail(r, std::string(what) + ": " + err);
    } else {
        text.assign(image, strnlen(image, max_len));
    }
    Module* m = new Module();
    m->from_fatbin = fatbin || fatbin_wrapper;
    CUresult r = parse_ptx(text.data(), text.size(), m->ptx, err);
    if (r != OK) {
        delete m;
        return fail(r, std::string(what) + ": " + err);
    }
    {
        // A test may stand in an altered copy of a module for the one the program loads (matched by
        // its entry names), to prove that the code executed is the code loaded.
        std::lock_guard<std::recursive_mutex> lock(g_mu);
        if (!g_module_override.empty()) {
            PtxModule alt;
            std::string alt_err;
            if (parse_ptx(g_module_override.data(), g_module_override.size(), alt, alt_err) == OK) {
                bool same = alt.entries.size() == m->ptx.entries.size();
                for (size_t i = 0; same && i < alt.entries.size(); i++) same = alt.entries[i].name == m->ptx.entries[i].name;
                if (same) m->ptx = std::move(alt);
            }
        }
    }
    for (const PtxEntry& e : m->ptx.entries) {
        Function* f = new Function();
        f->name = e.name;
        f->entry = e;
        f->module = m;
        m->functions.push_back(f);
    }
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    for (const PtxGlobal& g : m->ptx.globals) g_module_globals[reinterpret_cast<uintptr_t>(g.address)] = g.bytes;
    g_memory_map_stale = true;
    m->ctx = ctx;
    g_modules.insert(m);
    for (Function* f : m->functions) g_functions.insert(f);
    *out = m;
    return OK;
}

CUresult check_function(Function* f, Context* ctx) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (f == nullptr || g_functions.count(f) == 0 || !f->live)
        return fail(E_INVALID_HANDLE, "invalid or unloaded CUfunction");
    if (f->module->ctx != ctx) return fail(E_INVALID_HANDLE, "CUfunction belongs to another context");
    return OK;
}

Module* live_module(void* h) {
    Module* m = static_cast<Module*>(h);
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    return (m != nullptr && g_modules.count(m) != 0 && m->live) ? m : nullptr;
}

int max_threads_of(const Function* f) {
    if (f->entry.reqntid[0] != 0) return static_cast<int>(f->entry.reqntid[0] * f->entry.reqntid[1] * f->entry.reqntid[2]);
    if (f->entry.maxntid != 0 && f->entry.maxntid < kMaxThreadsPerBlock) return static_cast<int>(f->entry.maxntid);
    return static_cast<int>(kMaxThreadsPerBlock);
}


CUresult launch(Function* f, const unsigned grid[3], const unsigned block[3], unsigned shared, void* stream,
                void** params, void** extra, const char* what) {
    Context* ctx;
    if (CUresult r = need_context(ctx)) return r;
    if (CUresult r = check_function(f, ctx)) return r;
    if (CUresult r = check_stream(stream)) return r;
    if (extra != nullptr)
        return fail(E_NOT_SUPPORTED, std::string(what) + ": the 'extra' argument buffer is not supported by the "
                                                         "stand-in; pass kernelParams");
    for (int d = 0; d < 3; d++) {
        if (grid[d] == 0 || block[d] == 0) return fail(E_INVALID_VALUE, std::string(what) + ": zero grid or block dimension");
    }
    uint64_t threads = static_cast<uint64_t>(block[0]) * block[1] * block[2];
    if (threads > kMaxThreadsPerBlock || block[0] > 1024 || block[1] > 1024 || block[2] > 64)
        return fail(E_INVALID_VALUE, std::string(what) + ": block of " + std::to_string(threads) +
                                         " threads exceeds the device limits (1024 threads, 1024x1024x64)");
    if (grid[1] > 65535 || grid[2] > 65535 || grid[0] > 2147483647u)
        return fail(E_INVALID_VALUE, std::string(what) + ": grid dimension exceeds the device limits");
    const PtxEntry& e = f->entry;
    if (e.reqntid[0] != 0 && (block[0] != e.reqntid[0] || block[1] != e.reqntid[1] || block[2] != e.reqntid[2]))
        return fail(E_INVALID_VALUE, std::string(what) + ": block shape differs from the kernel's .reqntid");
    if (e.maxntid != 0 && threads > e.maxntid)
        return fail(E_LAUNCH_OUT_OF_RESOURCES, std::string(what) + ": " + std::to_string(threads) +
                                                   " threads exceed the kernel's __launch_bounds__ of " +
                                                   std::to_string(e.maxntid));
    if (shared > static_cast<unsigned>(f->max_dynamic_smem) || e.static_shared_bytes + shared > kSharedPerBlockOptin)
        return fail(E_INVALID_VALUE, std::string(what) + ": " + std::to_string(shared) +
                                         " bytes of dynamic shared memory exceed the kernel's limit of " +
                                         std::to_string(f->max_dynamic_smem) +
                                         " (raise CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)");
    if (!e.params.empty() && params == nullptr)
        return fail(E_INVALID_VALUE, std::string(what) + ": kernel " + f->name + " takes " +
                                         std::to_string(e.params.size()) + " parameters but kernelParams is null");
    for (size_t i = 0; i < e.params.size(); i++) {
        if (params[i] == nullptr)
            return fail(E_INVALID_VALUE, std::string(what) + ": kernelParams[" + std::to_string(i) + "] is null");
    }
    LaunchConfig cfg{{grid[0], grid[1], grid[2]}, {block[0], block[1], block[2]}, shared, params};
    std::string message;
    CUresult r = execute_grid(*f, cfg, memory_map(), message);
    if (r != OK) {
        std::lock_guard<std::recursive_mutex> lock(g_mu);
        make_sticky(ctx, r, message);
        note_failure(std::string(what) + ": " + message);
        return r;
    }
    return OK;
}

// ---- faults -----------------------------------------------------------------

struct Fault {
    bool armed = false;
    unsigned bits = 0;
    int remaining = 0;
    CUresult code = OK;
    std::string category;
};
std::mutex g_fault_mu;
std::vector<Fault> g_faults;

}  // namespace

std::atomic<int> g_faults_pending{0};

CUresult injected_fault(unsigned categories, const char* name) {
    if (categories & CAT_NO_FAULT) return OK;
    CUresult fired = OK;
    std::string category;
    {
        std::lock_guard<std::mutex> lock(g_fault_mu);
        for (Fault& f : g_faults) {
            if (!f.armed) continue;
            bool applies = f.bits == ~CAT_NO_FAULT || (categories & f.bits) != 0;
            if (!applies) continue;
            if (--f.remaining == 0) {
                f.armed = false;
                g_faults_pending.fetch_sub(1);
                if (fired == OK) {
                    fired = f.code;
                    category = f.category;
                }
            }
        }
    }
    if (fired != OK) {
        std::string msg = std::string("injected fault (") + category + "): " + name + " failed with code " +
                          std::to_string(fired);
        set_last_error(msg);
        // An injected kernel fault poisons the context exactly like a real one.
        if (is_sticky_code(fired) && g_initialized.load()) {
            std::lock_guard<std::recursive_mutex> lock(g_mu);
            Context* c = current_context();
            if (live_context(c)) make_sticky(c, fired, msg);
        }
    }
    return fired;
}

}  // namespace emu

using namespace emu;

typedef void* CUcontext;
typedef void* CUmodule;
typedef void* CUfunction;
typedef void* CUstream;
typedef void* CUevent;

#define API EMU_EXPORT

// ============================ initialisation / device ============================

API CUresult cuInit(unsigned int flags) {
    EMU_ENTER(CAT_NONE)
    if (flags != 0) return fail(E_INVALID_VALUE, "cuInit: flags must be 0");
    g_initialized.store(true);
    return OK;
}

API CUresult cuDriverGetVersion(int* version) {
    EMU_ENTER(CAT_NONE)
    if (version == nullptr) return fail(E_INVALID_VALUE, "cuDriverGetVersion: null pointer");
    *version = 13000;
    return OK;
}

static CUresult check_device(CUdevice dev) {
    if (CUresult r = need_init()) return r;
    if (dev != 0) return fail(E_INVALID_DEVICE, "the stand-in has exactly one device, ordinal 0");
    return OK;
}

API CUresult cuDeviceGetCount(int* count) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = need_init()) return r;
    if (count == nullptr) return fail(E_INVALID_VALUE, "cuDeviceGetCount: null pointer");
    *count = 1;
    return OK;
}

API CUresult cuDeviceGet(CUdevice* device, int ordinal) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = need_init()) return r;
    if (device == nullptr) return fail(E_INVALID_VALUE, "cuDeviceGet: null pointer");
    if (ordinal != 0) return fail(E_INVALID_DEVICE, "the stand-in has exactly one device, ordinal 0");
    *device = 0;
    return OK;
}

API CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = check_device(dev)) return r;
    if (name == nullptr || len <= 0) return fail(E_INVALID_VALUE, "cuDeviceGetName: bad buffer");
    std::snprintf(name, static_cast<size_t>(len), "%s", kDeviceName);
    return OK;
}

API CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = check_device(dev)) return r;
    if (bytes == nullptr) return fail(E_INVALID_VALUE, "cuDeviceTotalMem: null pointer");
    *bytes = total_memory();
    return OK;
}

API CUresult cuDeviceComputeCapability(int* major, int* minor, CUdevice dev) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = check_device(dev)) return r;
    if (major == nullptr || minor == nullptr) return fail(E_INVALID_VALUE, "cuDeviceComputeCapability: null pointer");
    *major = 9;
    *minor = 0;
    return OK;
}

static bool device_attribute(int attrib, int& v) {
    switch (attrib) {
        case 1: v = 1024; return true;                       // max threads per block
        case 2: v = 1024; return true;                       // max block dim x
        case 3: v = 1024; return true;                       // max block dim y
        case 4: v = 64; return true;                         // max block dim z
        case 5: v = 2147483647; return true;                 // max grid dim x
        case 6: v = 65535; return true;
        case 7: v = 65535; return true;
        case 8: v = static_cast<int>(kSharedPerBlock); return true;
        case 9: v = 65536; return true;                      // total constant memory
        case 10: v = 32; return true;                        // warp size
        case 11: v = 2147483647; return true;                // max pitch
        case 12: v = 65536; return true;                     // registers per block
        case 13: v = 1980000; return true;                   // clock rate kHz
        case 14: v = 512; return true;                       // texture alignment
        case 15: v = 1; return true;                         // gpu overlap
        case 16: v = sm_count(); return true;                // multiprocessors
        case 17: v = 0; return true;                         // kernel exec timeout
        case 18: v = 0; return true;                         // integrated
        case 19: v = 1; return true;                         // can map host memory
        case 20: v = 0; return true;                         // compute mode default
        case 30: v = 512; return true;                       // surface alignment
        case 31: v = 1; return true;                         // concurrent kernels
        case 32: v = 0; return true;                         // ECC
        case 33: case 34: case 50: v = 0; return true;       // PCI ids
        case 35: v = 0; return true;                         // TCC
        case 36: v = 2619000; return true;                   // memory clock kHz
        case 37: v = 5120; return true;                      // bus width
        case 38: v = 50 * 1024 * 1024; return true;          // L2
        case 39: v = 2048; return true;                      // threads per SM
        case 40: v = 2; return true;                         // async engines
        case 41: v = 1; return true;                         // unified addressing
        case 75: v = 9; return true;
        case 76: v = 0; return true;
        case 78: v = 1; return true;                         // stream priorities
        case 79: case 80: v = 1; return true;                // L1 caching
        case 81: v = 228 * 1024; return true;                // shared per SM
        case 82: v = 65536; return true;                     // registers per SM
        case 83: v = 1; return true;                         // managed memory
        case 84: v = 0; return true;
        case 86: v = 0; return true;
        case 87: v = 2; return true;                         // single/double perf ratio
        case 88: case 89: v = 0; return true;
        case 90: v = 1; return true;                         // preemption
        case 95: case 96: v = 0; return true;                // cooperative launch (no grid sync)
        case 97: v = static_cast<int>(kSharedPerBlockOptin); return true;
        case 106: v = 32; return true;                       // blocks per SM
        case 111: v = 1024; return true;                     // reserved shared per block
        case 115: v = 0; return true;                        // memory pools
        default:
            if (attrib > 0 && attrib <= 147) {
                v = 0;
                return true;
            }
            return false;
    }
}

API CUresult cuDeviceGetAttribute(int* value, int attrib, CUdevice dev) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = check_device(dev)) return r;
    if (value == nullptr) return fail(E_INVALID_VALUE, "cuDeviceGetAttribute: null pointer");
    int v;
    if (!device_attribute(attrib, v)) return fail(E_INVALID_VALUE, "unknown device attribute " + std::to_string(attrib));
    *value = v;
    return OK;
}

// ================================= contexts ==================================

API CUresult cuCtxCreate_v2(CUcontext* pctx, unsigned int flags, CUdevice dev) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = check_device(dev)) return r;
    if (pctx == nullptr) return fail(E_INVALID_VALUE, "cuCtxCreate: null pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Context* c = new_context(flags, false);
    t_ctx_stack.push_back(c);
    *pctx = c;
    return OK;
}

API CUresult cuCtxDestroy_v2(CUcontext ctx) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = need_init()) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Context* c = static_cast<Context*>(ctx);
    if (!live_context(c)) return fail(E_INVALID_CONTEXT, "cuCtxDestroy: invalid context");
    if (c->primary) return fail(E_INVALID_CONTEXT, "cuCtxDestroy: use cuDevicePrimaryCtxRelease for the primary context");
    destroy_context_resources_locked(c);
    c->alive = false;
    for (auto it = t_ctx_stack.begin(); it != t_ctx_stack.end();) it = (*it == c) ? t_ctx_stack.erase(it) : it + 1;
    return OK;
}

API CUresult cuCtxPushCurrent_v2(CUcontext ctx) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = need_init()) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Context* c = static_cast<Context*>(ctx);
    if (!live_context(c)) return fail(E_INVALID_CONTEXT, "cuCtxPushCurrent: invalid context");
    t_ctx_stack.push_back(c);
    return OK;
}

API CUresult cuCtxPopCurrent_v2(CUcontext* pctx) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = need_init()) return r;
    if (t_ctx_stack.empty()) return fail(E_INVALID_CONTEXT, "cuCtxPopCurrent: no current context");
    if (pctx != nullptr) *pctx = t_ctx_stack.back();
    t_ctx_stack.pop_back();
    return OK;
}

API CUresult cuCtxSetCurrent(CUcontext ctx) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = need_init()) return r;
    Context* c = static_cast<Context*>(ctx);
    if (c == nullptr) {
        if (!t_ctx_stack.empty()) t_ctx_stack.pop_back();
        return OK;
    }
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (!live_context(c)) return fail(E_INVALID_CONTEXT, "cuCtxSetCurrent: invalid context");
    if (t_ctx_stack.empty())
        t_ctx_stack.push_back(c);
    else
        t_ctx_stack.back() = c;
    return OK;
}

API CUresult cuCtxGetCurrent(CUcontext* pctx) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = need_init()) return r;
    if (pctx == nullptr) return fail(E_INVALID_VALUE, "cuCtxGetCurrent: null pointer");
    *pctx = current_context();
    return OK;
}

API CUresult cuCtxGetDevice(CUdevice* dev) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (dev == nullptr) return fail(E_INVALID_VALUE, "cuCtxGetDevice: null pointer");
    *dev = 0;
    return OK;
}

API CUresult cuCtxGetFlags(unsigned int* flags) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (flags == nullptr) return fail(E_INVALID_VALUE, "cuCtxGetFlags: null pointer");
    *flags = c->flags;
    return OK;
}

API CUresult cuCtxSynchronize(void) {
    EMU_ENTER(CAT_SYNC)
    Context* c;
    return need_context(c);
}

API CUresult cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = check_device(dev)) return r;
    if (pctx == nullptr) return fail(E_INVALID_VALUE, "cuDevicePrimaryCtxRetain: null pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (g_primary == nullptr) g_primary = new_context(g_primary_flags, true);
    g_primary->alive = true;
    g_primary_refs++;
    *pctx = g_primary;
    return OK;
}

static void reset_primary_locked() {
    destroy_context_resources_locked(g_primary);
    g_primary->sticky = OK;
    g_primary->sticky_reason.clear();
}

API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = check_device(dev)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (g_primary == nullptr || g_primary_refs == 0)
        return fail(E_INVALID_CONTEXT, "cuDevicePrimaryCtxRelease: primary context is not retained");
    if (--g_primary_refs == 0) {
        // The handle stays valid for a later retain, as on the device.
        reset_primary_locked();
        g_primary->alive = false;
    }
    return OK;
}

API CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = check_device(dev)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (g_primary != nullptr) reset_primary_locked();
    return OK;
}

API CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int* flags, int* active) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = check_device(dev)) return r;
    if (flags == nullptr || active == nullptr) return fail(E_INVALID_VALUE, "cuDevicePrimaryCtxGetState: null pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    *flags = g_primary_flags;
    *active = g_primary_refs > 0;
    return OK;
}

API CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags) {
    EMU_ENTER(CAT_NONE)
    if (CUresult r = check_device(dev)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    g_primary_flags = flags;
    if (g_primary != nullptr) g_primary->flags = flags;
    return OK;
}

// ================================= memory ====================================

API CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytes) {
    EMU_ENTER(CAT_ALLOC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (dptr == nullptr) return fail(E_INVALID_VALUE, "null result pointer");
    void* p = nullptr;
    CUresult r = allocate(c, bytes, K_DEVICE, 0, &p, "cuMemAlloc");
    if (r == OK) *dptr = reinterpret_cast<CUdeviceptr>(p);
    return r;
}

API CUresult cuMemAllocManaged(CUdeviceptr* dptr, size_t bytes, unsigned int flags) {
    EMU_ENTER(CAT_ALLOC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (dptr == nullptr) return fail(E_INVALID_VALUE, "null result pointer");
    void* p = nullptr;
    CUresult r = allocate(c, bytes, K_MANAGED, flags, &p, "cuMemAllocManaged");
    if (r == OK) *dptr = reinterpret_cast<CUdeviceptr>(p);
    return r;
}

API CUresult cuMemFree_v2(CUdeviceptr dptr) {
    EMU_ENTER(CAT_FREE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    return release(dptr, false, "cuMemFree");
}

API CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream stream) {
    EMU_ENTER(CAT_FREE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(stream)) return r;
    return release(dptr, false, "cuMemFreeAsync");
}

API CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total_bytes) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    size_t used = g_device_bytes + g_host_bytes;
    if (free_bytes) *free_bytes = used >= total_memory() ? 0 : total_memory() - used;
    if (total_bytes) *total_bytes = total_memory();
    return OK;
}

API CUresult cuMemAllocHost_v2(void** pp, size_t bytes) {
    EMU_ENTER(CAT_ALLOC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    return allocate(c, bytes, K_HOST, 0, pp, "cuMemAllocHost");
}

API CUresult cuMemHostAlloc(void** pp, size_t bytes, unsigned int flags) {
    EMU_ENTER(CAT_ALLOC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    return allocate(c, bytes, K_HOST, flags, pp, "cuMemHostAlloc");
}

API CUresult cuMemFreeHost(void* p) {
    EMU_ENTER(CAT_FREE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    return release(reinterpret_cast<uintptr_t>(p), true, "cuMemFreeHost");
}

API CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr* dptr, void* p, unsigned int flags) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (dptr == nullptr || flags != 0) return fail(E_INVALID_VALUE, "cuMemHostGetDevicePointer: bad arguments");
    if (!inside_device_memory(reinterpret_cast<uintptr_t>(p)))
        return fail(E_INVALID_VALUE, "cuMemHostGetDevicePointer: not a pinned host allocation");
    *dptr = reinterpret_cast<CUdeviceptr>(p);
    return OK;
}

// ----------------------------------- copies -----------------------------------

#define COPY_PROLOGUE()                             \
    Context* c;                                     \
    if (CUresult r = need_context(c)) return r;

API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
    EMU_ENTER(CAT_COPY | CAT_BLOCKING_COPY)
    COPY_PROLOGUE()
    return copy_d_h(reinterpret_cast<void*>(dst), true, src, false, n, "cuMemcpyHtoD");
}

API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
    EMU_ENTER(CAT_COPY | CAT_BLOCKING_COPY)
    COPY_PROLOGUE()
    return copy_d_h(dst, false, reinterpret_cast<const void*>(src), true, n, "cuMemcpyDtoH");
}

API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    EMU_ENTER(CAT_COPY | CAT_BLOCKING_COPY)
    COPY_PROLOGUE()
    return copy_d_h(reinterpret_cast<void*>(dst), true, reinterpret_cast<const void*>(src), true, n, "cuMemcpyDtoD");
}

API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream s) {
    EMU_ENTER(CAT_COPY | CAT_ASYNC_COPY)
    COPY_PROLOGUE()
    if (CUresult r = check_stream(s)) return r;
    return copy_d_h(reinterpret_cast<void*>(dst), true, src, false, n, "cuMemcpyHtoDAsync");
}

API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream s) {
    EMU_ENTER(CAT_COPY | CAT_ASYNC_COPY)
    COPY_PROLOGUE()
    if (CUresult r = check_stream(s)) return r;
    return copy_d_h(dst, false, reinterpret_cast<const void*>(src), true, n, "cuMemcpyDtoHAsync");
}

API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    EMU_ENTER(CAT_COPY | CAT_ASYNC_COPY)
    COPY_PROLOGUE()
    if (CUresult r = check_stream(s)) return r;
    return copy_d_h(reinterpret_cast<void*>(dst), true, reinterpret_cast<const void*>(src), true, n,
                    "cuMemcpyDtoDAsync");
}

// Unified addressing: a pointer inside an allocation is device memory and
// must hold the whole range; anything else is host memory.
static CUresult unified_copy(CUdeviceptr dst, CUdeviceptr src, size_t n, const char* what) {
    bool dd = inside_device_memory(dst);
    bool sd = inside_device_memory(src);
    return copy_d_h(reinterpret_cast<void*>(dst), dd, reinterpret_cast<const void*>(src), sd, n, what);
}

API CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    EMU_ENTER(CAT_COPY | CAT_BLOCKING_COPY)
    COPY_PROLOGUE()
    return unified_copy(dst, src, n, "cuMemcpy");
}

API CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    EMU_ENTER(CAT_COPY | CAT_ASYNC_COPY)
    COPY_PROLOGUE()
    if (CUresult r = check_stream(s)) return r;
    return unified_copy(dst, src, n, "cuMemcpyAsync");
}

API CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) {
    EMU_ENTER(CAT_MEMSET)
    COPY_PROLOGUE()
    return memset_n(d, v, n, 1, "cuMemsetD8");
}

API CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned int v, size_t n) {
    EMU_ENTER(CAT_MEMSET)
    COPY_PROLOGUE()
    return memset_n(d, v, n, 4, "cuMemsetD32");
}

API CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream s) {
    EMU_ENTER(CAT_MEMSET)
    COPY_PROLOGUE()
    if (CUresult r = check_stream(s)) return r;
    return memset_n(d, v, n, 1, "cuMemsetD8Async");
}

API CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, CUstream s) {
    EMU_ENTER(CAT_MEMSET)
    COPY_PROLOGUE()
    if (CUresult r = check_stream(s)) return r;
    return memset_n(d, v, n, 4, "cuMemsetD32Async");
}

// ================================== modules ==================================

API CUresult cuModuleLoadData(CUmodule* module, const void* image) {
    EMU_ENTER(CAT_MODULE)
    return load_module(static_cast<const char*>(image), SIZE_MAX, reinterpret_cast<Module**>(module),
                       "cuModuleLoadData");
}

API CUresult cuModuleLoadDataEx(CUmodule* module, const void* image, unsigned int, int*, void**) {
    EMU_ENTER(CAT_MODULE)
    return load_module(static_cast<const char*>(image), SIZE_MAX, reinterpret_cast<Module**>(module),
                       "cuModuleLoadDataEx");
}

API CUresult cuModuleLoadFatBinary(CUmodule* module, const void* image) {
    EMU_ENTER(CAT_MODULE)
    return load_module(static_cast<const char*>(image), SIZE_MAX, reinterpret_cast<Module**>(module),
                       "cuModuleLoadFatBinary");
}

API CUresult cuModuleLoad(CUmodule* module, const char* fname) {
    EMU_ENTER(CAT_MODULE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (fname == nullptr) return fail(E_INVALID_VALUE, "cuModuleLoad: null file name");
    std::ifstream in(fname, std::ios::binary);
    if (!in) return fail(E_FILE_NOT_FOUND, std::string("cuModuleLoad: cannot read ") + fname);
    std::stringstream buf;
    buf << in.rdbuf();
    std::string text = buf.str();
    if (text.size() < 4) text.resize(4, '\0');
    return load_module(text.c_str(), text.size(), reinterpret_cast<Module**>(module), "cuModuleLoad");
}

API CUresult cuModuleUnload(CUmodule hmod) {
    EMU_ENTER(CAT_MODULE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    Module* m = live_module(hmod);
    if (m == nullptr) return fail(E_INVALID_HANDLE, "cuModuleUnload: invalid module");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    m->live = false;
    for (Function* f : m->functions) f->live = false;
    return OK;
}

API CUresult cuModuleGetFunction(CUfunction* hfunc, CUmodule hmod, const char* name) {
    EMU_ENTER(CAT_MODULE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (hfunc == nullptr || name == nullptr) return fail(E_INVALID_VALUE, "cuModuleGetFunction: null argument");
    Module* m = live_module(hmod);
    if (m == nullptr) return fail(E_INVALID_HANDLE, "cuModuleGetFunction: invalid module");
    for (Function* f : m->functions) {
        if (f->name == name) {
            *hfunc = f;
            return OK;
        }
    }
    return fail(E_NOT_FOUND, std::string("cuModuleGetFunction: no entry named ") + name + " in the module");
}

API CUresult cuModuleGetGlobal_v2(CUdeviceptr* dptr, size_t* bytes, CUmodule hmod, const char* name) {
    EMU_ENTER(CAT_MODULE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (name == nullptr) return fail(E_INVALID_VALUE, "cuModuleGetGlobal: null name");
    Module* m = live_module(hmod);
    if (m == nullptr) return fail(E_INVALID_HANDLE, "cuModuleGetGlobal: invalid module");
    for (const PtxGlobal& g : m->ptx.globals) {
        if (g.name == name) {
            if (dptr) *dptr = reinterpret_cast<CUdeviceptr>(g.address);
            if (bytes) *bytes = g.bytes;
            return OK;
        }
    }
    return fail(E_NOT_FOUND, std::string("cuModuleGetGlobal: no global named ") + name);
}

// ================================= functions =================================

static CUresult function_for_query(CUfunction h, Function*& f) {
    Context* c;
    if (CUresult r = need_context(c)) return r;
    f = static_cast<Function*>(h);
    return check_function(f, c);
}

API CUresult cuFuncGetAttribute(int* value, int attrib, CUfunction h) {
    EMU_ENTER(CAT_NONE)
    Function* f;
    if (CUresult r = function_for_query(h, f)) return r;
    if (value == nullptr) return fail(E_INVALID_VALUE, "cuFuncGetAttribute: null pointer");
    switch (attrib) {
        case 0: *value = max_threads_of(f); return OK;
        case 1: *value = static_cast<int>(f->entry.static_shared_bytes); return OK;
        case 2: *value = 0; return OK;
        case 3: *value = 0; return OK;
        case 4: *value = 32; return OK;
        case 5: *value = 80; return OK;
        case 6: *value = 90; return OK;
        case 7: *value = 0; return OK;
        case 8: *value = f->max_dynamic_smem; return OK;
        case 9: *value = f->preferred_carveout; return OK;
        default:
            if (attrib >= 10 && attrib <= 15) {
                *value = 0;
                return OK;
            }
            return fail(E_INVALID_VALUE, "cuFuncGetAttribute: unknown attribute");
    }
}

API CUresult cuFuncSetAttribute(CUfunction h, int attrib, int value) {
    EMU_ENTER(CAT_NONE)
    Function* f;
    if (CUresult r = function_for_query(h, f)) return r;
    if (attrib == 8) {
        if (value < 0 || static_cast<size_t>(value) + f->entry.static_shared_bytes > kSharedPerBlockOptin)
            return fail(E_INVALID_VALUE, "cuFuncSetAttribute: dynamic shared memory above the 227 KiB opt-in limit");
        f->max_dynamic_smem = value;
        return OK;
    }
    if (attrib == 9) {
        if (value < -1 || value > 100) return fail(E_INVALID_VALUE, "cuFuncSetAttribute: carveout out of range");
        f->preferred_carveout = value;
        return OK;
    }
    return fail(E_INVALID_VALUE, "cuFuncSetAttribute: attribute cannot be set");
}

// ================================== launches ==================================

API CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                            unsigned bz, unsigned shared, CUstream stream, void** params, void** extra) {
    EMU_ENTER(CAT_LAUNCH)
    const unsigned grid[3] = {gx, gy, gz};
    const unsigned block[3] = {bx, by, bz};
    return launch(static_cast<Function*>(f), grid, block, shared, stream, params, extra, "cuLaunchKernel");
}

API CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                       unsigned bz, unsigned shared, CUstream stream, void** params) {
    EMU_ENTER(CAT_LAUNCH)
    const unsigned grid[3] = {gx, gy, gz};
    const unsigned block[3] = {bx, by, bz};
    return launch(static_cast<Function*>(f), grid, block, shared, stream, params, nullptr,
                  "cuLaunchCooperativeKernel");
}


// ============================== streams and events ==============================

static CUresult new_stream(CUstream* out, unsigned flags, int priority) {
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (out == nullptr) return fail(E_INVALID_VALUE, "null stream pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Stream* s = new Stream{c, flags, priority};
    g_streams.insert(s);
    *out = s;
    return OK;
}

API CUresult cuStreamCreate(CUstream* out, unsigned int flags) {
    EMU_ENTER(CAT_NONE)
    return new_stream(out, flags, 0);
}

static Stream* real_stream(CUstream s) {
    if (s == nullptr || s == reinterpret_cast<void*>(1) || s == reinterpret_cast<void*>(2)) return nullptr;
    return static_cast<Stream*>(s);
}

API CUresult cuStreamDestroy_v2(CUstream s) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    Stream* st = real_stream(s);
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (st == nullptr || g_streams.count(st) == 0 || !st->live) return fail(E_INVALID_HANDLE, "cuStreamDestroy: invalid stream");
    st->live = false;
    return OK;
}

API CUresult cuStreamSynchronize(CUstream s) {
    EMU_ENTER(CAT_SYNC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    return check_stream(s);
}

API CUresult cuStreamQuery(CUstream s) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    return check_stream(s);
}

API CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned int) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(s)) return r;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Event* ev = static_cast<Event*>(e);
    if (ev == nullptr || g_events.count(ev) == 0 || !ev->live) return fail(E_INVALID_HANDLE, "cuStreamWaitEvent: invalid event");
    return OK;
}

API CUresult cuStreamGetFlags(CUstream s, unsigned int* flags) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(s)) return r;
    if (flags == nullptr) return fail(E_INVALID_VALUE, "null pointer");
    Stream* st = real_stream(s);
    *flags = st ? st->flags : 0;
    return OK;
}

API CUresult cuStreamGetCtx(CUstream s, CUcontext* out) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(s)) return r;
    if (out == nullptr) return fail(E_INVALID_VALUE, "null pointer");
    Stream* st = real_stream(s);
    *out = st ? st->ctx : c;
    return OK;
}

static Event* live_event(CUevent e) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Event* ev = static_cast<Event*>(e);
    return (ev != nullptr && g_events.count(ev) != 0 && ev->live) ? ev : nullptr;
}

API CUresult cuEventCreate(CUevent* out, unsigned int flags) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (out == nullptr) return fail(E_INVALID_VALUE, "null event pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Event* e = new Event{c, flags, true, false, {}};
    g_events.insert(e);
    *out = e;
    return OK;
}

API CUresult cuEventDestroy_v2(CUevent e) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    Event* ev = live_event(e);
    if (ev == nullptr) return fail(E_INVALID_HANDLE, "cuEventDestroy: invalid event");
    ev->live = false;
    return OK;
}

static CUresult record_event(CUevent e, CUstream s) {
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (CUresult r = check_stream(s)) return r;
    Event* ev = live_event(e);
    if (ev == nullptr) return fail(E_INVALID_HANDLE, "cuEventRecord: invalid event");
    ev->recorded = true;
    ev->when = std::chrono::steady_clock::now();
    return OK;
}

API CUresult cuEventRecord(CUevent e, CUstream s) {
    EMU_ENTER(CAT_NONE)
    return record_event(e, s);
}

API CUresult cuEventQuery(CUevent e) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (live_event(e) == nullptr) return fail(E_INVALID_HANDLE, "cuEventQuery: invalid event");
    return OK;
}

API CUresult cuEventSynchronize(CUevent e) {
    EMU_ENTER(CAT_SYNC)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    if (live_event(e) == nullptr) return fail(E_INVALID_HANDLE, "cuEventSynchronize: invalid event");
    return OK;
}

API CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end) {
    EMU_ENTER(CAT_NONE)
    Context* c;
    if (CUresult r = need_context(c)) return r;
    Event* a = live_event(start);
    Event* b = live_event(end);
    if (ms == nullptr) return fail(E_INVALID_VALUE, "cuEventElapsedTime: null pointer");
    if (a == nullptr || b == nullptr || (a->flags & 2u) || (b->flags & 2u) || !a->recorded || !b->recorded)
        return fail(E_INVALID_HANDLE, "cuEventElapsedTime: events must be timing-enabled and recorded");
    *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
    return OK;
}

// ================================ miscellaneous ================================

namespace {
struct ErrorName {
    CUresult code;
    const char* name;
    const char* text;
};
const ErrorName kErrors[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {4, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {5, "CUDA_ERROR_PROFILER_DISABLED", "profiler disabled while using external profiling tool"},
    {6, "CUDA_ERROR_PROFILER_NOT_INITIALIZED", "profiler not initialized"},
    {7, "CUDA_ERROR_PROFILER_ALREADY_STARTED", "profiler already started"},
    {8, "CUDA_ERROR_PROFILER_ALREADY_STOPPED", "profiler already stopped"},
    {34, "CUDA_ERROR_STUB_LIBRARY", "CUDA driver is a stub library"},
    {36, "CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER", "call requires a newer driver"},
    {46, "CUDA_ERROR_DEVICE_UNAVAILABLE", "CUDA-capable device(s) is/are busy or unavailable"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {102, "CUDA_ERROR_DEVICE_NOT_LICENSED", "device doesn't have valid Grid license"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {202, "CUDA_ERROR_CONTEXT_ALREADY_CURRENT", "context already current"},
    {205, "CUDA_ERROR_MAP_FAILED", "mapping of buffer object failed"},
    {206, "CUDA_ERROR_UNMAP_FAILED", "unmapping of buffer object failed"},
    {207, "CUDA_ERROR_ARRAY_IS_MAPPED", "array is mapped"},
    {208, "CUDA_ERROR_ALREADY_MAPPED", "resource already mapped"},
    {209, "CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"},
    {210, "CUDA_ERROR_ALREADY_ACQUIRED", "resource already acquired"},
    {211, "CUDA_ERROR_NOT_MAPPED", "resource not mapped"},
    {212, "CUDA_ERROR_NOT_MAPPED_AS_ARRAY", "resource not mapped as array"},
    {213, "CUDA_ERROR_NOT_MAPPED_AS_POINTER", "resource not mapped as pointer"},
    {214, "CUDA_ERROR_ECC_UNCORRECTABLE", "uncorrectable ECC error encountered"},
    {215, "CUDA_ERROR_UNSUPPORTED_LIMIT", "limit is not supported on this architecture"},
    {216, "CUDA_ERROR_CONTEXT_ALREADY_IN_USE", "exclusive-thread device already in use by a different thread"},
    {217, "CUDA_ERROR_PEER_ACCESS_UNSUPPORTED", "peer access is not supported between these two devices"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {219, "CUDA_ERROR_INVALID_GRAPHICS_CONTEXT", "invalid OpenGL or DirectX context"},
    {220, "CUDA_ERROR_NVLINK_UNCORRECTABLE", "uncorrectable NVLink error detected during the execution"},
    {221, "CUDA_ERROR_JIT_COMPILER_NOT_FOUND", "PTX JIT compiler library not found"},
    {222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "the provided PTX was compiled with an unsupported toolchain."},
    {223, "CUDA_ERROR_JIT_COMPILATION_DISABLED", "PTX JIT compilation was disabled"},
    {224, "CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY", "the provided execution affinity is not supported"},
    {300, "CUDA_ERROR_INVALID_SOURCE", "device kernel image is invalid"},
    {301, "CUDA_ERROR_FILE_NOT_FOUND", "file not found"},
    {302, "CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND", "shared object symbol not found"},
    {303, "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED", "shared object initialization failed"},
    {304, "CUDA_ERROR_OPERATING_SYSTEM", "OS call failed or operation not supported on this OS"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {401, "CUDA_ERROR_ILLEGAL_STATE", "the operation cannot be performed in the present state"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {600, "CUDA_ERROR_NOT_READY", "device not ready"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {702, "CUDA_ERROR_LAUNCH_TIMEOUT", "the launch timed out and was terminated"},
    {703, "CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING", "launch uses incompatible texturing mode"},
    {704, "CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED", "peer access is already enabled"},
    {705, "CUDA_ERROR_PEER_ACCESS_NOT_ENABLED", "peer access has not been enabled"},
    {708, "CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE", "cannot set while device is active in this process"},
    {709, "CUDA_ERROR_CONTEXT_IS_DESTROYED", "context is destroyed"},
    {710, "CUDA_ERROR_ASSERT", "device-side assert triggered"},
    {711, "CUDA_ERROR_TOO_MANY_PEERS", "peer mapping resources exhausted"},
    {712, "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED", "part or all of the requested memory range is already mapped"},
    {713, "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED", "pointer does not correspond to a registered memory region"},
    {714, "CUDA_ERROR_HARDWARE_STACK_ERROR", "hardware stack error"},
    {715, "CUDA_ERROR_ILLEGAL_INSTRUCTION", "an illegal instruction was encountered"},
    {716, "CUDA_ERROR_MISALIGNED_ADDRESS", "misaligned address"},
    {717, "CUDA_ERROR_INVALID_ADDRESS_SPACE", "operation not supported on global/shared address space"},
    {718, "CUDA_ERROR_INVALID_PC", "invalid program counter"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {720, "CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE", "too many blocks in cooperative launch"},
    {800, "CUDA_ERROR_NOT_PERMITTED", "operation not permitted"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {802, "CUDA_ERROR_SYSTEM_NOT_READY", "system not yet initialized"},
    {803, "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", "system has unsupported display driver / cuda driver combination"},
    {804, "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE", "forward compatibility was attempted on non supported HW"},
    {900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing"},
    {901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture"},
    {902, "CUDA_ERROR_STREAM_CAPTURE_MERGE", "operation would result in a merge of separate capture sequences"},
    {903, "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED", "capture was not ended in the same stream as it began"},
    {904, "CUDA_ERROR_STREAM_CAPTURE_UNJOINED", "capturing stream has unjoined work"},
    {905, "CUDA_ERROR_STREAM_CAPTURE_ISOLATION", "dependency created on uncaptured work in another stream"},
    {906, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT", "operation would make the legacy stream depend on a capturing blocking stream"},
    {907, "CUDA_ERROR_CAPTURED_EVENT", "operation not permitted on an event last recorded in a capturing stream"},
    {908, "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD", "attempt to terminate a thread-local capture sequence from another thread"},
    {909, "CUDA_ERROR_TIMEOUT", "wait operation timed out"},
    {910, "CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE", "the graph update was not performed because it included changes which violated constraints specific to instantiated graph update"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

const ErrorName* find_error(CUresult code) {
    for (const ErrorName& e : kErrors)
        if (e.code == code) return &e;
    return nullptr;
}
}  // namespace

API CUresult cuGetErrorName(CUresult code, const char** name) {
    EMU_ENTER(CAT_NO_FAULT)
    if (name == nullptr) return E_INVALID_VALUE;
    const ErrorName* e = find_error(code);
    *name = e ? e->name : nullptr;
    return e ? OK : E_INVALID_VALUE;
}

API CUresult cuGetErrorString(CUresult code, const char** text) {
    EMU_ENTER(CAT_NO_FAULT)
    if (text == nullptr) return E_INVALID_VALUE;
    const ErrorName* e = find_error(code);
    *text = e ? e->text : nullptr;
    return e ? OK : E_INVALID_VALUE;
}

// ============================ control API (tests) ==============================
// Used by libfusedopt_emu_ctl.so (JNI) on behalf of io.fusedopt.emu.StandIn.
// The ctl library looks these up with dlsym, so their absence identifies the
// real driver.

API int fusedopt_emu_abi_version(void) { return 1; }

API void fusedopt_emu_reset_counters(void) {
    std::lock_guard<std::mutex> lock(g_counter_mu);
    for (Counter* c : counters()) c->calls.store(0);
}

API unsigned long long fusedopt_emu_count(const char* name) {
    std::lock_guard<std::mutex> lock(g_counter_mu);
    for (Counter* c : counters())
        if (std::strcmp(c->name, name) == 0) return c->calls.load();
    return 0;
}

// Returns ULLONG_MAX for an unknown category name.
API unsigned long long fusedopt_emu_count_category(const char* category) {
    unsigned bits;
    if (!category_bits(category, bits)) return ULLONG_MAX;
    std::lock_guard<std::mutex> lock(g_counter_mu);
    unsigned long long total = 0;
    for (Counter* c : counters()) {
        bool in = bits == ~CAT_NO_FAULT ? (c->categories & CAT_CUBLAS) == 0 : (c->categories & bits) != 0;
        if (in) total += c->calls.load();
    }
    return total;
}

API unsigned long long fusedopt_emu_live_allocations(void) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    return g_device_count;
}

API unsigned long long fusedopt_emu_live_bytes(void) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    return g_device_bytes;
}

API unsigned long long fusedopt_emu_live_host_allocations(void) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    return g_host_count;
}

// 0 on success, -1 for an unknown category, -2 for n < 1.
API int fusedopt_emu_fail_nth(const char* category, int n, int code) {
    unsigned bits;
    if (category == nullptr || !category_bits(category, bits)) return -1;
    if (n < 1) return -2;
    std::lock_guard<std::mutex> lock(g_fault_mu);
    for (Fault& f : g_faults) {
        if (f.armed && f.category == category) {
            f.remaining = n;
            f.code = code;
            return 0;
        }
    }
    Fault f;
    f.armed = true;
    f.bits = bits;
    f.remaining = n;
    f.code = code;
    f.category = category;
    g_faults.push_back(f);
    g_faults_pending.fetch_add(1);
    return 0;
}

API void fusedopt_emu_clear_faults(void) {
    std::lock_guard<std::mutex> lock(g_fault_mu);
    for (Fault& f : g_faults)
        if (f.armed) g_faults_pending.fetch_sub(1);
    g_faults.clear();
}

API size_t fusedopt_emu_last_error(char* buf, size_t cap) {
    std::lock_guard<std::mutex> lock(g_msg_mu);
    if (buf != nullptr && cap > 0) std::snprintf(buf, cap, "%s", g_last_error.c_str());
    return g_last_error.size();
}

API void fusedopt_emu_forget_init(void) { g_initialized.store(false); }

// Later module loads whose entries have the same names as this PTX's load this PTX instead; null or
// an empty string ends that.
API void fusedopt_emu_override_module(const char* ptx) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    g_module_override = ptx != nullptr ? ptx : "";
}

// ---- hooks for the library stand-ins (libcublas.so.12) ---------------------
// The cuBLAS stand-in links against this library and uses these to count its
// calls (category "cublas", not part of "any"), to check device pointers
// against the allocation table and to report why a call failed.

// The call counter of a library entry point; the name must stay valid for the
// life of the process (callers pass __func__).
API void* fusedopt_emu_library_counter(const char* name) {
    return &register_counter(name, CAT_CUBLAS)->calls;
}

// 1 when [p, p + n) lies inside one live device allocation or module global.
API int fusedopt_emu_device_range(unsigned long long p, size_t n) {
    return device_range(static_cast<uintptr_t>(p), n) ? 1 : 0;
}

API void fusedopt_emu_note_failure(const char* msg) { note_failure(msg ? msg : ""); }

// The CUDA driver API surface of the fusedopt CPU stand-in for libcuda.so.1:
// one emulated device whose memory is host memory, synchronous streams, and
// modules whose PTX (given directly or inside a fatbin) interp_*.cpp executes. Behaviour that callers can
// observe (error codes, sticky launch failures, bounds of copies) follows
// the real driver; the README lists where it cannot.
// This file: diagnostics, call counters, the object and allocation tables and the
// helpers every entry point uses (driver_internal.h).
#include <algorithm>
#include <deque>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "driver_internal.h"

namespace emu {

// ---- diagnostics ------------------------------------------------------------
std::mutex g_msg_mu;
std::string g_last_error;

namespace {
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
    {"cublas", CAT_CUBLAS}, {"graph_launch", CAT_GRAPH_LAUNCH}, {"any", ~CAT_NO_FAULT},
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
namespace {
std::deque<std::pair<uintptr_t, size_t>> g_quarantine;
size_t g_quarantine_bytes = 0;
constexpr size_t kQuarantineLimit = 64u << 20;
constexpr size_t kQuarantineEntries = 64;
}  // namespace

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

CUresult copy_d_h(void* dst, bool dst_dev, const void* src, bool src_dev, size_t n, const char* what, bool run) {
    if (n == 0) return OK;
    if (dst == nullptr || src == nullptr) return fail(E_INVALID_VALUE, std::string(what) + ": null pointer");
    if (dst_dev && !device_range(reinterpret_cast<uintptr_t>(dst), n))
        return range_error(what, "destination", reinterpret_cast<uintptr_t>(dst), n);
    if (src_dev && !device_range(reinterpret_cast<uintptr_t>(src), n))
        return range_error(what, "source", reinterpret_cast<uintptr_t>(src), n);
    if (run) std::memmove(dst, src, n);
    return OK;
}

CUresult memset_n(CUdeviceptr dst, unsigned value, size_t count, size_t width, const char* what, bool run) {
    if (count == 0) return OK;
    if (dst % width != 0) return fail(E_INVALID_VALUE, std::string(what) + ": destination is not aligned");
    if (count > SIZE_MAX / width) return fail(E_INVALID_VALUE, std::string(what) + ": size overflows");
    if (!device_range(dst, count * width)) return range_error(what, "destination", dst, count * width);
    if (!run) return OK;
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

}  // namespace emu

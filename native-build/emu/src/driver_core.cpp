// The CUDA driver API surface of the fusedopt CPU stand-in for libcuda.so.1:
// one emulated device whose memory is host memory, synchronous streams, and
// modules whose PTX (given directly or inside a fatbin) interp.cpp executes. Behaviour that callers can
// observe (error codes, sticky launch failures, bounds of copies) follows
// the real driver; the README lists where it cannot.
// This file: diagnostics, the object and allocation tables and the
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

// ---- state ------------------------------------------------------------------
std::atomic<bool> g_initialized{false};
std::recursive_mutex g_mu;  // guards everything below
std::unordered_set<Context*> g_contexts;
std::unordered_set<Module*> g_modules;
std::unordered_set<Function*> g_functions;
std::unordered_set<Stream*> g_streams;
std::unordered_set<Event*> g_events;
std::map<uintptr_t, Allocation> g_allocs;
std::map<uintptr_t, size_t> g_module_globals;
uint64_t g_device_count = 0, g_device_bytes = 0, g_host_count = 0, g_host_bytes = 0;
std::string g_module_override;  // PTX replacing a module with the same entries (tests)
bool g_memory_map_stale = true;

thread_local std::vector<Context*> t_ctx_stack;

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
    if (c == nullptr || !c->live) return fail(E_INVALID_CONTEXT, "no current CUDA context on this thread");
    if (c->sticky != OK) return fail(c->sticky, "context is unusable after an earlier failure: " + c->sticky_reason);
    out = c;
    return OK;
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

CUresult allocate(Context* ctx, size_t bytes, bool host, void** out, const char* what) {
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
    g_allocs[reinterpret_cast<uintptr_t>(p)] = Allocation{bytes, ctx, host};
    g_memory_map_stale = true;
    if (host) {
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
    if (it->second.host) {
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
// Rebuilt only after allocations, frees or module loads changed it.
std::vector<MemRange> memory_map() {
    static std::vector<MemRange> out;
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (!g_memory_map_stale) return out;
    g_memory_map_stale = false;
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
    if (it == g_allocs.end() || it->second.host != host) {
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
    auto inside = [&](uintptr_t base, size_t size) { return p >= base && p - base <= size && n <= size - (p - base); };
    auto it = g_allocs.upper_bound(p);
    if (it != g_allocs.begin() && inside(std::prev(it)->first, std::prev(it)->second.size)) return true;
    auto gt = g_module_globals.upper_bound(p);
    return gt != g_module_globals.begin() && inside(std::prev(gt)->first, std::prev(gt)->second);
}

namespace {
CUresult range_error(const char* what, const char* side, uintptr_t p, size_t n) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s: %s range [0x%llx, +%zu) is not inside one device allocation", what, side,
                  static_cast<unsigned long long>(p), n);
    return fail(E_INVALID_VALUE, buf);
}
}  // namespace

CUresult check_stream(void* s) {
    if (stream_of(s) != nullptr && live(g_streams, s) == nullptr) return fail(E_INVALID_HANDLE, "invalid stream handle");
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

CUresult memset_d32(CUdeviceptr dst, unsigned value, size_t count, const char* what, bool run) {
    if (count == 0) return OK;
    if (dst % 4 != 0) return fail(E_INVALID_VALUE, std::string(what) + ": destination is not aligned");
    if (count > SIZE_MAX / 4) return fail(E_INVALID_VALUE, std::string(what) + ": size overflows");
    if (!device_range(dst, count * 4)) return range_error(what, "destination", dst, count * 4);
    if (run)
        for (size_t i = 0; i < count; i++) std::memcpy(reinterpret_cast<unsigned char*>(dst) + 4 * i, &value, 4);
    return OK;
}

}  // namespace emu

// State and helpers shared by the translation units of the driver API
// (driver_*.cpp): the object tables, the allocation table and the checks every
// entry point uses. Internal: hidden from the library's exports like the rest
// of namespace emu (-fvisibility=hidden).
#ifndef FUSEDOPT_EMU_DRIVER_INTERNAL_H
#define FUSEDOPT_EMU_DRIVER_INTERNAL_H

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "emu_internal.h"

namespace emu {

// ---- diagnostics (driver_core.cpp) --------------------------------------------------
extern std::mutex g_msg_mu;
extern std::string g_last_error;

// ---- state (driver_core.cpp) -------------------------------------------------------
// Objects are never deleted, only marked dead: a stale handle from Java then
// reads as invalid instead of aliasing a newer object at the same address.
struct Context {
    bool primary = false;
    bool live = true;
    CUresult sticky = OK;
    std::string sticky_reason;
};

// Named in emu_internal.h (Function points back to it).
struct Module {
    Context* ctx = nullptr;
    bool live = true;
    PtxModule ptx;
    std::vector<Function*> functions;
};

struct Capture;  // a stream capture sequence (driver_stream.cpp)

struct Stream {
    Context* ctx;
    unsigned flags;
    bool live = true;
    Capture* capture = nullptr;  // the capture this stream records into, if any
    std::vector<size_t> deps;    // while capturing: the nodes its next node depends on
};

struct Event {
    Context* ctx;
    unsigned flags;
    bool live = true;
    bool recorded = false;
    std::chrono::steady_clock::time_point when;
    Capture* capture = nullptr;  // last recorded in this capture (kept after it ended)
    std::vector<size_t> deps;
};

struct Allocation {
    size_t size;
    Context* ctx;
    bool host;  // pinned host memory, else device memory
};

extern std::atomic<bool> g_initialized;
extern std::recursive_mutex g_mu;  // guards everything below
extern std::unordered_set<Context*> g_contexts;
extern std::unordered_set<Module*> g_modules;
extern std::unordered_set<Function*> g_functions;
extern std::unordered_set<Stream*> g_streams;
extern std::unordered_set<Event*> g_events;
extern std::map<uintptr_t, Allocation> g_allocs;
extern std::map<uintptr_t, size_t> g_module_globals;
extern uint64_t g_device_count, g_device_bytes, g_host_count, g_host_bytes;
extern std::string g_module_override;  // PTX replacing a module with the same entries (tests)
extern bool g_memory_map_stale;        // the launch-time memory map must be rebuilt

extern thread_local std::vector<Context*> t_ctx_stack;

// The object a handle names if it is one of `set` and still live, else null.
template <class T>
T* live(const std::unordered_set<T*>& set, void* handle) {
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    T* p = static_cast<T*>(handle);
    return p != nullptr && set.count(p) != 0 && p->live ? p : nullptr;
}

// The stream object of a handle; null for the legacy (0, CU_STREAM_LEGACY) and per-thread streams.
inline Stream* stream_of(void* s) { return reinterpret_cast<uintptr_t>(s) <= 2 ? nullptr : static_cast<Stream*>(s); }
inline bool legacy(void* s) { return reinterpret_cast<uintptr_t>(s) <= 1; }

Context* current_context();
CUresult fail(CUresult code, const std::string& msg);
CUresult need_init();
CUresult need_context(Context*& out);
void make_sticky(Context* c, CUresult code, const std::string& why);
size_t total_memory();
int sm_count();

// Every entry point that needs a context starts with this: EMU_ENTER, then `c` is the live current
// context, or the call fails (no context, or its sticky error after a kernel failure).
#define EMU_ENTER_CTX(categories)                                                                  \
    EMU_ENTER(categories)                                                                          \
    Context* c;                                                                                    \
    if (CUresult emu_r_ = ::emu::need_context(c)) return emu_r_;

// ---- allocations and copies (driver_core.cpp) ------------------------------------
CUresult allocate(Context* ctx, size_t bytes, bool host, void** out, const char* what);
void release_locked(std::map<uintptr_t, Allocation>::iterator it);
std::vector<MemRange> memory_map();
CUresult release(uintptr_t p, bool host, const char* what);
bool device_range(uintptr_t p, size_t n);
CUresult check_stream(void* s);
// With run == false only the checks are made (for work recorded by a stream capture).
CUresult copy_d_h(void* dst, bool dst_dev, const void* src, bool src_dev, size_t n, const char* what, bool run);
CUresult memset_d32(CUdeviceptr dst, unsigned value, size_t count, const char* what, bool run);

// ---- modules and launches (driver_module.cpp) --------------------------------------
CUresult check_function(Function* f, Context* ctx);
CUresult run_kernel(Context* ctx, const Function& f, const LaunchConfig& cfg, const char* what);

// ---- streams and stream capture (driver_stream.cpp) ------------------------------------
// One piece of stream work: op(ctx, what, true) does it, op(ctx, what, false) makes only its checks.
using StreamOp = std::function<CUresult(Context* ctx, const char* what, bool run)>;
// Runs op on the stream now or, when the stream is capturing, checks it and records it as a graph
// node (fn: the kernel of a launch, checked again when the graph is instantiated and launched).
// A null op (an empty copy or memset) passes the stream's checks and records nothing.
CUresult enqueue(void* stream, Context* ctx, const char* what, Function* fn, StreamOp op);
// "Potentially unsafe" calls (allocations, frees, event queries) that a capture may forbid, under the
// capture modes; with legacy == true also the implicit use of the legacy stream (synchronous copies).
CUresult capture_unsafe(Context* ctx, const char* what, bool legacy);

}  // namespace emu

// The driver's handle types, as the entry points take them.
typedef void* CUcontext;
typedef void* CUmodule;
typedef void* CUfunction;
typedef void* CUstream;
typedef void* CUevent;

#define API EMU_EXPORT

#endif

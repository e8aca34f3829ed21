// State and helpers shared by the translation units of the driver API
// (driver_*.cpp): the object tables, the allocation table and the checks every
// entry point uses. Internal: hidden from the library's exports like the rest
// of namespace emu (-fvisibility=hidden).
#ifndef FUSEDOPT_EMU_DRIVER_INTERNAL_H
#define FUSEDOPT_EMU_DRIVER_INTERNAL_H

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "emu_internal.h"

namespace emu {

// ---- diagnostics (driver_core.cpp) -------------------------------------------------
extern std::mutex g_msg_mu;
extern std::string g_last_error;

// ---- counters (driver_core.cpp) ----------------------------------------------------
extern std::mutex g_counter_mu;
std::vector<Counter*>& counters();
bool category_bits(const char* name, unsigned& bits);

// ---- state (driver_core.cpp) -------------------------------------------------------
struct Context {
    uint64_t id;
    unsigned flags = 0;
    bool primary = false;
    bool alive = true;
    CUresult sticky = OK;
    std::string sticky_reason;
};

// Named in emu_internal.h (Function points back to it).
struct Module {
    void* ctx = nullptr;  // the owning Context
    bool live = true;
    bool from_fatbin = false;
    PtxModule ptx;
    std::vector<Function*> functions;
};

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

extern std::atomic<bool> g_initialized;
extern std::recursive_mutex g_mu;  // guards everything below
extern uint64_t g_next_ctx_id;
extern std::unordered_set<Context*> g_contexts;
extern Context* g_primary;
extern int g_primary_refs;
extern unsigned g_primary_flags;
extern std::unordered_set<Module*> g_modules;
extern std::unordered_set<Function*> g_functions;
extern std::unordered_set<Stream*> g_streams;
extern std::unordered_set<Event*> g_events;
extern std::map<uintptr_t, Allocation> g_allocs;
extern std::map<uintptr_t, size_t> g_module_globals;
extern uint64_t g_device_count, g_device_bytes, g_host_count, g_host_bytes;
extern std::string g_module_override;  // PTX replacing a module with the same entries (tests)
// The launch-time memory map, rebuilt only after allocations, frees or module loads changed it.
extern std::vector<MemRange> g_memory_map;
extern bool g_memory_map_stale;

extern thread_local std::vector<Context*> t_ctx_stack;

Context* current_context();
CUresult fail(CUresult code, const std::string& msg);
CUresult need_init();
CUresult need_context(Context*& out);
bool is_sticky_code(CUresult r);
void make_sticky(Context* c, CUresult code, const std::string& why);
size_t total_memory();
int sm_count();

// ---- allocations and copies (driver_core.cpp) ------------------------------------
CUresult allocate(Context* ctx, size_t bytes, AllocKind kind, unsigned flags, void** out, const char* what);
void release_locked(std::map<uintptr_t, Allocation>::iterator it);
std::vector<MemRange> memory_map();
CUresult release(uintptr_t p, bool host, const char* what);
bool device_range(uintptr_t p, size_t n);
bool inside_device_memory(uintptr_t p);
CUresult range_error(const char* what, const char* side, uintptr_t p, size_t n);
CUresult check_stream(void* s);
CUresult copy_d_h(void* dst, bool dst_dev, const void* src, bool src_dev, size_t n, const char* what);
CUresult memset_n(CUdeviceptr dst, unsigned value, size_t count, size_t width, const char* what);

// ---- contexts (driver_core.cpp) ----------------------------------------------------
void destroy_context_resources_locked(Context* c);
Context* new_context(unsigned flags, bool primary);
bool live_context(Context* c);

// ---- modules and launches (driver_module.cpp) --------------------------------------
CUresult load_module(const char* image, size_t max_len, Module** out, const char* what);
CUresult check_function(Function* f, Context* ctx);
Module* live_module(void* h);
int max_threads_of(const Function* f);
CUresult launch(Function* f, const unsigned grid[3], const unsigned block[3], unsigned shared, void* stream,
                void** params, void** extra, const char* what);

}  // namespace emu

// The driver's handle types, as the entry points take them.
typedef void* CUcontext;
typedef void* CUmodule;
typedef void* CUfunction;
typedef void* CUstream;
typedef void* CUevent;

#define API EMU_EXPORT

#endif

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

struct Capture;  // a stream capture sequence (driver_graph.cpp)

struct Stream {
    Context* ctx;
    unsigned flags;
    int priority;
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
// With run == false only the checks are made (for work recorded by a stream capture).
CUresult copy_d_h(void* dst, bool dst_dev, const void* src, bool src_dev, size_t n, const char* what,
                  bool run = true);
CUresult memset_n(CUdeviceptr dst, unsigned value, size_t count, size_t width, const char* what, bool run = true);

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
CUresult run_kernel(Context* ctx, const Function& f, const LaunchConfig& cfg, const char* what);

// ---- stream capture (driver_graph.cpp) ------------------------------------------------
// Work on a capturing stream is recorded, not executed. These route stream work (the copies, memsets
// and launches call them after their own argument checks), and refuse what capture forbids.
CUresult stream_copy(void* stream, void* dst, bool dst_dev, const void* src, bool src_dev, size_t n,
                     const char* what);
CUresult stream_memset(void* stream, CUdeviceptr dst, unsigned value, size_t count, size_t width, const char* what);
// cap is set when the launch is to be recorded (then call record_kernel), null when it runs now.
CUresult capture_of(void* stream, Context* ctx, const char* what, Capture*& cap);
void record_kernel(void* stream, Function* f, const LaunchConfig& cfg);
// Calls a capture may forbid: "potentially unsafe" ones (allocations, frees, synchronous copies and
// memsets, event queries) under the capture modes, and the implicit use of the legacy stream.
CUresult capture_unsafe(const char* what);
CUresult capture_legacy(Context* ctx, const char* what);
// Synchronising a capturing stream, context or captured event.
CUresult capture_sync_stream(void* stream, const char* what);
CUresult capture_sync_context(Context* ctx, const char* what);
CUresult capture_sync_event(Event* ev, const char* what);
CUresult capture_record_event(Event* ev, void* stream, const char* what);
CUresult capture_wait_event(void* stream, Event* ev, const char* what);
void capture_stream_destroyed(Stream* s);

}  // namespace emu

// The driver's handle types, as the entry points take them.
typedef void* CUcontext;
typedef void* CUmodule;
typedef void* CUfunction;
typedef void* CUstream;
typedef void* CUevent;

#define API EMU_EXPORT

#endif

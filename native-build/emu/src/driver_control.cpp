// The fusedopt CPU stand-in for libcuda.so.1: call counters, fault injection, error names, and the
// control API (fusedopt_emu_*) that tests and the library stand-ins use.
#include <climits>
#include <cstdio>
#include <cstring>

#include "driver_internal.h"

namespace emu {
namespace {

// ---- counters ---------------------------------------------------------------
std::mutex g_counter_mu;

// Never destroyed: entry points may still be called while the process exits.
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

// Kernel-error codes (700, 702, 710, 714-719): the context cannot be used after them.
bool is_sticky_code(CUresult r) { return r == E_ILLEGAL_ADDRESS || r == E_LAUNCH_TIMEOUT || r == E_ASSERT || (r >= 714 && r <= 719); }

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

Counter* register_counter(const char* name, unsigned categories) {
    std::lock_guard<std::mutex> lock(g_counter_mu);
    for (Counter* c : counters()) {
        if (std::strcmp(c->name, name) == 0) return c;
    }
    Counter* c = new Counter{name, categories};
    counters().push_back(c);
    return c;
}

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
            if (live(g_contexts, c) != nullptr) make_sticky(c, fired, msg);
        }
    }
    return fired;
}

}  // namespace emu

using namespace emu;

// ================================ miscellaneous ================================

// The codes the stand-in returns (emu_internal.h); for any other code cuGetErrorName fails with
// CUDA_ERROR_INVALID_VALUE, as the driver does for codes it does not know.
namespace {
struct ErrorName {
    CUresult code;
    const char* name;
};
const ErrorName kErrors[] = {
    {0, "CUDA_SUCCESS"},
    {1, "CUDA_ERROR_INVALID_VALUE"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY"},
    {3, "CUDA_ERROR_NOT_INITIALIZED"},
    {101, "CUDA_ERROR_INVALID_DEVICE"},
    {200, "CUDA_ERROR_INVALID_IMAGE"},
    {201, "CUDA_ERROR_INVALID_CONTEXT"},
    {218, "CUDA_ERROR_INVALID_PTX"},
    {400, "CUDA_ERROR_INVALID_HANDLE"},
    {401, "CUDA_ERROR_ILLEGAL_STATE"},
    {500, "CUDA_ERROR_NOT_FOUND"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"},
    {702, "CUDA_ERROR_LAUNCH_TIMEOUT"},
    {710, "CUDA_ERROR_ASSERT"},
    {714, "CUDA_ERROR_HARDWARE_STACK_ERROR"},
    {715, "CUDA_ERROR_ILLEGAL_INSTRUCTION"},
    {716, "CUDA_ERROR_MISALIGNED_ADDRESS"},
    {717, "CUDA_ERROR_INVALID_ADDRESS_SPACE"},
    {718, "CUDA_ERROR_INVALID_PC"},
    {719, "CUDA_ERROR_LAUNCH_FAILED"},
    {801, "CUDA_ERROR_NOT_SUPPORTED"},
    {900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"},
    {901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"},
    {902, "CUDA_ERROR_STREAM_CAPTURE_MERGE"},
    {903, "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED"},
    {904, "CUDA_ERROR_STREAM_CAPTURE_UNJOINED"},
    {905, "CUDA_ERROR_STREAM_CAPTURE_ISOLATION"},
    {906, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT"},
    {907, "CUDA_ERROR_CAPTURED_EVENT"},
    {908, "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD"},
    {999, "CUDA_ERROR_UNKNOWN"},
};
}  // namespace

API CUresult cuGetErrorName(CUresult code, const char** name) {
    EMU_ENTER(CAT_NO_FAULT)
    if (name == nullptr) return E_INVALID_VALUE;
    *name = nullptr;
    for (const ErrorName& e : kErrors)
        if (e.code == code) *name = e.name;
    return *name != nullptr ? OK : E_INVALID_VALUE;
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

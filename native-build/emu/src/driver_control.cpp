// The fusedopt CPU stand-in for libcuda.so.1: fault injection, error names and texts, and the
// control API (fusedopt_emu_*) that tests and the library stand-ins use.
#include <climits>
#include <cstdio>
#include <cstring>

#include "driver_internal.h"

namespace emu {
namespace {

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

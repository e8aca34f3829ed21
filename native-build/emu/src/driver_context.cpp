// The driver API of the fusedopt CPU stand-in for libcuda.so.1: initialisation, the one
// emulated device and its attributes, contexts and the primary context.
#include <cstring>

#include "driver_internal.h"

namespace emu {
namespace {
const char* const kDeviceName = "fusedopt CPU stand-in (emulated sm_90)";
}  // namespace
}  // namespace emu

using namespace emu;

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
    if (CUresult r = need_context(c)) return r;
    return capture_sync_context(c, "cuCtxSynchronize");
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

// The driver API of the fusedopt CPU stand-in for libcuda.so.1: initialisation, the one
// emulated device and its attributes, contexts and the primary context.
#include <cstring>

#include "driver_internal.h"

using namespace emu;

namespace {
const char* const kDeviceName = "fusedopt CPU stand-in (emulated sm_90)";
Context* g_primary = nullptr;
int g_primary_refs = 0;

Context* new_context(bool primary) {
    Context* c = new Context();
    c->primary = primary;
    g_contexts.insert(c);
    return c;
}

// Frees what the context owns and kills its modules, streams and events.
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

CUresult check_device(CUdevice dev) {
    if (CUresult r = need_init()) return r;
    if (dev != 0) return fail(E_INVALID_DEVICE, "the stand-in has exactly one device, ordinal 0");
    return OK;
}

void reset_primary_locked() {
    destroy_context_resources_locked(g_primary);
    g_primary->sticky = OK;
    g_primary->sticky_reason.clear();
}
}  // namespace

// Entry points that need cuInit first, and those that also take the device ordinal.
#define EMU_ENTER_INIT()                                                                           \
    EMU_ENTER(CAT_NONE)                                                                            \
    if (CUresult emu_r_ = need_init()) return emu_r_;
#define EMU_ENTER_DEVICE(dev)                                                                      \
    EMU_ENTER(CAT_NONE)                                                                            \
    if (CUresult emu_r_ = check_device(dev)) return emu_r_;

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

API CUresult cuDeviceGetCount(int* count) {
    EMU_ENTER_INIT()
    if (count == nullptr) return fail(E_INVALID_VALUE, "cuDeviceGetCount: null pointer");
    *count = 1;
    return OK;
}

API CUresult cuDeviceGet(CUdevice* device, int ordinal) {
    EMU_ENTER_INIT()
    if (device == nullptr) return fail(E_INVALID_VALUE, "cuDeviceGet: null pointer");
    if (ordinal != 0) return fail(E_INVALID_DEVICE, "the stand-in has exactly one device, ordinal 0");
    *device = 0;
    return OK;
}

API CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
    EMU_ENTER_DEVICE(dev)
    if (name == nullptr || len <= 0) return fail(E_INVALID_VALUE, "cuDeviceGetName: bad buffer");
    std::snprintf(name, static_cast<size_t>(len), "%s", kDeviceName);
    return OK;
}

API CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
    EMU_ENTER_DEVICE(dev)
    if (bytes == nullptr) return fail(E_INVALID_VALUE, "cuDeviceTotalMem: null pointer");
    *bytes = total_memory();
    return OK;
}

API CUresult cuDeviceComputeCapability(int* major, int* minor, CUdevice dev) {
    EMU_ENTER_DEVICE(dev)
    if (major == nullptr || minor == nullptr) return fail(E_INVALID_VALUE, "cuDeviceComputeCapability: null pointer");
    *major = 9;
    *minor = 0;
    return OK;
}

// The attributes that describe the emulated device's limits (the ones launches are checked
// against); every other attribute up to 147 reads 0.
static bool device_attribute(int attrib, int& v) {
    switch (attrib) {
        case 1: v = static_cast<int>(kMaxThreadsPerBlock); return true;  // max threads per block
        case 2: case 3: v = 1024; return true;                            // max block dim x, y
        case 4: v = 64; return true;                                      // max block dim z
        case 5: v = 2147483647; return true;                              // max grid dim x
        case 6: case 7: v = 65535; return true;                           // max grid dim y, z
        case 8: v = static_cast<int>(kSharedPerBlock); return true;       // shared memory per block
        case 10: v = static_cast<int>(kWarpSize); return true;
        case 16: v = sm_count(); return true;                             // multiprocessors
        case 75: v = 9; return true;                                      // compute capability 9.0
        case 97: v = static_cast<int>(kSharedPerBlockOptin); return true;
        default: v = 0; return attrib > 0 && attrib <= 147;
    }
}

API CUresult cuDeviceGetAttribute(int* value, int attrib, CUdevice dev) {
    EMU_ENTER_DEVICE(dev)
    if (value == nullptr) return fail(E_INVALID_VALUE, "cuDeviceGetAttribute: null pointer");
    int v;
    if (!device_attribute(attrib, v)) return fail(E_INVALID_VALUE, "unknown device attribute " + std::to_string(attrib));
    *value = v;
    return OK;
}

// ================================= contexts ==================================

API CUresult cuCtxCreate_v2(CUcontext* pctx, unsigned int flags, CUdevice dev) {
    EMU_ENTER_DEVICE(dev)
    if (pctx == nullptr) return fail(E_INVALID_VALUE, "cuCtxCreate: null pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Context* c = new_context(false);
    t_ctx_stack.push_back(c);
    *pctx = c;
    return OK;
}

API CUresult cuCtxDestroy_v2(CUcontext ctx) {
    EMU_ENTER_INIT()
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Context* c = live(g_contexts, ctx);
    if (c == nullptr) return fail(E_INVALID_CONTEXT, "cuCtxDestroy: invalid context");
    if (c->primary) return fail(E_INVALID_CONTEXT, "cuCtxDestroy: use cuDevicePrimaryCtxRelease for the primary context");
    destroy_context_resources_locked(c);
    c->live = false;
    for (auto it = t_ctx_stack.begin(); it != t_ctx_stack.end();) it = (*it == c) ? t_ctx_stack.erase(it) : it + 1;
    return OK;
}

API CUresult cuCtxPushCurrent_v2(CUcontext ctx) {
    EMU_ENTER_INIT()
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Context* c = live(g_contexts, ctx);
    if (c == nullptr) return fail(E_INVALID_CONTEXT, "cuCtxPushCurrent: invalid context");
    t_ctx_stack.push_back(c);
    return OK;
}

API CUresult cuCtxPopCurrent_v2(CUcontext* pctx) {
    EMU_ENTER_INIT()
    if (t_ctx_stack.empty()) return fail(E_INVALID_CONTEXT, "cuCtxPopCurrent: no current context");
    if (pctx != nullptr) *pctx = t_ctx_stack.back();
    t_ctx_stack.pop_back();
    return OK;
}

API CUresult cuCtxSetCurrent(CUcontext ctx) {
    EMU_ENTER_INIT()
    if (ctx == nullptr) {
        if (!t_ctx_stack.empty()) t_ctx_stack.pop_back();
        return OK;
    }
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    Context* c = live(g_contexts, ctx);
    if (c == nullptr) return fail(E_INVALID_CONTEXT, "cuCtxSetCurrent: invalid context");
    if (t_ctx_stack.empty())
        t_ctx_stack.push_back(c);
    else
        t_ctx_stack.back() = c;
    return OK;
}

API CUresult cuCtxGetCurrent(CUcontext* pctx) {
    EMU_ENTER_INIT()
    if (pctx == nullptr) return fail(E_INVALID_VALUE, "cuCtxGetCurrent: null pointer");
    *pctx = current_context();
    return OK;
}

API CUresult cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev) {
    EMU_ENTER_DEVICE(dev)
    if (pctx == nullptr) return fail(E_INVALID_VALUE, "cuDevicePrimaryCtxRetain: null pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (g_primary == nullptr) g_primary = new_context(true);
    g_primary->live = true;
    g_primary_refs++;
    *pctx = g_primary;
    return OK;
}

API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
    EMU_ENTER_DEVICE(dev)
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    if (g_primary == nullptr || g_primary_refs == 0)
        return fail(E_INVALID_CONTEXT, "cuDevicePrimaryCtxRelease: primary context is not retained");
    if (--g_primary_refs == 0) {
        // The handle stays valid for a later retain, as on the device.
        reset_primary_locked();
        g_primary->live = false;
    }
    return OK;
}

API CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int* flags, int* active) {
    EMU_ENTER_DEVICE(dev)
    if (flags == nullptr || active == nullptr) return fail(E_INVALID_VALUE, "cuDevicePrimaryCtxGetState: null pointer");
    std::lock_guard<std::recursive_mutex> lock(g_mu);
    *flags = 0;  // cuDevicePrimaryCtxSetFlags is not implemented
    *active = g_primary_refs > 0;
    return OK;
}
